/* lease_bench: the load and the meter of the lease benchmarks (lease_compare.sh), for etcd and
 * coord alike (etcd's gRPC API through the C core client).
 *
 *   lease_bench keepalive EP --leases N --streams S --ttl T --seconds D [--pid PID]
 *       Grants N leases of T seconds, then keeps them all alive over S keep-alive streams for D
 *       seconds, each lease renewed every T/3 seconds as etcd's clients do. Prints the grant
 *       rate, the renewal latency (p50, p99, max), renewals that found their lease gone, and
 *       with --pid the server's RSS after the grants and after the run, and its CPU use during
 *       the keep-alive phase. A stream that breaks is counted (keepalive_errors) and replaced.
 *   lease_bench lock EP --contenders C --seconds D
 *       C clients, each with its own lease, take and release one lock (v3lockpb Lock, Unlock)
 *       in a loop for D seconds: cycles per second and the latency of Lock.
 *   lease_bench expiry EP --ttl T --leases K
 *       K keepers each put a key under a lease of T seconds, renew it once, and die (stop
 *       renewing) at the same moment; prints how long after that renewal each key was deleted
 *       (min, median, max), against T.
 *
 * Output: "name value" lines the script reads.
 */
#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"
#include "v3lock.pb.h"

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define METHOD_GRANT     "/etcdserverpb.Lease/LeaseGrant"
#define METHOD_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define METHOD_PUT       "/etcdserverpb.KV/Put"
#define METHOD_RANGE     "/etcdserverpb.KV/Range"
#define METHOD_LOCK      "/v3lockpb.Lock/Lock"
#define METHOD_UNLOCK    "/v3lockpb.Lock/Unlock"

typedef struct opts {
    const char *mode, *ep;
    long leases, streams, ttl, seconds, contenders;
    int pid;
} opts;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t_ns)
{
    int64_t d = t_ns - now_ns();
    if (d <= 0) return;
    struct timespec ts = {d / 1000000000, d % 1000000000};
    nanosleep(&ts, NULL);
}

static __attribute__((noreturn)) void die(const char *what)
{
    fprintf(stderr, "lease_bench: %s\n", what);
    exit(1);
}

static long proc_status_kib(int pid, const char *field)
{
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kib = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* utime + stime of the process, in clock ticks. */
static long long cpu_ticks(int pid)
{
    if (pid <= 0) return -1;
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime: utime is the 12th field from there. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static rpc_channel *channel(const opts *o)
{
    rpc_channel *ch;
    if (rpc_channel_create(o->ep, 0, &ch) != 0) die("bad endpoint");
    return ch;
}

static int64_t grant(rpc_channel *ch, int64_t ttl)
{
    etcdserverpb_LeaseGrantRequest r = {.TTL = ttl};
    rpc_call_opts co = {.timeout_ms = 20000};
    rpc_reply rep;
    if (rpc_call_msg(ch, METHOD_GRANT, &etcdserverpb_LeaseGrantRequest_msg, &r, &co, &rep) !=
        GRPC_STATUS_OK) {
        fprintf(stderr, "lease_bench: grant: %s\n", rep.message);
        rpc_reply_free(&rep);
        return 0;
    }
    etcdserverpb_LeaseGrantResponse g;
    int64_t id = 0;
    if (pbx_decode(&etcdserverpb_LeaseGrantResponse_msg, &g, rep.body.data, rep.body.len) == 0)
        id = g.ID;
    rpc_reply_free(&rep);
    return id;
}

/* ---- keepalive ---- */

typedef struct ka_thread {
    const opts *o;
    rpc_channel *ch;
    int64_t *ids;
    size_t n_ids;
    int64_t start_ns, end_ns;
    int64_t *lat;
    size_t n_lat, cap_lat;
    long gone, errors;
    pthread_t th;
} ka_thread;

static void *grant_main(void *arg)
{
    ka_thread *t = arg;
    for (size_t i = 0; i < t->n_ids; i++)
        if (!(t->ids[i] = grant(t->ch, t->o->ttl))) t->errors++;
    return NULL;
}

static void *keepalive_main(void *arg)
{
    ka_thread *t = arg;
    rpc_cstream *s = NULL;
    rpc_call_opts co = {0};
    /* Each lease every ttl/3, spread evenly over that period. */
    int64_t period = t->o->ttl * 1000000000LL / 3;
    int64_t step = t->n_ids ? period / (int64_t)t->n_ids : period;
    int64_t next = t->start_ns;
    for (size_t i = 0; now_ns() < t->end_ns; i = (i + 1) % t->n_ids, next += step) {
        sleep_until(next);
        if (!s && rpc_cstream_open(t->ch, METHOD_KEEPALIVE, &co, &s) != 0) die("cannot open");
        etcdserverpb_LeaseKeepAliveRequest r = {.ID = t->ids[i]};
        int64_t t0 = now_ns();
        rpc_buf b;
        if (rpc_cstream_send_msg(s, &etcdserverpb_LeaseKeepAliveRequest_msg, &r) != 0 ||
            rpc_cstream_recv(s, 20000, &b) != RPC_RECV_MSG) {
            /* The stream broke (a leader change, a restart): count it, open another, and
             * renew this lease again, as a client's keep-alive loop would. */
            t->errors++;
            rpc_cstream_destroy(s);
            s = NULL;
            struct timespec pause = {0, 200000000};
            nanosleep(&pause, NULL);
            i = i ? i - 1 : t->n_ids - 1;
            continue;
        }
        int64_t d = now_ns() - t0;
        etcdserverpb_LeaseKeepAliveResponse m;
        if (pbx_decode(&etcdserverpb_LeaseKeepAliveResponse_msg, &m, b.data, b.len) != 0 ||
            m.TTL <= 0)
            t->gone++;
        rpc_buf_free(&b);
        if (t->n_lat == t->cap_lat) {
            t->cap_lat = t->cap_lat ? t->cap_lat * 2 : 4096;
            t->lat = realloc(t->lat, t->cap_lat * sizeof(*t->lat));
            if (!t->lat) die("out of memory");
        }
        t->lat[t->n_lat++] = d;
    }
    if (s) {
        rpc_cstream_close_send(s);
        rpc_cstream_destroy(s);
    }
    return NULL;
}

static void run_keepalive(const opts *o)
{
    size_t n = (size_t)o->leases, S = (size_t)o->streams;
    int64_t *ids = calloc(n, sizeof(*ids));
    ka_thread *th = calloc(S, sizeof(*th));
    if (!ids || !th) die("out of memory");
    rpc_channel **chs = calloc(S, sizeof(*chs));
    size_t n_ch = S < 8 ? S : 8; /* a few connections, as a few client processes would have */
    for (size_t i = 0; i < n_ch; i++) chs[i] = channel(o);
    for (size_t i = 0; i < S; i++) {
        th[i].o = o;
        th[i].ch = chs[i % n_ch];
        th[i].ids = ids + i * n / S;
        th[i].n_ids = (i + 1) * n / S - i * n / S;
    }
    /* Grants from as many threads as streams. */
    int64_t g0 = now_ns();
    for (size_t i = 0; i < S; i++) pthread_create(&th[i].th, NULL, grant_main, &th[i]);
    long grant_errors = 0;
    for (size_t i = 0; i < S; i++) {
        pthread_join(th[i].th, NULL);
        grant_errors += th[i].errors;
        th[i].errors = 0;
    }
    double grant_s = (double)(now_ns() - g0) / 1e9;
    printf("leases %zu\ngrant_seconds %.2f\ngrants_per_s %.0f\ngrant_errors %ld\n", n, grant_s,
           (double)n / grant_s, grant_errors);
    fflush(stdout); /* a script may wait for the grants before the keep-alives end */
    long rss_granted = proc_status_kib(o->pid, "VmRSS");
    long long cpu0 = cpu_ticks(o->pid);
    int64_t start = now_ns() + 200000000;
    for (size_t i = 0; i < S; i++) {
        th[i].start_ns = start;
        th[i].end_ns = start + o->seconds * 1000000000LL;
        pthread_create(&th[i].th, NULL, keepalive_main, &th[i]);
    }
    size_t total = 0;
    long gone = 0, errors = 0;
    for (size_t i = 0; i < S; i++) {
        pthread_join(th[i].th, NULL);
        total += th[i].n_lat;
        gone += th[i].gone;
        errors += th[i].errors;
    }
    double run_s = (double)(now_ns() - start) / 1e9;
    long long cpu1 = cpu_ticks(o->pid);
    int64_t *all = malloc((total ? total : 1) * sizeof(*all));
    if (!all) die("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < S; i++) {
        memcpy(all + k, th[i].lat, th[i].n_lat * sizeof(*all));
        k += th[i].n_lat;
        free(th[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_i64);
    printf("keepalives %zu\nkeepalives_per_s %.0f\nkeepalive_p50_us %" PRId64
           "\nkeepalive_p99_us %" PRId64 "\nkeepalive_max_us %" PRId64
           "\nkeepalive_lease_gone %ld\nkeepalive_errors %ld\n",
           total, (double)total / run_s, pct(all, total, 0.50) / 1000, pct(all, total, 0.99) / 1000,
           total ? all[total - 1] / 1000 : 0, gone, errors);
    if (o->pid > 0) {
        long tck = sysconf(_SC_CLK_TCK);
        printf("rss_after_grants_kib %ld\nrss_kib %ld\npeak_rss_kib %ld\ncpu_percent %.1f\n",
               rss_granted, proc_status_kib(o->pid, "VmRSS"), proc_status_kib(o->pid, "VmHWM"),
               cpu0 >= 0 && cpu1 >= 0 ? 100.0 * (double)(cpu1 - cpu0) / (double)tck / run_s : -1.0);
    }
    free(all);
    for (size_t i = 0; i < n_ch; i++) rpc_channel_destroy(chs[i]);
    free(chs);
    free(th);
    free(ids);
}

/* ---- lock ---- */

typedef struct lock_thread {
    const opts *o;
    rpc_channel *ch;
    int64_t end_ns;
    int64_t *lat;
    size_t n_lat, cap_lat;
    long errors;
    pthread_t th;
} lock_thread;

static void *lock_main(void *arg)
{
    lock_thread *t = arg;
    int64_t lease = grant(t->ch, 120);
    if (!lease) {
        t->errors++;
        return NULL;
    }
    static const char name[] = "bench-lock";
    rpc_call_opts co = {.timeout_ms = 60000};
    while (now_ns() < t->end_ns) {
        v3lockpb_LockRequest lr = {.name = {(const uint8_t *)name, sizeof(name) - 1},
                                   .lease = lease};
        rpc_reply rep;
        int64_t t0 = now_ns();
        if (rpc_call_msg(t->ch, METHOD_LOCK, &v3lockpb_LockRequest_msg, &lr, &co, &rep) !=
            GRPC_STATUS_OK) {
            fprintf(stderr, "lease_bench: lock: %s\n", rep.message);
            rpc_reply_free(&rep);
            t->errors++;
            break;
        }
        int64_t d = now_ns() - t0;
        v3lockpb_LockResponse m;
        if (pbx_decode(&v3lockpb_LockResponse_msg, &m, rep.body.data, rep.body.len) != 0)
            die("bad LockResponse");
        v3lockpb_UnlockRequest ur = {.key = m.key};
        rpc_reply urep;
        if (rpc_call_msg(t->ch, METHOD_UNLOCK, &v3lockpb_UnlockRequest_msg, &ur, &co, &urep) !=
            GRPC_STATUS_OK)
            t->errors++;
        rpc_reply_free(&urep);
        rpc_reply_free(&rep);
        if (t->n_lat == t->cap_lat) {
            t->cap_lat = t->cap_lat ? t->cap_lat * 2 : 1024;
            t->lat = realloc(t->lat, t->cap_lat * sizeof(*t->lat));
            if (!t->lat) die("out of memory");
        }
        t->lat[t->n_lat++] = d;
    }
    return NULL;
}

static void run_lock(const opts *o)
{
    size_t C = (size_t)o->contenders;
    lock_thread *th = calloc(C, sizeof(*th));
    rpc_channel *ch = channel(o);
    if (!th) die("out of memory");
    int64_t start = now_ns();
    for (size_t i = 0; i < C; i++) {
        th[i].o = o;
        th[i].ch = ch;
        th[i].end_ns = start + o->seconds * 1000000000LL;
        pthread_create(&th[i].th, NULL, lock_main, &th[i]);
    }
    size_t total = 0;
    long errors = 0;
    for (size_t i = 0; i < C; i++) {
        pthread_join(th[i].th, NULL);
        total += th[i].n_lat;
        errors += th[i].errors;
    }
    double run_s = (double)(now_ns() - start) / 1e9;
    int64_t *all = malloc((total ? total : 1) * sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < C; i++) {
        memcpy(all + k, th[i].lat, th[i].n_lat * sizeof(*all));
        k += th[i].n_lat;
        free(th[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_i64);
    printf("lock_cycles %zu\nlock_cycles_per_s %.0f\nlock_p50_us %" PRId64 "\nlock_p99_us %" PRId64
           "\nlock_errors %ld\n",
           total, (double)total / run_s, pct(all, total, 0.5) / 1000, pct(all, total, 0.99) / 1000,
           errors);
    free(all);
    rpc_channel_destroy(ch);
    free(th);
}

/* ---- expiry ---- */

static bool key_exists(rpc_channel *ch, const char *key)
{
    etcdserverpb_RangeRequest r = {.key = {(const uint8_t *)key, strlen(key)}, .count_only = true};
    rpc_call_opts co = {.timeout_ms = 5000};
    rpc_reply rep;
    if (rpc_call_msg(ch, METHOD_RANGE, &etcdserverpb_RangeRequest_msg, &r, &co, &rep) !=
        GRPC_STATUS_OK)
        die("range failed");
    etcdserverpb_RangeResponse m;
    bool exists =
        pbx_decode(&etcdserverpb_RangeResponse_msg, &m, rep.body.data, rep.body.len) == 0 &&
        m.count > 0;
    pbx_release(&etcdserverpb_RangeResponse_msg, &m);
    rpc_reply_free(&rep);
    return exists;
}

static void run_expiry(const opts *o)
{
    size_t K = (size_t)o->leases;
    rpc_channel *ch = channel(o);
    char(*keys)[32] = calloc(K, sizeof(*keys));
    int64_t *ids = calloc(K, sizeof(*ids));
    int64_t *gone_ms = calloc(K, sizeof(*gone_ms));
    if (!keys || !ids || !gone_ms) die("out of memory");
    for (size_t i = 0; i < K; i++) {
        if (!(ids[i] = grant(ch, o->ttl))) die("grant failed");
        snprintf(keys[i], sizeof(keys[i]), "expiry/%zu", i);
        etcdserverpb_PutRequest p = {.key = {(const uint8_t *)keys[i], strlen(keys[i])},
                                     .value = {(const uint8_t *)"up", 2},
                                     .lease = ids[i]};
        rpc_call_opts co = {.timeout_ms = 5000};
        rpc_reply rep;
        if (rpc_call_msg(ch, METHOD_PUT, &etcdserverpb_PutRequest_msg, &p, &co, &rep) !=
            GRPC_STATUS_OK)
            die("put failed");
        rpc_reply_free(&rep);
    }
    /* The keepers' last renewals, one stream, all at once; then nobody renews. */
    rpc_cstream *s;
    rpc_call_opts co = {0};
    if (rpc_cstream_open(ch, METHOD_KEEPALIVE, &co, &s) != 0) die("cannot open a stream");
    for (size_t i = 0; i < K; i++) {
        etcdserverpb_LeaseKeepAliveRequest r = {.ID = ids[i]};
        if (rpc_cstream_send_msg(s, &etcdserverpb_LeaseKeepAliveRequest_msg, &r) != 0)
            die("keep-alive send failed");
        rpc_buf b;
        if (rpc_cstream_recv(s, 5000, &b) != RPC_RECV_MSG) die("keep-alive failed");
        rpc_buf_free(&b);
    }
    int64_t died = now_ns();
    rpc_cstream_close_send(s);
    rpc_cstream_destroy(s);
    size_t left = K;
    int64_t deadline = died + (o->ttl + 30) * 1000000000LL;
    while (left && now_ns() < deadline) {
        for (size_t i = 0; i < K; i++) {
            if (gone_ms[i] || key_exists(ch, keys[i])) continue;
            gone_ms[i] = (now_ns() - died) / 1000000;
            left--;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (left) die("some keys outlived their lease by 30 s");
    qsort(gone_ms, K, sizeof(*gone_ms), cmp_i64);
    printf("expiry_ttl_ms %ld\nexpiry_min_ms %" PRId64 "\nexpiry_median_ms %" PRId64
           "\nexpiry_max_ms %" PRId64 "\n",
           o->ttl * 1000, gone_ms[0], gone_ms[K / 2], gone_ms[K - 1]);
    free(keys);
    free(ids);
    free(gone_ms);
    rpc_channel_destroy(ch);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: lease_bench keepalive|lock|expiry EP [options] (see the source)\n");
        return 2;
    }
    opts o = {.mode = argv[1],
              .ep = argv[2],
              .leases = 1000,
              .streams = 10,
              .ttl = 60,
              .seconds = 10,
              .contenders = 10};
    static const struct option lo[] = {{"leases", required_argument, NULL, 'l'},
                                       {"streams", required_argument, NULL, 's'},
                                       {"ttl", required_argument, NULL, 't'},
                                       {"seconds", required_argument, NULL, 'd'},
                                       {"contenders", required_argument, NULL, 'c'},
                                       {"pid", required_argument, NULL, 'p'},
                                       {NULL, 0, NULL, 0}};
    int c;
    optind = 3;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.leases = atol(optarg);
            break;
        case 's':
            o.streams = atol(optarg);
            break;
        case 't':
            o.ttl = atol(optarg);
            break;
        case 'd':
            o.seconds = atol(optarg);
            break;
        case 'c':
            o.contenders = atol(optarg);
            break;
        case 'p':
            o.pid = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (o.leases < 1 || o.streams < 1 || o.ttl < 1 || o.seconds < 1 || o.contenders < 1)
        die("every count must be at least 1");
    grpc_init();
    if (strcmp(o.mode, "keepalive") == 0)
        run_keepalive(&o);
    else if (strcmp(o.mode, "lock") == 0)
        run_lock(&o);
    else if (strcmp(o.mode, "expiry") == 0)
        run_expiry(&o);
    else
        die("unknown mode");
    grpc_shutdown();
    return 0;
}
