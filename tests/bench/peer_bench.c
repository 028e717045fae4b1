/* bench_peer: the peer transport between two members in one process, over loopback gRPC.
 *
 * one-way:  member 1 sends N encoded raft APP messages (one entry of --entry-bytes each, encoded
 *           in place with peer_send_encoded) to member 2, which decodes each with
 *           raft_msg_decode; at most --window messages are in flight
 * two-way:  the same in both directions at once
 * ping-pong: one message goes 1 -> 2 and 2 answers it (from its deliver callback); round trips
 *           are timed one at a time (the latency a Raft round trip pays for the transport)
 * Prints messages/s, MB/s of message bytes, messages per gRPC batch and CPU per message.
 * Usage: bench_peer [--messages N] [--entry-bytes B] [--window W] [--round-trips R]
 */
#include "peer.h"
#include "raft.h"
#include "rpc_server.h"

#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CLUSTER 0xbe7c4ULL

typedef struct bench_member {
    uint64_t id;
    rpc_server *srv;
    peer_transport *t;
    int port;
    atomic_uint_fast64_t delivered;
    atomic_uint_fast64_t bad; /* raft_msg_decode refused it: must stay 0 */
    bool echo;                /* ping-pong: answer every message to its sender */
} bench_member;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_peer: %s failed\n", what);
    exit(1);
}

static bool encode_raft(void *arg, uint8_t *dst, size_t len)
{
    return raft_msg_encode(arg, dst, len) == len;
}

static void deliver(void *arg, uint64_t from, const uint8_t *msg, size_t len)
{
    bench_member *m = arg;
    raft_msg rm;
    if (raft_msg_decode(msg, len, &rm) != 0) {
        atomic_fetch_add(&m->bad, 1);
        return;
    }
    raft_msg_free(&rm);
    if (m->echo) peer_send(m->t, from, msg, len);
    atomic_fetch_add(&m->delivered, 1);
}

static void member_start(bench_member *m, uint64_t id)
{
    memset(m, 0, sizeof(*m));
    m->id = id;
    peer_opts o = {.cluster_id = CLUSTER, .self_id = id, .deliver = deliver, .arg = m};
    if (peer_create(&o, &m->t) != 0) die("peer_create");
    rpc_server_opts so = {.threads = 1, .max_recv_bytes = PEER_MAX_RECV_BYTES};
    if (rpc_server_create(&so, &m->srv) != 0) die("rpc_server_create");
    if (peer_register(m->t, m->srv) != 0) die("peer_register");
    m->port = rpc_server_listen(m->srv, "127.0.0.1:0");
    if (m->port < 0 || rpc_server_start(m->srv) != 0) die("rpc_server_start");
}

static void connect_to(bench_member *from, const bench_member *to)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", to->port);
    if (peer_add(from->t, to->id, addr) != 0) die("peer_add");
    peer_stats st;
    double until = now_s() + 10;
    while (peer_get_stats(from->t, to->id, &st) == 0 && !st.up)
        if (now_s() > until) die("connecting");
}

typedef struct sender {
    bench_member *from, *to;
    long n, window;
    size_t entry_bytes;
    long retries; /* sends refused (queue full), retried */
} sender;

static void *send_main(void *arg)
{
    sender *s = arg;
    uint8_t *data = malloc(s->entry_bytes ? s->entry_bytes : 1);
    if (!data) die("malloc");
    memset(data, 0xa5, s->entry_bytes);
    raft_entry e = {.term = 3, .data = data, .len = s->entry_bytes};
    raft_msg m = {.type = RAFT_MSG_APP,
                  .from = s->from->id,
                  .to = s->to->id,
                  .term = 3,
                  .log_term = 3,
                  .commit = 1,
                  .n_entries = 1,
                  .entries = &e};
    for (long i = 0; i < s->n; i++) {
        while ((long)(i - (long)atomic_load(&s->to->delivered)) >= s->window) sched_yield();
        m.index = (uint64_t)i + 1;
        e.index = (uint64_t)i + 2;
        while (peer_send_encoded(s->from->t, s->to->id, raft_msg_encoded_size(&m), encode_raft,
                                 &m) != 0) {
            s->retries++;
            sched_yield();
        }
    }
    free(data);
    return NULL;
}

static void run_flow(const char *label, bench_member *a, bench_member *b, bool both, long n,
                     long window, size_t entry_bytes)
{
    peer_stats before_ab, before_ba, ab, ba;
    peer_get_stats(a->t, b->id, &before_ab);
    peer_get_stats(b->t, a->id, &before_ba);
    sender s1 = {a, b, n, window, entry_bytes, 0}, s2 = {b, a, n, window, entry_bytes, 0};
    /* Senders measure their window against these counts. */
    atomic_store(&b->delivered, 0);
    atomic_store(&a->delivered, 0);
    double t0 = now_s(), c0 = cpu_s();
    pthread_t t1, t2;
    pthread_create(&t1, NULL, send_main, &s1);
    if (both) pthread_create(&t2, NULL, send_main, &s2);
    while ((long)atomic_load(&b->delivered) < n || (both && (long)atomic_load(&a->delivered) < n))
        sched_yield();
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    pthread_join(t1, NULL);
    if (both) pthread_join(t2, NULL);

    peer_get_stats(a->t, b->id, &ab);
    peer_get_stats(b->t, a->id, &ba);
    uint64_t msgs =
        ab.sent_msgs - before_ab.sent_msgs + (both ? ba.sent_msgs - before_ba.sent_msgs : 0);
    uint64_t batches = ab.batches - before_ab.batches + (both ? ba.batches - before_ba.batches : 0);
    raft_entry e = {.len = entry_bytes};
    raft_msg m = {
        .type = RAFT_MSG_APP, .from = 1, .to = 2, .term = 3, .n_entries = 1, .entries = &e};
    double msg_bytes = (double)raft_msg_encoded_size(&m);
    double total = (double)n * (both ? 2 : 1);
    printf("%-9s entry %6zu B  %10.0f msgs/s  %8.1f MB/s  %6.1f msgs/batch  %5.2f us cpu/msg"
           "  (%ld retries)\n",
           label, entry_bytes, total / secs, total * msg_bytes / secs / 1e6,
           batches ? (double)msgs / (double)batches : 0.0, cpu / total * 1e6,
           s1.retries + s2.retries);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void run_ping_pong(bench_member *a, bench_member *b, long rounds)
{
    b->echo = true;
    double *lat = malloc((size_t)rounds * sizeof(*lat));
    if (!lat) die("malloc");
    raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = a->id, .to = b->id, .term = 3};
    size_t len = raft_msg_encoded_size(&m);
    for (long i = 0; i < rounds; i++) {
        uint64_t want = atomic_load(&a->delivered) + 1;
        double t0 = now_s();
        if (peer_send_encoded(a->t, b->id, len, encode_raft, &m) != 0) die("peer_send");
        while (atomic_load(&a->delivered) < want) sched_yield();
        lat[i] = now_s() - t0;
    }
    b->echo = false;
    qsort(lat, (size_t)rounds, sizeof(*lat), cmp_double);
    printf("ping-pong heartbeat round trip: p50 %.0f us  p99 %.0f us  (%ld rounds)\n",
           lat[rounds / 2] * 1e6, lat[rounds * 99 / 100] * 1e6, rounds);
    free(lat);
}

int main(int argc, char **argv)
{
    long n = 1000000, window = 100000, rounds = 5000;
    long entry_bytes = -1;
    static const struct option opts[] = {{"messages", required_argument, NULL, 'n'},
                                         {"entry-bytes", required_argument, NULL, 'b'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"round-trips", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:b:w:r:", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            n = atol(optarg);
            break;
        case 'b':
            entry_bytes = atol(optarg);
            break;
        case 'w':
            window = atol(optarg);
            break;
        case 'r':
            rounds = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_peer [--messages N] [--entry-bytes B] [--window W] "
                            "[--round-trips R]\n");
            return 2;
        }
    }
    if (n <= 0 || window <= 0 || rounds <= 0) die("arguments");
    bench_member a, b;
    member_start(&a, 1);
    member_start(&b, 2);
    connect_to(&a, &b);
    connect_to(&b, &a);

    static const size_t sizes[] = {0, 100, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        if (entry_bytes >= 0 && (size_t)entry_bytes != sizes[i] && i > 0) continue;
        size_t sz = entry_bytes >= 0 ? (size_t)entry_bytes : sizes[i];
        run_flow("one-way", &a, &b, false, n, window, sz);
        run_flow("two-way", &a, &b, true, n, window, sz);
        if (entry_bytes >= 0) break;
    }
    run_ping_pong(&a, &b, rounds);
    if (atomic_load(&a.bad) || atomic_load(&b.bad)) die("decoding delivered messages");

    rpc_server_shutdown(a.srv);
    rpc_server_shutdown(b.srv);
    peer_destroy(a.t);
    peer_destroy(b.t);
    rpc_server_destroy(a.srv);
    rpc_server_destroy(b.srv);
    return 0;
}
