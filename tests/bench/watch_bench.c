/* watch_bench: the load and the meter of the watch benchmarks (watch_compare.sh), for etcd and
 * coord alike (it speaks etcd's gRPC API through the C core client).
 *
 *   watch_bench fanout EP --watchers N --streams S --rate R --seconds T [--pid PID]
 *       N watchers on N distinct keys over S streams, then R puts/s for T s, each to one
 *       watched key. Prints the server's RSS before and after the watchers exist (with --pid),
 *       and the delay from each put's acknowledgement (and from its sending) to its event.
 *   watch_bench prefix EP --events N [--writers W] [--txn-size K]
 *       One watcher on a prefix while W writers put N keys under it as fast as they can (K
 *       puts per transaction, so K events per revision): events/s delivered, from the first
 *       write sent to the last event received.
 *   watch_bench catchup EP --revisions N [--writers W] [--no-load]
 *       Writes N revisions (unless --no-load), then times a watch from revision 1 until it
 *       has received them all.
 *   watch_bench stall EP --prefix P
 *       Opens a watch on prefix P and never reads from it (a stalled client), until killed.
 *
 * Output: "name value" lines the scripts read.
 */
#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define METHOD_PUT   "/etcdserverpb.KV/Put"
#define METHOD_TXN   "/etcdserverpb.KV/Txn"
#define METHOD_WATCH "/etcdserverpb.Watch/Watch"

typedef struct opts {
    const char *mode, *ep, *prefix;
    long watchers, streams, rate, seconds, events, revisions, writers, value_size, txn_size;
    int pid;
    bool no_load;
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
    fprintf(stderr, "watch_bench: %s\n", what);
    exit(1);
}

static long rss_kib(int pid)
{
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* ---- puts ---- */

static char *value_of(long size)
{
    char *v = malloc((size_t)size + 1);
    if (!v) die("out of memory");
    for (long i = 0; i < size; i++) v[i] = (char)('a' + i % 26);
    v[size] = 0;
    return v;
}

/* One put; returns its revision. */
static int64_t put(rpc_channel *ch, const char *key, const char *value, size_t value_len)
{
    etcdserverpb_PutRequest req = {.key = {(const uint8_t *)key, strlen(key)},
                                   .value = {(const uint8_t *)value, value_len}};
    rpc_call_opts co = {.timeout_ms = 30000};
    for (int attempt = 0; attempt < 20; attempt++) {
        rpc_reply reply;
        grpc_status_code code =
            rpc_call_msg(ch, METHOD_PUT, &etcdserverpb_PutRequest_msg, &req, &co, &reply);
        if (code == GRPC_STATUS_OK) {
            etcdserverpb_PutResponse resp;
            int64_t rev = -1;
            if (pbx_decode(&etcdserverpb_PutResponse_msg, &resp, reply.body.data, reply.body.len) ==
                0) {
                rev = resp.header.revision;
                pbx_release(&etcdserverpb_PutResponse_msg, &resp);
            }
            rpc_reply_free(&reply);
            return rev;
        }
        fprintf(stderr, "watch_bench: put %s: %d %s (retrying)\n", key, code, reply.message);
        rpc_reply_free(&reply);
        usleep(100000);
    }
    die("puts keep failing");
    return -1;
}

/* K puts in one transaction: keys prefix + (first + i) % 100000. */
static void put_txn(rpc_channel *ch, const char *prefix, long first, long k, const char *value,
                    size_t value_len)
{
    etcdserverpb_RequestOp *ops = calloc((size_t)k, sizeof(*ops));
    char(*keys)[64] = calloc((size_t)k, sizeof(*keys));
    if (!ops || !keys) die("out of memory");
    for (long i = 0; i < k; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s%09ld", prefix, (first + i) % 100000);
        ops[i].which_request = etcdserverpb_RequestOp_request_put_tag;
        ops[i].request.request_put.key = (pbx_bytes_t){(const uint8_t *)keys[i], strlen(keys[i])};
        ops[i].request.request_put.value = (pbx_bytes_t){(const uint8_t *)value, value_len};
    }
    etcdserverpb_TxnRequest req = {.success = {.items = ops, .count = (size_t)k}};
    rpc_call_opts co = {.timeout_ms = 30000};
    for (int attempt = 0;; attempt++) {
        rpc_reply reply;
        grpc_status_code code =
            rpc_call_msg(ch, METHOD_TXN, &etcdserverpb_TxnRequest_msg, &req, &co, &reply);
        if (code != GRPC_STATUS_OK)
            fprintf(stderr, "watch_bench: txn: %d %s (retrying)\n", code, reply.message);
        rpc_reply_free(&reply);
        if (code == GRPC_STATUS_OK) break;
        if (attempt == 20) die("transactions keep failing");
        usleep(100000);
    }
    free(keys);
    free(ops);
}

/* ---- watch streams ---- */

static rpc_cstream *open_stream(rpc_channel *ch)
{
    rpc_cstream *s;
    rpc_call_opts co = {0};
    if (rpc_cstream_open(ch, METHOD_WATCH, &co, &s) != 0) die("cannot open a watch stream");
    return s;
}

static void send_create(rpc_cstream *s, const char *key, const char *end, int64_t start_rev)
{
    etcdserverpb_WatchRequest req = {.which_request_union =
                                         etcdserverpb_WatchRequest_create_request_tag};
    etcdserverpb_WatchCreateRequest *cr = &req.request_union.create_request;
    cr->key = (pbx_bytes_t){(const uint8_t *)key, strlen(key)};
    if (end) cr->range_end = (pbx_bytes_t){(const uint8_t *)end, strlen(end)};
    cr->start_revision = start_rev;
    if (rpc_cstream_send_msg(s, &etcdserverpb_WatchRequest_msg, &req) != 0)
        die("cannot send a watch request");
}

/* What a receiver saw of one response. */
typedef struct seen {
    bool created, canceled;
    size_t n_events;
    int64_t first_rev, last_rev;
} seen;

typedef void (*event_fn)(void *arg, int64_t rev, int64_t t_ns);

/* Receives one response (timeout_ms < 0: wait); false on timeout or end. */
static bool recv_one(rpc_cstream *s, int64_t timeout_ms, seen *out, event_fn fn, void *arg)
{
    rpc_buf buf;
    int got = rpc_cstream_recv(s, timeout_ms, &buf);
    if (got != RPC_RECV_MSG) return false;
    int64_t t = now_ns();
    etcdserverpb_WatchResponse resp;
    if (pbx_decode(&etcdserverpb_WatchResponse_msg, &resp, buf.data, buf.len) != 0)
        die("cannot decode a watch response");
    const mvccpb_Event *evs = resp.events.items;
    memset(out, 0, sizeof(*out));
    out->created = resp.created;
    out->canceled = resp.canceled;
    out->n_events = resp.events.count;
    for (size_t i = 0; i < resp.events.count; i++) {
        if (i == 0) out->first_rev = evs[i].kv.mod_revision;
        out->last_rev = evs[i].kv.mod_revision;
        if (fn) fn(arg, evs[i].kv.mod_revision, t);
    }
    pbx_release(&etcdserverpb_WatchResponse_msg, &resp);
    rpc_buf_free(&buf);
    return true;
}

static void wait_created(rpc_cstream *s, long n)
{
    for (long got = 0; got < n;) {
        seen r;
        if (!recv_one(s, 30000, &r, NULL, NULL)) die("no create response within 30 s");
        if (r.canceled) die("a watch was refused");
        if (r.created) got++;
    }
}

/* ---- fanout ---- */

typedef struct fan {
    const opts *o;
    rpc_channel *ch;
    int64_t base_rev;          /* revision before the first measured put */
    long total;                /* puts */
    int64_t *sent_ns, *ack_ns; /* by revision - base_rev - 1 */
    _Atomic long next_put;
    _Atomic bool stop;
    char *value;
    int64_t t0;
} fan;

typedef struct receiver {
    fan *f;
    rpc_cstream *s;
    int64_t *rev, *t; /* events seen */
    size_t n, cap;
    pthread_t th;
} receiver;

static void fan_event(void *arg, int64_t rev, int64_t t_ns)
{
    receiver *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->rev = realloc(r->rev, r->cap * sizeof(*r->rev));
        r->t = realloc(r->t, r->cap * sizeof(*r->t));
        if (!r->rev || !r->t) die("out of memory");
    }
    r->rev[r->n] = rev;
    r->t[r->n++] = t_ns;
}

static void *fan_receive(void *arg)
{
    receiver *r = arg;
    while (!atomic_load(&r->f->stop)) {
        seen s;
        recv_one(r->s, 100, &s, fan_event, r);
    }
    return NULL;
}

static void *fan_write(void *arg)
{
    fan *f = arg;
    for (;;) {
        long n = atomic_fetch_add(&f->next_put, 1);
        if (n >= f->total) return NULL;
        sleep_until(f->t0 + (int64_t)((double)n * 1e9 / (double)f->o->rate));
        char key[32];
        snprintf(key, sizeof(key), "wb/%08ld", n % f->o->watchers);
        int64_t sent = now_ns();
        int64_t rev = put(f->ch, key, f->value, (size_t)f->o->value_size);
        int64_t ack = now_ns();
        int64_t i = rev - f->base_rev - 1;
        if (i >= 0 && i < f->total) {
            f->sent_ns[i] = sent;
            f->ack_ns[i] = ack;
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_percentiles(const char *name, int64_t *v, size_t n)
{
    if (!n) return;
    qsort(v, n, sizeof(*v), cmp_i64);
    printf("%s_p50_ms %.3f\n", name, v[n / 2] / 1e6);
    printf("%s_p99_ms %.3f\n", name, v[(size_t)((double)n * 0.99)] / 1e6);
    printf("%s_max_ms %.3f\n", name, v[n - 1] / 1e6);
}

static int run_fanout(const opts *o)
{
    fan f = {.o = o, .total = o->rate * o->seconds};
    if (rpc_channel_create(o->ep, 0, &f.ch) != 0) die("bad endpoint");
    f.value = value_of(o->value_size);
    long rss0 = rss_kib(o->pid);
    receiver *rs = calloc((size_t)o->streams, sizeof(*rs));
    if (!rs) die("out of memory");
    int64_t t_setup = now_ns();
    for (long s = 0; s < o->streams; s++) {
        rs[s].f = &f;
        rs[s].s = open_stream(f.ch);
        long n = 0;
        for (long w = s; w < o->watchers; w += o->streams, n++) {
            char key[32];
            snprintf(key, sizeof(key), "wb/%08ld", w);
            send_create(rs[s].s, key, NULL, 0);
        }
        wait_created(rs[s].s, n);
    }
    printf("setup_s %.2f\n", (now_ns() - t_setup) / 1e9);
    long rss1 = rss_kib(o->pid);
    if (rss0 > 0) {
        printf("rss_before_kib %ld\nrss_watchers_kib %ld\n", rss0, rss1);
        printf("rss_per_watcher_bytes %.0f\n",
               (double)(rss1 - rss0) * 1024.0 / (double)o->watchers);
    }
    f.base_rev = put(f.ch, "wb-start", "x", 1);
    f.sent_ns = calloc((size_t)f.total, sizeof(int64_t));
    f.ack_ns = calloc((size_t)f.total, sizeof(int64_t));
    if (!f.sent_ns || !f.ack_ns) die("out of memory");
    for (long s = 0; s < o->streams; s++) pthread_create(&rs[s].th, NULL, fan_receive, &rs[s]);
    enum { WRITERS = 8 };
    pthread_t wt[WRITERS];
    f.t0 = now_ns();
    for (int i = 0; i < WRITERS; i++) pthread_create(&wt[i], NULL, fan_write, &f);
    for (int i = 0; i < WRITERS; i++) pthread_join(wt[i], NULL);
    double write_s = (now_ns() - f.t0) / 1e9;
    /* Wait for the last events (or give up after 10 s). */
    int64_t give_up = now_ns() + 10 * 1000000000LL;
    for (;;) {
        size_t got = 0;
        for (long s = 0; s < o->streams; s++) got += rs[s].n;
        if ((long)got >= f.total || now_ns() > give_up) break;
        usleep(10000);
    }
    long rss2 = rss_kib(o->pid);
    atomic_store(&f.stop, true);
    for (long s = 0; s < o->streams; s++) pthread_join(rs[s].th, NULL);
    size_t got = 0;
    for (long s = 0; s < o->streams; s++) got += rs[s].n;
    int64_t *lat_ack = malloc(got * sizeof(int64_t) + 1),
            *lat_sent = malloc(got * sizeof(int64_t) + 1);
    unsigned char *hit = calloc((size_t)f.total, 1);
    size_t n = 0, dups = 0, early = 0;
    for (long s = 0; s < o->streams; s++) {
        for (size_t i = 0; i < rs[s].n; i++) {
            int64_t k = rs[s].rev[i] - f.base_rev - 1;
            if (k < 0 || k >= f.total || !f.ack_ns[k]) continue;
            if (hit[k]++) dups++;
            int64_t la = rs[s].t[i] - f.ack_ns[k];
            if (la < 0) early++, la = 0;
            lat_ack[n] = la;
            lat_sent[n++] = rs[s].t[i] - f.sent_ns[k];
        }
    }
    printf("puts %ld\nput_rate %.0f\nevents %zu\nmissing %ld\nduplicates %zu\n", f.total,
           (double)f.total / write_s, n, f.total - (long)(n - dups), dups);
    printf("events_before_ack %zu\n", early);
    print_percentiles("from_ack", lat_ack, n);
    print_percentiles("from_send", lat_sent, n);
    if (rss2 > 0) printf("rss_after_load_kib %ld\n", rss2);
    fflush(stdout);
    /* The streams and the channel go with the process: closing 100 streams one by one is not
     * what is being measured. */
    _exit(0);
}

/* ---- prefix: one watcher, as many events as can be written ---- */

typedef struct flood {
    rpc_channel *ch;
    long total;
    long txn_size; /* puts per write: 1 is a plain put */
    _Atomic long next;
    char *value;
    long value_size;
    const char *prefix;
} flood;

static void *flood_write(void *arg)
{
    flood *fl = arg;
    for (;;) {
        if (fl->txn_size > 1) {
            long n = atomic_fetch_add(&fl->next, fl->txn_size);
            if (n >= fl->total) return NULL;
            long k = fl->total - n < fl->txn_size ? fl->total - n : fl->txn_size;
            put_txn(fl->ch, fl->prefix, n, k, fl->value, (size_t)fl->value_size);
            continue;
        }
        long n = atomic_fetch_add(&fl->next, 1);
        if (n >= fl->total) return NULL;
        char key[64];
        snprintf(key, sizeof(key), "%s%09ld", fl->prefix, n % 100000);
        put(fl->ch, key, fl->value, (size_t)fl->value_size);
    }
}

static void start_writers(flood *fl, long writers, pthread_t *th)
{
    for (long i = 0; i < writers; i++) pthread_create(&th[i], NULL, flood_write, fl);
}

static int run_prefix(const opts *o)
{
    flood fl = {.total = o->events,
                .txn_size = o->txn_size,
                .value = value_of(o->value_size),
                .value_size = o->value_size,
                .prefix = "wp/"};
    if (rpc_channel_create(o->ep, 0, &fl.ch) != 0) die("bad endpoint");
    /* The watcher has its own connection, as a separate client would. */
    rpc_channel *wch;
    if (rpc_channel_create(o->ep, 0, &wch) != 0) die("bad endpoint");
    rpc_cstream *s = open_stream(wch);
    send_create(s, "wp/", "wp0", 0);
    wait_created(s, 1);
    pthread_t th[256];
    long writers = o->writers > 256 ? 256 : o->writers;
    int64_t t0 = now_ns();
    start_writers(&fl, writers, th);
    long got = 0;
    int64_t t_last = t0;
    while (got < o->events) {
        seen r;
        if (!recv_one(s, 30000, &r, NULL, NULL)) die("no event for 30 s");
        got += (long)r.n_events;
        t_last = now_ns();
    }
    for (long i = 0; i < writers; i++) pthread_join(th[i], NULL);
    int64_t t_written = now_ns();
    printf("events %ld\nseconds %.3f\nevents_per_s %.0f\nwrite_seconds %.3f\n", got,
           (t_last - t0) / 1e9, got / ((t_last - t0) / 1e9), (t_written - t0) / 1e9);
    fflush(stdout);
    _exit(0);
}

/* ---- catch-up from revision 1 ---- */

static int run_catchup(const opts *o)
{
    flood fl = {.total = o->revisions,
                .value = value_of(o->value_size),
                .value_size = o->value_size,
                .prefix = "wc/"};
    if (rpc_channel_create(o->ep, 0, &fl.ch) != 0) die("bad endpoint");
    if (!o->no_load) {
        pthread_t th[256];
        long writers = o->writers > 256 ? 256 : o->writers;
        int64_t t0 = now_ns();
        start_writers(&fl, writers, th);
        for (long i = 0; i < writers; i++) pthread_join(th[i], NULL);
        printf("load_seconds %.2f\n", (now_ns() - t0) / 1e9);
    }
    rpc_channel *wch;
    if (rpc_channel_create(o->ep, 0, &wch) != 0) die("bad endpoint");
    rpc_cstream *s = open_stream(wch);
    int64_t t0 = now_ns();
    send_create(s, "wc/", "wc0", 1);
    long got = 0;
    int64_t last_rev = 0;
    while (got < o->revisions) {
        seen r;
        if (!recv_one(s, 60000, &r, NULL, NULL)) die("catch-up stalled for 60 s");
        if (r.canceled) die("the catch-up watch was canceled");
        if (r.n_events && r.first_rev <= last_rev) die("an event came twice or out of order");
        if (r.n_events) last_rev = r.last_rev;
        got += (long)r.n_events;
    }
    double secs = (now_ns() - t0) / 1e9;
    printf("events %ld\ncatchup_seconds %.3f\ncatchup_events_per_s %.0f\n", got, secs, got / secs);
    fflush(stdout);
    _exit(0);
}

/* ---- a stalled client ---- */

static __attribute__((noreturn)) void run_stall(const opts *o)
{
    rpc_channel *ch;
    if (rpc_channel_create(o->ep, 0, &ch) != 0) die("bad endpoint");
    rpc_cstream *s = open_stream(ch);
    char end[256];
    snprintf(end, sizeof(end), "%s", o->prefix);
    end[strlen(end) - 1]++;
    send_create(s, o->prefix, end, 0);
    wait_created(s, 1);
    printf("stalled\n");
    fflush(stdout);
    for (;;) pause(); /* never reads again */
}

int main(int argc, char **argv)
{
    opts o = {.watchers = 10000,
              .streams = 100,
              .rate = 1000,
              .seconds = 10,
              .events = 100000,
              .revisions = 1000000,
              .writers = 32,
              .value_size = 32,
              .txn_size = 1,
              .prefix = "wb/"};
    static const struct option longs[] = {
        {"watchers", 1, NULL, 'w'}, {"streams", 1, NULL, 's'}, {"rate", 1, NULL, 'r'},
        {"seconds", 1, NULL, 't'},  {"events", 1, NULL, 'e'},  {"revisions", 1, NULL, 'n'},
        {"writers", 1, NULL, 'W'},  {"pid", 1, NULL, 'p'},     {"value-size", 1, NULL, 'v'},
        {"prefix", 1, NULL, 'P'},   {"no-load", 0, NULL, 'L'}, {"txn-size", 1, NULL, 'k'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.watchers = atol(optarg);
            break;
        case 's':
            o.streams = atol(optarg);
            break;
        case 'r':
            o.rate = atol(optarg);
            break;
        case 't':
            o.seconds = atol(optarg);
            break;
        case 'e':
            o.events = atol(optarg);
            break;
        case 'n':
            o.revisions = atol(optarg);
            break;
        case 'W':
            o.writers = atol(optarg);
            break;
        case 'p':
            o.pid = atoi(optarg);
            break;
        case 'v':
            o.value_size = atol(optarg);
            break;
        case 'P':
            o.prefix = optarg;
            break;
        case 'L':
            o.no_load = true;
            break;
        case 'k':
            o.txn_size = atol(optarg);
            break;
        default:
            die("unknown option (see the comment at the top of watch_bench.c)");
        }
    }
    if (optind + 2 != argc)
        die("usage: watch_bench fanout|prefix|catchup|stall ENDPOINT [options]");
    o.mode = argv[optind];
    o.ep = argv[optind + 1];
    if (o.streams < 1 || o.watchers < 1 || o.rate < 1 || o.writers < 1 || o.txn_size < 1 ||
        o.txn_size > 128 || !o.prefix[0])
        die("counts must be positive");
    grpc_init();
    if (strcmp(o.mode, "fanout") == 0) return run_fanout(&o);
    if (strcmp(o.mode, "prefix") == 0) return run_prefix(&o);
    if (strcmp(o.mode, "catchup") == 0) return run_catchup(&o);
    if (strcmp(o.mode, "stall") == 0) run_stall(&o);
    die("unknown mode");
}
