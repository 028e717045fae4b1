/* node: the member's Raft node loop — the only thread that touches the Raft core.
 *
 * Proposals, read requests and peer messages from any thread are queued; the node thread
 * steps the core with them, ticks it every tick_ms, and handles each ready in this order:
 *   1. messages that may leave before the local write (a leader's appends) are sent, so the
 *      followers persist while the leader does;
 *   2. the ready's entries and hard state are written in ONE RocksDB batch, synced when the core
 *      asks (group commit: every proposal that arrived meanwhile shares one fsync);
 *   3. the other messages (votes, acks) are sent — only now, as they promise durable state;
 *   4. committed entries go to the apply callback in log order (the apply step records the
 *      applied index in its own unsynced batch; a crash replays from the log);
 *   5. read requests whose read index is applied are answered on a reader thread.
 * Every snapshot_count applied entries the node records a snapshot point and trims the log
 * behind it (keeping log_keep_entries for followers that lag).
 *
 * A proposal or read that finds no leader is retried every tick; reads give up after
 * request_timeout_ms with "request timed out". Writes are timed out by the server's waiters.
 */
#ifndef COORD_NODE_H
#define COORD_NODE_H

#include "errors.h"
#include "peer.h"
#include "raft.h"
#include "storage.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node node;

/* Applies the committed entry at index (len 0: nothing to apply but the index itself). Returns
 * 0, or -1 when the state machine can no longer be trusted (the node stops). */
typedef int (*node_apply_fn)(void *arg, uint64_t index, uint64_t term, const uint8_t *entry,
                             size_t len);
/* A linearizable read may run now (err == COORD_OK), on a reader thread; or it failed. */
typedef void (*node_read_fn)(void *arg, coord_err err);

typedef struct node_opts {
    storage *st;
    uint64_t applied_index; /* the state machine's, read at start */
    node_apply_fn apply;
    void *apply_arg;
    void (*on_tick)(void *arg); /* every tick, on the node thread */
    /* A snapshot from the leader: make the state machine equal to it (applied index included)
     * and write `raft_batch` (the log reset the node prepared) in the same synced write that
     * completes the install, so a crash leaves either the old state or the new one. */
    int (*install_snapshot)(void *arg, const raft_snapshot *snap, rocksdb_writebatch_t *raft_batch);
    /* A committed configuration change (raft_conf_change_encode data), applied in log order
     * like apply; the core switches configuration right after. Returns 0 or -1 (fatal). */
    int (*apply_conf)(void *arg, uint64_t index, uint64_t term, const uint8_t *data, size_t len);
    /* A change proposed with node_propose_conf_change that the leader refused or could not
     * propose within the request timeout; ctx is the caller's. */
    void (*conf_refused)(void *arg, const uint8_t *ctx, size_t ctx_len, coord_err err);
    /* Where the leader's snapshots come from (raft_store_set_snapshot_source), set before the
     * core starts; NULL: none are offered. */
    int (*snapshot_source)(void *arg, const raft_snapshot_meta *meta, raft_snapshot *out);
    void *snapshot_source_arg;
    /* A SNAP message to send: ship the state it names, then deliver the message; report the
     * outcome with node_report_snapshot. NULL: snapshots are not sent. */
    void (*send_snapshot)(void *arg, const raft_msg *m);
    void (*on_fatal)(void *arg);
    void *cb_arg;
    uint64_t self_id;
    const uint64_t *voters; /* bootstrap membership of a new cluster */
    size_t n_voters;
    peer_transport *peers; /* NULL: a cluster of one */
    int64_t tick_ms;       /* heartbeat interval */
    int election_ticks;    /* election timeout / heartbeat interval */
    uint64_t snapshot_count;
    uint64_t log_keep_entries;
    int64_t request_timeout_ms;
    uint64_t seed;
    bool debug_log; /* Raft's decision log to stderr */
} node_opts;

int node_start(const node_opts *o, node **out);
/* Queues a copy of entry for the log. Fails once the node is stopping. */
int node_propose(node *n, const uint8_t *entry, size_t len);
/* Asks for a read point; fn(arg, COORD_OK) runs on a reader thread once the member has applied
 * everything committed before the call. Reads arriving together share one ReadIndex round. */
int node_read_index(node *n, node_read_fn fn, void *arg);
/* An encoded Raft message from a peer (any thread). Garbage is dropped. */
void node_receive(node *n, uint64_t from, const uint8_t *msg, size_t len);
/* Transport feedback. */
void node_report_unreachable(node *n, uint64_t id);
void node_report_snapshot(node *n, uint64_t id, bool ok);
/* The raft storage view, for a snapshot source (raft_store_set_snapshot_source). */
struct raft_store *node_raft_store(node *n);
/* Proposes a membership change (on the leader; retried each tick while another change is in
 * flight). ctx travels with the change to apply_conf. */
int node_propose_conf_change(node *n, const raft_conf_change *cc, const uint8_t *ctx,
                             size_t ctx_len);
/* What the leader knows of member id's log (0 if not leader or unknown), and its own last index. */
uint64_t node_match_of(node *n, uint64_t id);
uint64_t node_last_index(node *n);
/* Asks the core to hand leadership to target. */
int node_transfer_leader(node *n, uint64_t target);
/* Stops the node thread and the readers; queued and waiting reads are answered "server stopped".
 * Afterwards every call but node_free fails harmlessly (other threads may still make them). */
void node_halt(node *n);
void node_free(node *n);

uint64_t node_term(node *n);
uint64_t node_commit_index(node *n);
uint64_t node_applied_index(node *n);
uint64_t node_leader(node *n); /* 0: none known */
bool node_failed(node *n);

#endif
