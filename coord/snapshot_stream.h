/* snapshot_stream: one snapshot from member to member over coordpb.Raft/Snapshot (coord.proto).
 *
 * Sending (snapshot_sender_run, blocking, on a thread of the caller's): the files of a
 * checkpoint directory go out one after the other in chunks of chunk_bytes, read from disk as
 * they are sent (one chunk in memory; gRPC's flow control paces the reads), then a last message
 * with the encoded Raft SNAP message and the totals. The call succeeds once the receiver answers
 * with its SnapshotAck, which it sends only after the files are durable and the message is in
 * its Raft node's hands. The stream has its own connection, so Raft's message stream to the same
 * peer keeps flowing meanwhile.
 *
 * Receiving (snapshot_recv, on a peer rpc_server): every chunk is checked as a RaftBatch is
 * (cluster, member, sender unchanged) and written at once into a fresh directory
 * <incoming>/tmp-<from>-<n>; names must be plain (snapshot_file_name_ok) and each file must
 * arrive whole and in order. After the last message the receiver's worker thread, not the
 * rpc thread, fsyncs every file and the directory, renames it to <incoming>/<snapshot name>
 * (an existing one of that name is the same checkpoint, received before: it is kept), hands
 * the SNAP message to `deliver`, and acks. A stream that ends any other way leaves nothing.
 *
 * Threads: snapshot_sender_cancel may be called from any thread while run runs; it makes run
 * return -1 soon. `deliver` runs on the receiver's worker thread.
 * Shutdown: rpc_server_shutdown of the server, then snapshot_recv_destroy, then
 * rpc_server_destroy (the worker holds stream references until it ends).
 */
#ifndef COORD_SNAPSHOT_STREAM_H
#define COORD_SNAPSHOT_STREAM_H

#include "rpc_server.h"
#include "snapshot_files.h"

#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_METHOD      "/coordpb.Raft/Snapshot"
#define SNAPSHOT_CHUNK_BYTES (1024 * 1024)

/* ---- sending ---- */

typedef struct snapshot_send_opts {
    const char *host_port; /* the receiver's peer address */
    uint64_t cluster_id, from, to;
    const char *dir; /* the checkpoint */
    const snapshot_file *files;
    size_t n_files;
    const uint8_t *raft_msg; /* the encoded SNAP message, sent last */
    size_t raft_msg_len;
    size_t chunk_bytes; /* 0: SNAPSHOT_CHUNK_BYTES */
} snapshot_send_opts;

typedef struct snapshot_sender snapshot_sender;

int snapshot_sender_create(snapshot_sender **out);
/* Sends it all and waits for the ack. Returns 0 once acked, or -1 with a malloc'd *err. */
int snapshot_sender_run(snapshot_sender *s, const snapshot_send_opts *o, char **err);
void snapshot_sender_cancel(snapshot_sender *s);
void snapshot_sender_free(snapshot_sender *s);

/* ---- receiving ---- */

typedef struct snapshot_recv_opts {
    uint64_t cluster_id, self_id;
    const char *incoming_dir; /* created if missing */
    /* The SNAP message, once its files are durable in <incoming>/<snapshot name>. */
    void (*deliver)(void *arg, uint64_t from, const uint8_t *msg, size_t len);
    void *arg;
} snapshot_recv_opts;

typedef struct snapshot_recv snapshot_recv;

int snapshot_recv_create(const snapshot_recv_opts *o, snapshot_recv **out);
/* Adds coordpb.Raft/Snapshot to srv (before rpc_server_start). */
int snapshot_recv_register(snapshot_recv *r, rpc_server *srv);
/* Ends the worker (snapshots not yet delivered are dropped) and frees everything. */
void snapshot_recv_destroy(snapshot_recv *r);

#endif
