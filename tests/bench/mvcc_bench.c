/* bench_mvcc: throughput and latency of the raw MVCC store (no server, no fsync).
 *
 * put/1:   one put per write txn, committed (one unsynced RocksDB write each)
 * put/100: one hundred puts per write txn
 * get:     a read txn and a single-key range per op, random keys
 * range:   a read txn and a 100-key range per op
 * Usage: bench_mvcc [--keys N] [--value-bytes B] [--dir DIR]
 */
#include "mvcc.h"
#include "storage.h"

#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(int rc, const char *what)
{
    if (rc == 0) return;
    fprintf(stderr, "bench_mvcc: %s failed (%d)\n", what, rc);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *label, double *lat, long n, long ops_per_sample, double total)
{
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    printf("%-8s %9.0f ops/s   p50 %7.1f us   p99 %7.1f us   (per %s)\n", label,
           (double)(n * ops_per_sample) / total, lat[n / 2] * 1e6,
           lat[(long)((double)n * 0.99)] * 1e6, ops_per_sample > 1 ? "txn" : "op");
}

static int key_of(char *buf, size_t cap, long i)
{
    /* spread the keys so consecutive puts do not land next to each other */
    unsigned long h = (unsigned long)i * 2654435761UL % 1000000007UL;
    return snprintf(buf, cap, "/bench/key/%010lu", h);
}

static int count_kv(void *arg, const mvcc_kv *kv)
{
    (void)kv;
    (*(long *)arg)++;
    return 0;
}

/* stops the range after 100 keys, as a limit of 100 would */
static int count_100(void *arg, const mvcc_kv *kv)
{
    (void)kv;
    return ++*(long *)arg >= 100 ? 1 : 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    long keys = 100000, value_bytes = 256;
    const char *dir = NULL;
    static const struct option longopts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"value-bytes", required_argument, NULL, 'v'},
        {"dir", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            keys = atol(optarg);
            break;
        case 'v':
            value_bytes = atol(optarg);
            break;
        case 'D':
            dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_mvcc [--keys N] [--value-bytes B] [--dir DIR]\n");
            return 2;
        }
    }
    if (keys < 100 || value_bytes < 0) {
        fprintf(stderr, "bench_mvcc: bad arguments\n");
        return 2;
    }
    char tmp[] = "/tmp/bench-mvcc-XXXXXX";
    if (!dir) {
        if (!mkdtemp(tmp)) check(-1, "mkdtemp");
        dir = tmp;
    }
    storage *st;
    char *err = NULL;
    if (storage_open(dir, &st, &err) != 0) {
        fprintf(stderr, "bench_mvcc: %s\n", err ? err : "open failed");
        return 1;
    }
    mvcc *m;
    check(mvcc_open(st, &m), "mvcc_open");
    uint8_t *value = malloc((size_t)value_bytes + 1);
    double *lat = malloc(sizeof(double) * (size_t)keys);
    if (!value || !lat) check(-1, "malloc");
    for (long i = 0; i < value_bytes; i++) value[i] = (uint8_t)(rand() & 0xff);
    char key[64];
    uint64_t applied = mvcc_applied_index(m);

    /* put, one per txn: the first half of the keys */
    long half = keys / 2;
    double t_all = now_s();
    for (long i = 0; i < half; i++) {
        int n = key_of(key, sizeof(key), i);
        double t0 = now_s();
        mvcc_txn *t;
        check(mvcc_write_begin(m, &t), "write_begin");
        check(mvcc_txn_put(t, (uint8_t *)key, (size_t)n, value, (size_t)value_bytes, 0, NULL, NULL),
              "put");
        int64_t rev;
        check(mvcc_txn_commit(t, ++applied, NULL, &rev), "commit");
        mvcc_txn_end(t);
        lat[i] = now_s() - t0;
    }
    report("put/1", lat, half, 1, now_s() - t_all);

    /* put, 100 per txn: the second half */
    long txns = (keys - half) / 100;
    t_all = now_s();
    for (long j = 0; j < txns; j++) {
        double t0 = now_s();
        mvcc_txn *t;
        check(mvcc_write_begin(m, &t), "write_begin");
        for (long i = 0; i < 100; i++) {
            int n = key_of(key, sizeof(key), half + j * 100 + i);
            check(mvcc_txn_put(t, (uint8_t *)key, (size_t)n, value, (size_t)value_bytes, 0, NULL,
                               NULL),
                  "put");
        }
        int64_t rev;
        check(mvcc_txn_commit(t, ++applied, NULL, &rev), "commit");
        mvcc_txn_end(t);
        lat[j] = now_s() - t0;
    }
    report("put/100", lat, txns, 100, now_s() - t_all);

    /* get: single-key ranges at random */
    long gets = keys;
    unsigned seed = 1;
    t_all = now_s();
    for (long i = 0; i < gets; i++) {
        int n = key_of(key, sizeof(key), rand_r(&seed) % (half + txns * 100));
        double t0 = now_s();
        mvcc_txn *t;
        check(mvcc_read_begin(m, &t), "read_begin");
        long found = 0;
        check(mvcc_txn_range(t, (uint8_t *)key, (size_t)n, NULL, 0, 0, count_kv, &found), "get");
        mvcc_txn_end(t);
        lat[i] = now_s() - t0;
        if (found != 1) check(-1, "get found nothing");
    }
    report("get", lat, gets, 1, now_s() - t_all);

    /* range: 100 keys from a random start */
    long ranges = keys / 10;
    t_all = now_s();
    for (long i = 0; i < ranges; i++) {
        int n = key_of(key, sizeof(key), rand_r(&seed) % (half + txns * 100));
        double t0 = now_s();
        mvcc_txn *t;
        check(mvcc_read_begin(m, &t), "read_begin");
        long cnt = 0;
        check(mvcc_txn_range(t, (uint8_t *)key, (size_t)n, (const uint8_t *)"\0", 1, 0, count_100,
                             &cnt),
              "range");
        mvcc_txn_end(t);
        lat[i] = now_s() - t0;
    }
    report("range100", lat, ranges, 1, now_s() - t_all);

    free(lat);
    free(value);
    mvcc_close(m);
    storage_close(st);
    if (dir == tmp) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
