/* storage: one RocksDB database per member with the column families of storage.h.
 *
 * Options are the "small" set measured in ROCKSDB-NOTES.md: one 8 MiB LRU block cache shared
 * by every column family (one options object, so one table factory), index and filter blocks
 * charged to that cache, 10-bit bloom filters, 4 MiB write buffers (two per CF) under a 16 MiB
 * total, and a 32 MiB WAL cap so a restart replays little. At 1M keys this kept the writer near
 * 40 MiB RSS with reads as fast as with a 4x larger cache.
 */
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const cf_names[STORAGE_CF_COUNT] = {
    [STORAGE_CF_DEFAULT] = "default",   [STORAGE_CF_RAFTLOG] = "raftlog",
    [STORAGE_CF_RAFTMETA] = "raftmeta", [STORAGE_CF_KV] = "kv",
    [STORAGE_CF_CHANGES] = "changes",   [STORAGE_CF_META] = "meta",
    [STORAGE_CF_LEASE] = "lease",
};

enum {
    BLOCK_CACHE_BYTES = 8 << 20,
    WRITE_BUFFER_BYTES = 4 << 20,
    DB_WRITE_BUFFER_BYTES = 16 << 20,
    MAX_TOTAL_WAL_BYTES = 32 << 20,
    MAX_OPEN_FILES = 256,
    BACKGROUND_JOBS = 2,
    BLOOM_BITS_PER_KEY = 10,
    METADATA_BLOCK_BYTES = 4096,
    /* Compact-on-deletion: a file whose 128-entry window holds 64 deletes is compacted soon,
     * so seeks stop crawling through the point tombstones MVCC compaction leaves. */
    DELETION_WINDOW = 128,
    DELETION_TRIGGER = 64,
};

static void set_errmsg(char **errmsg, const char *what, const char *detail)
{
    if (!errmsg) return;
    char *msg = NULL;
    if (asprintf(&msg, "%s: %s", what, detail ? detail : "") < 0) msg = NULL;
    *errmsg = msg;
}

static int mkdir_p(const char *dir)
{
    char *path = strdup(dir);
    if (!path) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) goto fail_free_path;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) goto fail_free_path;
    free(path);
    return 0;
fail_free_path:
    free(path);
    return -1;
}

static void free_options(storage *st)
{
    if (st->ro) rocksdb_readoptions_destroy(st->ro);
    if (st->nosync_wo) rocksdb_writeoptions_destroy(st->nosync_wo);
    if (st->sync_wo) rocksdb_writeoptions_destroy(st->sync_wo);
    if (st->options) rocksdb_options_destroy(st->options);
    if (st->table_options) rocksdb_block_based_options_destroy(st->table_options);
    if (st->cache) rocksdb_cache_destroy(st->cache);
}

static void make_options(storage *st)
{
    st->cache = rocksdb_cache_create_lru(BLOCK_CACHE_BYTES);
    st->table_options = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(st->table_options, st->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(st->table_options, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(st->table_options, 1);
    rocksdb_block_based_options_set_filter_policy(
        st->table_options, rocksdb_filterpolicy_create_bloom(BLOOM_BITS_PER_KEY));
    /* Partitioned index and filters: a whole-file index block of a large SST (225 KiB at 1M
     * keys) does not stay in one 512 KiB shard of the 8 MiB cache, so every new iterator read
     * and decompressed it again (about 250 us per listing). Partitions are metadata-block
     * sized and cache like data blocks; only the small top level is pinned. */
    rocksdb_block_based_options_set_index_type(
        st->table_options, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(st->table_options, 1);
    rocksdb_block_based_options_set_metadata_block_size(st->table_options, METADATA_BLOCK_BYTES);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(st->table_options, 1);

    st->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->options, 1);
    rocksdb_options_set_create_missing_column_families(st->options, 1);
    rocksdb_options_set_block_based_table_factory(st->options, st->table_options);
    rocksdb_options_set_write_buffer_size(st->options, WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_write_buffer_number(st->options, 2);
    rocksdb_options_set_db_write_buffer_size(st->options, DB_WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_total_wal_size(st->options, MAX_TOTAL_WAL_BYTES);
    rocksdb_options_set_max_open_files(st->options, MAX_OPEN_FILES);
    rocksdb_options_set_max_background_jobs(st->options, BACKGROUND_JOBS);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(st->options, 1);
    rocksdb_options_add_compact_on_deletion_collector_factory(st->options, DELETION_WINDOW,
                                                              DELETION_TRIGGER);

    st->sync_wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->sync_wo, 1);
    st->nosync_wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->nosync_wo, 0);
    st->ro = rocksdb_readoptions_create();
}

static int open_db(const char *dir, bool read_only, storage **out, char **errmsg)
{
    if (errmsg) *errmsg = NULL;
    storage *st = calloc(1, sizeof(*st));
    if (!st) {
        set_errmsg(errmsg, "storage_open", "out of memory");
        return -1;
    }
    st->dir = strdup(dir);
    if (!st->dir) {
        set_errmsg(errmsg, "storage_open", "out of memory");
        goto fail_free_st;
    }
    if (!read_only && mkdir_p(dir) != 0) {
        set_errmsg(errmsg, dir, strerror(errno));
        goto fail_free_dir;
    }
    make_options(st);

    const rocksdb_options_t *cf_opts[STORAGE_CF_COUNT];
    for (int i = 0; i < STORAGE_CF_COUNT; i++) cf_opts[i] = st->options;
    char *err = NULL;
    if (read_only)
        st->db = rocksdb_open_for_read_only_column_families(st->options, dir, STORAGE_CF_COUNT,
                                                            cf_names, cf_opts, st->cf, 0, &err);
    else
        st->db = rocksdb_open_column_families(st->options, dir, STORAGE_CF_COUNT, cf_names, cf_opts,
                                              st->cf, &err);
    if (err) {
        set_errmsg(errmsg, dir, err);
        rocksdb_free(err);
        goto fail_free_options;
    }
    *out = st;
    return 0;

fail_free_options:
    free_options(st);
fail_free_dir:
    free(st->dir);
fail_free_st:
    free(st);
    return -1;
}

int storage_open(const char *dir, storage **out, char **errmsg)
{
    return open_db(dir, false, out, errmsg);
}

int storage_open_read_only(const char *dir, storage **out, char **errmsg)
{
    return open_db(dir, true, out, errmsg);
}

void storage_close(storage *st)
{
    if (!st) return;
    /* Debian's RocksDB asserts that no column-family handle outlives the DB. */
    for (int i = 0; i < STORAGE_CF_COUNT; i++)
        if (st->cf[i]) rocksdb_column_family_handle_destroy(st->cf[i]);
    rocksdb_close(st->db);
    free_options(st);
    free(st->dir);
    free(st);
}

static int64_t wal_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".log") != 0) continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, 0) == 0) total += sb.st_size;
    }
    closedir(d);
    return total;
}

int64_t storage_disk_bytes(storage *st)
{
    int64_t total = 0;
    for (int i = 0; i < STORAGE_CF_COUNT; i++) {
        uint64_t v = 0;
        if (rocksdb_property_int_cf(st->db, st->cf[i], "rocksdb.total-sst-files-size", &v) == 0)
            total += (int64_t)v;
    }
    return total + wal_bytes(st->dir);
}

int storage_get_u64(storage *st, enum storage_cf cf, const char *key, uint64_t *val, int *found)
{
    char *err = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(st->db, st->ro, st->cf[cf], key, strlen(key), &len, &err);
    if (err) {
        rocksdb_free(err);
        return -1;
    }
    *found = v != NULL;
    if (!v) {
        *val = 0;
        return 0;
    }
    int rc = 0;
    if (len == 8)
        *val = be64_get((const uint8_t *)v);
    else
        rc = -1; /* not one of ours: refuse rather than guess */
    rocksdb_free(v);
    return rc;
}

void storage_batch_put_u64(rocksdb_writebatch_t *b, storage *st, enum storage_cf cf,
                           const char *key, uint64_t val)
{
    uint8_t buf[8];
    be64_put(buf, val);
    rocksdb_writebatch_put_cf(b, st->cf[cf], key, strlen(key), (const char *)buf, sizeof(buf));
}
