/* snapshot: Raft snapshots in the running server — the leader's source, the shipping, the
 * follower's install — wired to the node's hooks (node.h) and the peer listener.
 *
 * Leader: when the Raft core needs a snapshot for a follower (the raft store's snapshot source,
 * on the node thread) and the current checkpoint is behind the snapshot point it names, a maker
 * thread takes a new one into <data-dir>/snap/<name> (snapshot_store.h: what its metadata is
 * and why); meanwhile the core hears "temporarily unavailable" and asks again at the next
 * heartbeat, so the node thread never waits for a checkpoint. A checkpoint is reused while it
 * is at or past the snapshot point, removed once superseded and no send uses it, and dropped
 * after SNAPSHOT_IDLE_MS unused (it pins SST files the live database has moved past). A SNAP
 * message (snapshot_send_hook) starts a sender thread for its target — one at a time per
 * target — that streams the files (snapshot_stream.h) and reports the outcome with
 * node_report_snapshot.
 *
 * Follower: the receiver puts the files in <data-dir>/snap.incoming/<name> and hands the SNAP
 * message to the node, which calls snapshot_install_hook on its thread: the MVCC store is
 * paused (no reader sees a half-installed state), the state installed, the store resumed, the
 * lease table reloaded from the new state, watchers told the new revision, and the `reloaded`
 * hook run for whatever else caches the state machine.
 *
 * Start: snapshot_startup, before the state machine opens the database, finishes an install a
 * crash interrupted and clears what is left in both directories.
 *
 * Test seam: COORD_TEST_CRASH_IN_SNAPSHOT_INSTALL=N kills the member (SIGKILL, as kill -9)
 * right after the Nth batch of its next install, with 64 KiB batches so that even a small
 * snapshot takes many. Never set outside tests.
 */
#ifndef COORD_SNAPSHOT_H
#define COORD_SNAPSHOT_H

#include "raft.h"
#include "server.h"

#define SNAPSHOT_IDLE_MS (60 * 1000)

/* Finishes an interrupted install and clears <data_dir>/snap and <data_dir>/snap.incoming.
 * Returns 0, or -1 (logged) when the member must not start. */
int snapshot_startup(storage *st, const char *data_dir);

typedef struct snapshot_mgr snapshot_mgr;

typedef struct snapshot_mgr_opts {
    coord_server *srv; /* st, kv, leases, peers, peer_rpc, log, IDs, cfg->data_dir */
    /* After an install, on the node thread: reload what else caches the state machine. */
    void (*reloaded)(void *arg);
    void *reloaded_arg;
} snapshot_mgr_opts;

/* Creates the manager and registers coordpb.Raft/Snapshot on srv->peer_rpc (before it starts).
 * Put the result in srv->snapshots for the hooks below. */
int snapshot_mgr_create(const snapshot_mgr_opts *o, snapshot_mgr **out);
/* The node's snapshot source, given in node_opts.snapshot_source so that it is in place before
 * the core starts (arg is the snapshot_mgr). */
int snapshot_mgr_source(void *arg, const raft_snapshot_meta *point, raft_snapshot *out);
/* After rpc_server_shutdown(peer_rpc) and node_halt, before node_free and peer_destroy: ends
 * the sends (cancelled), the maker and the receiver, and removes the checkpoints. */
void snapshot_mgr_destroy(snapshot_mgr *m);

/* node_opts hooks; arg is the coord_server (the node's cb_arg). */
int snapshot_install_hook(void *arg, const raft_snapshot *snap, rocksdb_writebatch_t *raft_batch);
void snapshot_send_hook(void *arg, const raft_msg *m);

#endif
