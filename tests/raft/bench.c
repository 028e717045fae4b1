/* raft_bench: the core's own ceiling -- entries per second committed through a 3-node
 * in-memory cluster (memstore, messages handed over in memory, no codec, no I/O), with a
 * given number of proposals in flight, and the leader's memory per in-flight entry.
 *
 *   raft_bench [--inflight N] [--entries N] [--size BYTES]
 * Not a test: it prints figures and never fails on speed.
 */
#include "raft.h"

#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 3

typedef struct bnode {
    raft *r;
    raft_memstore *ms;
    uint64_t applied_normal;
} bnode;

static bnode nodes[N + 1];

/* CPU time of this (single-threaded) process: on a shared machine it is steadier than the
 * wall clock, and it is what the core itself costs. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, raft_strerror(rc));
        exit(1);
    }
}

/* Handles node i's ready: persist, hand each message straight to its recipient (which is
 * never itself inside a ready), apply, advance. */
static int handle(int i)
{
    bnode *n = &nodes[i];
    int did = 0;
    while (raft_has_ready(n->r)) {
        struct raft_ready rd;
        check(raft_ready(n->r, &rd), "ready");
        if (rd.n_entries) check(raft_memstore_append(n->ms, rd.entries, rd.n_entries), "append");
        if (rd.has_hard_state) raft_memstore_set_hard_state(n->ms, &rd.hard_state);
        for (size_t k = 0; k < rd.n_messages; k++)
            check(raft_step(nodes[rd.messages[k].to].r, &rd.messages[k]), "step");
        for (size_t k = 0; k < rd.n_committed; k++)
            if (rd.committed[k].type == RAFT_ENTRY_NORMAL && rd.committed[k].len)
                n->applied_normal++;
        check(raft_advance(n->r, &rd), "advance");
        did = 1;
    }
    return did;
}

static void setup(uint32_t window)
{
    raft_id voters[N] = {1, 2, 3};
    for (int i = 1; i <= N; i++) {
        raft_config c;
        raft_config_init(&c);
        c.id = (raft_id)i;
        c.voters = voters;
        c.n_voters = N;
        c.seed = (uint64_t)i;
        c.max_inflight_msgs = window;
        nodes[i].ms = raft_memstore_new();
        c.storage = raft_memstore_storage(nodes[i].ms);
        check(raft_new(&c, &nodes[i].r), "new");
        nodes[i].applied_normal = 0;
    }
    for (int i = 1; i <= N; i++) handle(i);
    check(raft_campaign(nodes[1].r), "campaign");
    for (int round = 0; round < 20; round++)
        for (int i = 1; i <= N; i++) handle(i);
}

static void teardown(void)
{
    for (int i = 1; i <= N; i++) {
        raft_free(nodes[i].r);
        raft_memstore_free(nodes[i].ms);
    }
}

/* Keeps `inflight` proposals outstanding on the leader until `total` are applied there. */
static double throughput(int inflight, uint64_t total, size_t size)
{
    setup(256);
    uint8_t *payload = calloc(1, size);
    uint64_t proposed = 0;
    double t0 = now();
    while (nodes[1].applied_normal < total) {
        while (proposed < total && proposed - nodes[1].applied_normal < (uint64_t)inflight) {
            check(raft_propose(nodes[1].r, payload, size, NULL), "propose");
            proposed++;
        }
        for (int i = 1; i <= N; i++) handle(i);
    }
    double dt = now() - t0;
    free(payload);
    teardown();
    return (double)total / dt;
}

/* Leader memory per entry proposed but not yet persisted or acknowledged: the unstable log
 * and the appends queued for both followers. */
static double bytes_per_inflight_entry(size_t size, uint64_t count)
{
    setup(1u << 20);
    uint8_t *payload = calloc(1, size);
    struct mallinfo2 before = mallinfo2();
    for (uint64_t k = 0; k < count; k++)
        check(raft_propose(nodes[1].r, payload, size, NULL), "propose");
    struct raft_ready rd; /* builds the appends; persisting and sending are not counted */
    check(raft_ready(nodes[1].r, &rd), "ready");
    struct mallinfo2 after = mallinfo2();
    check(raft_advance(nodes[1].r, &rd), "advance");
    free(payload);
    teardown();
    return (double)(after.uordblks - before.uordblks) / (double)count;
}

int main(int argc, char **argv)
{
    int inflight = 0;
    uint64_t total = 200000;
    size_t size = 64;
    static const struct option opts[] = {{"inflight", required_argument, 0, 'i'},
                                         {"entries", required_argument, 0, 'e'},
                                         {"size", required_argument, 0, 's'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'i')
            inflight = atoi(optarg);
        else if (c == 'e')
            total = strtoull(optarg, NULL, 10);
        else if (c == 's')
            size = (size_t)atoi(optarg);
        else
            return 2;
    }
    int windows[] = {1, 64};
    for (int k = 0; k < 2; k++) {
        if (inflight && windows[k] != inflight) continue;
        double eps = throughput(windows[k], total, size);
        printf("3-node in-memory cluster, %zu-byte entries, %d proposal(s) in flight: %.0f "
               "entries per CPU-second\n",
               size, windows[k], eps);
    }
    printf("leader memory per in-flight entry (%zu-byte payload, unstable log + appends to 2 "
           "followers): %.0f bytes\n",
           size, bytes_per_inflight_entry(size, 10000));
    return 0;
}
