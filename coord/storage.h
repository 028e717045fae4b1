/* storage: the one RocksDB database of a member, opened with its column families.
 *
 * Contract: storage_open creates the directory and every column family on first use and
 * reopens them after that. The handle owns the database, the column-family handles and the
 * shared read/write options; storage_close releases all of them (handles before the DB, as
 * RocksDB's assertions require). Writes go through rocksdb_write with storage->sync_wo
 * (fsync before return: Raft log, hard state) or storage->nosync_wo (state written after the
 * log that can be replayed from it).
 */
#ifndef COORD_STORAGE_H
#define COORD_STORAGE_H

#include <rocksdb/c.h>
#include <stddef.h>
#include <stdint.h>

enum storage_cf {
    STORAGE_CF_DEFAULT = 0, /* unused, RocksDB requires it */
    STORAGE_CF_RAFTLOG,     /* be64 index -> log entry */
    STORAGE_CF_RAFTMETA,    /* hard state, membership, snapshot metadata, ids; the keys of
                               the state machine here travel in snapshots (snapshot_store.c) */
    STORAGE_CF_KV,          /* MVCC key space (see mvcc.h for the layout) */
    STORAGE_CF_CHANGES,     /* be64 revision ‖ be32 sub -> key touched */
    STORAGE_CF_META,        /* state machine: applied index, current and compacted revision */
    STORAGE_CF_LEASE,       /* be64 lease id -> lease record */
    STORAGE_CF_COUNT
};

typedef struct storage {
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf[STORAGE_CF_COUNT];
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table_options;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *sync_wo;   /* sync=1 */
    rocksdb_writeoptions_t *nosync_wo; /* sync=0 */
    rocksdb_readoptions_t *ro;         /* plain reads of the latest state */
    char *dir;
} storage;

/* Opens (creating if needed) the database in dir. On failure returns -1 and, if errmsg is not
 * NULL, sets *errmsg to a malloc'd message the caller frees. */
int storage_open(const char *dir, storage **out, char **errmsg);
/* Opens the database in dir read-only (a checkpoint): nothing in dir is written; a WAL it holds
 * is replayed in memory. Used like a handle from storage_open, writes excepted. */
int storage_open_read_only(const char *dir, storage **out, char **errmsg);
void storage_close(storage *st);

/* Bytes on disk of the live database files (SSTs + WAL), for Maintenance.Status dbSize. */
int64_t storage_disk_bytes(storage *st);

/* Reads a little-endian-agnostic u64 stored big-endian under key in cf; *found says whether it
 * existed. Returns 0 or -1 on a RocksDB error. */
int storage_get_u64(storage *st, enum storage_cf cf, const char *key, uint64_t *val, int *found);
void storage_batch_put_u64(rocksdb_writebatch_t *b, storage *st, enum storage_cf cf,
                           const char *key, uint64_t val);

static inline void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static inline uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

#endif
