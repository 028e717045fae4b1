/* harness: an in-memory cluster of raft nodes for unit tests, scripted interaction tests and
 * benchmarks. Each node persists to a raft_memstore exactly what its ready says, applies
 * committed entries to a record, and queues its messages, which travel encoded and decoded
 * (so every test also exercises the wire codec). Delivery is explicit and in order. */
#ifndef COORD_TESTS_RAFT_HARNESS_H
#define COORD_TESTS_RAFT_HARNESS_H

#include "raft.h"

#include <stdbool.h>
#include <stdio.h>

#define H_MAX_NODES RAFT_MAX_NODES

typedef struct hnode {
    raft_id id;
    raft *r;                /* NULL while crashed or never started */
    raft_memstore *ms;      /* what survived: the persisted state */
    raft_entries applied;   /* committed entries this incarnation applied, in order */
    uint64_t snap_index;    /* last snapshot installed by this incarnation */
    raft_read_state *reads; /* read states received (ctx owned) */
    size_t n_reads;
    size_t cap_reads;
} hnode;

typedef struct harness {
    hnode nodes[H_MAX_NODES];
    size_t n;
    raft_config base; /* template for every node's config (id and storage set per node) */
    raft_msg *queue;  /* sent, not yet delivered (decoded copies, owned) */
    size_t nq;
    size_t capq;
    bool cut[H_MAX_NODES + 1][H_MAX_NODES + 1]; /* cut[a][b]: drop a's messages to b */
    FILE *trace;     /* when set: messages and log lines are written here */
    bool trace_msgs; /* print every message as it is sent */
    uint64_t sent;   /* messages sent so far */
    int last_error;  /* the last error a node reported (0 if none) */
} harness;

/* Starts voters 1..n_voters and learners n_voters+1..n_voters+n_learners with base (NULL:
 * defaults with pre_vote and check_quorum off, election 10, heartbeat 1). */
int h_init(harness *h, int n_voters, int n_learners, const raft_config *base);
void h_free(harness *h);
hnode *h_node(harness *h, raft_id id);
/* Adds a node with empty storage and no bootstrap membership (a member joining later). */
int h_add_empty_node(harness *h, raft_id id);

/* Handles every ready of node id (persist, queue messages, apply, advance). */
int h_ready(harness *h, raft_id id);
/* Delivers every queued message (in order, including those sent meanwhile) and handles
 * readies, until nothing is left. Returns the number of messages delivered. */
int h_stabilize(harness *h);
/* Delivers the queued messages matching from/to (0 = any), without following up. */
int h_deliver(harness *h, raft_id from, raft_id to);
/* Drops queued messages matching from/to (0 = any). */
int h_drop(harness *h, raft_id from, raft_id to);
int h_tick(harness *h, raft_id id, int n);
int h_campaign(harness *h, raft_id id);
int h_propose(harness *h, raft_id id, const char *data);
raft_id h_leader(harness *h);
int h_crash(harness *h, raft_id id);
int h_restart(harness *h, raft_id id);
/* Restarts node id telling the core the application had applied up to `applied`. */
int h_restart_applied(harness *h, raft_id id, uint64_t applied);
void h_isolate(harness *h, raft_id id);
void h_heal(harness *h);
/* Takes a snapshot at node id's applied index and compacts its log up to it. */
int h_compact(harness *h, raft_id id);

/* The queued message at position i matching type (0 = any). */
raft_msg *h_find(harness *h, raft_id from, raft_id to, int type);
size_t h_count(harness *h, raft_id from, raft_id to, int type);
/* Node id's status. */
raft_status h_status(harness *h, raft_id id);
/* Whether node id has applied an entry with this data. */
bool h_applied(harness *h, raft_id id, const char *data);

void h_format_msg(const raft_msg *m, char *buf, size_t cap);
void h_log(void *ctx, raft_id id, int level, const char *line);

#endif
