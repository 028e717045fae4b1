/* bench_ls: listing the children of a directory with a million descendants.
 *
 * Loads N descendants spread over C children of /bench/ (through the MVCC write path, in
 * transactions of 10,000 puts), flushes, waits for RocksDB's compactions to settle, then times
 *   - mvcc_txn_list_children("/bench/") (seeks counted by the store and by RocksDB's perf
 *     context),
 *   - the same after deleting the first D descendants of one child (tombstones it must step
 *     over), and after compacting them away,
 *   - against the alternatives: a keys-only MVCC range over the prefix, and a raw RocksDB scan
 *     of the prefix.
 * Usage: bench_ls [--keys N] [--children C] [--reps R] [--deleted D] [--dir DIR]
 * Without --dir it works in a temp directory and removes it afterwards.
 */
#include "mvcc.h"
#include "storage.h"

#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    long keys, children, reps, deleted;
    const char *dir;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_ls: %s failed (%d)\n", what, rc);
    exit(1);
}

static int load(mvcc *m, const struct opts *o)
{
    const long per_txn = 10000;
    char key[64], value[32];
    memset(value, 'v', sizeof(value));
    long done = 0;
    double t0 = now_s();
    while (done < o->keys) {
        mvcc_txn *t;
        int rc = mvcc_write_begin(m, &t);
        if (rc != 0) return rc;
        for (long i = 0; i < per_txn && done < o->keys; i++, done++) {
            /* child-major order, like a tree filled one directory at a time */
            long child = done % o->children, n = done / o->children;
            int len = snprintf(key, sizeof(key), "/bench/c%02ld/item/%08ld", child, n);
            rc = mvcc_txn_put(t, (const uint8_t *)key, (size_t)len, (const uint8_t *)value,
                              sizeof(value), 0, NULL, NULL);
            if (rc != 0) return rc;
        }
        int64_t rev;
        rc = mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, &rev);
        mvcc_txn_end(t);
        if (rc != 0) return rc;
    }
    double dt = now_s() - t0;
    printf("load: %ld keys in %.1f s (%.0f puts/s through mvcc, txns of %ld)\n", o->keys, dt,
           (double)o->keys / dt, per_txn);
    return 0;
}

/* Flush and wait (polling, with a deadline) until no compaction is pending or running, so the
 * timings measure reads, not background work on 2 cores. */
static void settle(storage *st)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *err = NULL;
    rocksdb_flush_cf(st->db, fo, st->cf[STORAGE_CF_KV], &err);
    if (err) {
        fprintf(stderr, "flush: %s\n", err);
        rocksdb_free(err);
    }
    rocksdb_flushoptions_destroy(fo);
    double deadline = now_s() + 300;
    for (;;) {
        uint64_t pending = 0, running = 0;
        rocksdb_property_int(st->db, "rocksdb.compaction-pending", &pending);
        rocksdb_property_int(st->db, "rocksdb.num-running-compactions", &running);
        if ((pending == 0 && running == 0) || now_s() > deadline) break;
        usleep(100 * 1000);
    }
}

struct count_arg {
    long children, keys;
};

static int count_child(void *arg, const uint8_t *child, size_t n, bool is_key, bool has_children)
{
    (void)child, (void)n, (void)is_key, (void)has_children;
    ((struct count_arg *)arg)->children++;
    return 0;
}

static int count_kv(void *arg, const mvcc_kv *kv)
{
    (void)kv;
    ((struct count_arg *)arg)->keys++;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void time_listing(mvcc *m, const struct opts *o, const char *label)
{
    rocksdb_set_perf_level(rocksdb_enable_count);
    rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
    double *lat = malloc(sizeof(double) * (size_t)o->reps);
    if (!lat) die("malloc", -1);
    uint64_t seeks = 0;
    long children = 0;
    uint64_t child_seeks = 0, skipped = 0, del_skipped = 0, blocks = 0;
    for (long r = 0; r < o->reps; r++) {
        mvcc_txn *t;
        int rc = mvcc_read_begin(m, &t);
        if (rc != 0) die("read_begin", rc);
        rocksdb_perfcontext_reset(pc);
        struct count_arg ca = {0};
        double t0 = now_s();
        rc = mvcc_txn_list_children(t, (const uint8_t *)"/bench/", 7, NULL, 0, 0, 0, count_child,
                                    &ca, &seeks);
        lat[r] = now_s() - t0;
        if (rc != 0) die("list_children", rc);
        child_seeks = rocksdb_perfcontext_metric(pc, rocksdb_seek_child_seek_count);
        skipped = rocksdb_perfcontext_metric(pc, rocksdb_internal_key_skipped_count);
        del_skipped = rocksdb_perfcontext_metric(pc, rocksdb_internal_delete_skipped_count);
        blocks = rocksdb_perfcontext_metric(pc, rocksdb_block_read_count);
        children = ca.children;
        mvcc_txn_end(t);
    }
    rocksdb_set_perf_level(rocksdb_disable);
    rocksdb_perfcontext_destroy(pc);
    qsort(lat, (size_t)o->reps, sizeof(double), cmp_double);
    double sum = 0;
    for (long r = 0; r < o->reps; r++) sum += lat[r];
    printf("ls %-28s %ld children: mean %.1f us, p50 %.1f us, p99 %.1f us; %llu seeks "
           "(RocksDB: %llu child-iterator seeks, %llu keys and %llu deletes skipped, %llu block "
           "reads)\n",
           label, children, sum / (double)o->reps * 1e6, lat[o->reps / 2] * 1e6,
           lat[(long)((double)o->reps * 0.99)] * 1e6, (unsigned long long)seeks,
           (unsigned long long)child_seeks, (unsigned long long)skipped,
           (unsigned long long)del_skipped, (unsigned long long)blocks);
    free(lat);
}

static void time_scans(mvcc *m, storage *st)
{
    /* keys-only MVCC range over the prefix: what a client doing `get --prefix --keys-only`
     * and grouping by component would make the server do */
    mvcc_txn *t;
    int rc = mvcc_read_begin(m, &t);
    if (rc != 0) die("read_begin", rc);
    struct count_arg ca = {0};
    double t0 = now_s();
    rc = mvcc_txn_range(t, (const uint8_t *)"/bench/", 7, (const uint8_t *)"/bench0", 7, 0,
                        count_kv, &ca);
    double dt = now_s() - t0;
    if (rc != 0) die("range", rc);
    mvcc_txn_end(t);
    printf("mvcc range over the prefix: %ld keys in %.1f ms\n", ca.keys, dt * 1e3);

    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, "/bench0", 7);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[STORAGE_CF_KV]);
    long n = 0;
    t0 = now_s();
    for (rocksdb_iter_seek(it, "/bench/", 7); rocksdb_iter_valid(it); rocksdb_iter_next(it)) n++;
    dt = now_s() - t0;
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    printf("raw RocksDB prefix scan:     %ld entries in %.1f ms\n", n, dt * 1e3);
}

static int delete_first(mvcc *m, const struct opts *o, int64_t *rev)
{
    /* the first D descendants of child c03, in one txn */
    char end[64];
    snprintf(end, sizeof(end), "/bench/c03/item/%08ld", o->deleted);
    mvcc_txn *t;
    int rc = mvcc_write_begin(m, &t);
    if (rc != 0) return rc;
    int64_t deleted = 0;
    rc = mvcc_txn_delete_range(t, (const uint8_t *)"/bench/c03/", 11, (const uint8_t *)end,
                               strlen(end), NULL, NULL, &deleted);
    if (rc == 0) rc = mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, rev);
    mvcc_txn_end(t);
    printf("deleted the first %lld descendants of /bench/c03/\n", (long long)deleted);
    return rc;
}

static int compact_all(mvcc *m, int64_t rev)
{
    mvcc_txn *t;
    int rc = mvcc_write_begin(m, &t);
    if (rc != 0) return rc;
    rc = mvcc_txn_compact(t, rev);
    int64_t after;
    if (rc == 0) rc = mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, &after);
    mvcc_txn_end(t);
    if (rc != 0) return rc;
    double t0 = now_s();
    rc = mvcc_compact_physical(m, rev);
    printf("compaction at %lld: %.1f ms\n", (long long)rev, (now_s() - t0) * 1e3);
    return rc;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    struct opts o = {.keys = 1000000, .children = 10, .reps = 1000, .deleted = 10000};
    static const struct option longopts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"children", required_argument, NULL, 'c'},
        {"reps", required_argument, NULL, 'r'},
        {"deleted", required_argument, NULL, 'd'},
        {"dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            o.keys = atol(optarg);
            break;
        case 'c':
            o.children = atol(optarg);
            break;
        case 'r':
            o.reps = atol(optarg);
            break;
        case 'd':
            o.deleted = atol(optarg);
            break;
        case 'D':
            o.dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_ls [--keys N] [--children C] [--reps R] [--deleted D] "
                            "[--dir DIR]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (o.keys < 1 || o.children < 1 || o.children > 99 || o.reps < 1 || o.deleted < 0) {
        fprintf(stderr, "bench_ls: bad arguments\n");
        return 2;
    }
    char tmp[] = "/tmp/bench-ls-XXXXXX";
    const char *dir = o.dir;
    if (!dir) {
        if (!mkdtemp(tmp)) die("mkdtemp", -1);
        dir = tmp;
    }
    storage *st;
    char *err = NULL;
    if (storage_open(dir, &st, &err) != 0) {
        fprintf(stderr, "bench_ls: %s\n", err ? err : "storage_open failed");
        return 1;
    }
    mvcc *m;
    int rc = mvcc_open(st, &m);
    if (rc != 0) die("mvcc_open", rc);

    if (mvcc_current_rev(m) == 1) {
        rc = load(m, &o);
        if (rc != 0) die("load", rc);
    }
    settle(st);
    time_listing(m, &o, "(fresh)");
    time_scans(m, st);

    if (o.deleted > 0) {
        int64_t rev;
        rc = delete_first(m, &o, &rev);
        if (rc != 0) die("delete", rc);
        time_listing(m, &o, "(deleted, uncompacted)");
        rc = compact_all(m, rev);
        if (rc != 0) die("compact", rc);
        settle(st);
        time_listing(m, &o, "(after compaction)");
    }

    mvcc_close(m);
    storage_close(st);
    if (!o.dir) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
