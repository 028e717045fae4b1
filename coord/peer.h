/* peer: Raft messages between members, over gRPC (coordpb.Raft) on the peer URLs.
 *
 * Outgoing: one long-lived stream per peer, opened by a sender thread that reconnects with
 * back-off (50 ms doubling to 1 s). A stream opens with a hello (an empty batch) that the
 * receiver answers with a RaftAccept once the IDs check out; only then is the peer up. Messages
 * queued for a peer go out in batches (many encoded raft messages per gRPC message: at most
 * PEER_BATCH_MAX_MSGS messages or PEER_BATCH_MAX_BYTES bytes, or one larger message alone), in
 * the order they were queued.
 *
 * peer_send never blocks. When a peer's queue is over its bound, or the peer is unreachable
 * (its sender is backing off after a failed attempt), the message is dropped and the peer is
 * reported unreachable through the `unreachable` callback, which Raft tolerates (it retries by
 * itself). Messages queued on a stream that then fails are dropped and reported the same way.
 * A batch that gRPC has not taken within PEER_STALL_MS (plus 1 ms per KiB of it) ends the
 * stream as stalled.
 *
 * Incoming: peer_register adds the coordpb.Raft service to an rpc_server listening on the peer
 * URLs. Every batch names the sender's cluster ID; a batch from another cluster is refused
 * (the stream ends with FAILED_PRECONDITION "etcdserver: cluster ID mismatch") and logged once
 * per stream, and nothing of it reaches Raft. So is a batch addressed to another member ID
 * ("coord: member ID mismatch"); a gRPC message that is not a RaftBatch ends its stream with
 * INVALID_ARGUMENT. Each accepted message is handed, still encoded, to `deliver`; the receiver
 * decodes it (raft_msg_decode rejects garbage).
 *
 * Threads: peer_send, peer_send_encoded, peer_add, peer_remove and peer_get_stats may be called
 * from any thread. `deliver` runs on the rpc_server's threads: one stream's messages in order,
 * one at a time, but streams from different peers concurrently. `unreachable` runs on the
 * transport's sender threads, never inside a call into the transport, and must not call
 * peer_remove or peer_destroy (they wait for those threads). Either may run until
 * peer_destroy returns, and neither may block for long: a blocked deliver holds up that peer's
 * stream (and, through flow control, fills its sender's queue).
 *
 * Shutdown order: rpc_server_shutdown of the server peer_register was given, then
 * peer_destroy (the server's stream handlers use the transport until it is shut down).
 */
#ifndef COORD_PEER_H
#define COORD_PEER_H

#include "rpc_server.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_RAFT_METHOD     "/coordpb.Raft/Stream"
#define PEER_BATCH_MAX_BYTES (1024 * 1024)
#define PEER_BATCH_MAX_MSGS  256
/* The receive limit the peer rpc_server must be created with (rpc_server_opts.max_recv_bytes);
 * a message too large for it is refused by peer_send. */
#define PEER_MAX_RECV_BYTES (64 * 1024 * 1024)
#define PEER_STALL_MS       5000

typedef struct peer_transport peer_transport;

typedef struct peer_opts {
    uint64_t cluster_id;
    uint64_t self_id;
    /* An encoded raft message from a peer (valid during the call). */
    void (*deliver)(void *arg, uint64_t from, const uint8_t *msg, size_t len);
    /* Messages to `to` were dropped (queue full, stream down): once per burst of drops. */
    void (*unreachable)(void *arg, uint64_t to);
    void *arg;
    size_t max_queue_bytes; /* per peer; 0: 64 MiB */
} peer_opts;

int peer_create(const peer_opts *o, peer_transport **out);
/* Registers the incoming coordpb.Raft service on srv (before rpc_server_start). */
int peer_register(peer_transport *p, rpc_server *srv);
/* Starts sending to member id at "host:port" (a peer URL's address). Re-adding updates it
 * (the stream is reopened to the new address). Returns 0, or -1 (id 0 or self, no memory). */
int peer_add(peer_transport *p, uint64_t id, const char *host_port);
/* Copies member id's "host:port" into out (cap bytes, NUL-terminated), for other streams to the
 * same peer (snapshots). Returns 0, or -1 for an unknown id or a cap too small. */
int peer_addr(peer_transport *p, uint64_t id, char *out, size_t cap);
/* Stops sending to id (dropping what is queued) and waits for its sender thread to end. */
void peer_remove(peer_transport *p, uint64_t id);
/* Queues a copy of one encoded raft message for `to`. Returns 0, or -1 if dropped (an unknown
 * `to` is dropped without a report). */
int peer_send(peer_transport *p, uint64_t to, const uint8_t *msg, size_t len);
/* As peer_send, but the message is written straight into the outgoing batch: encode(arg, dst)
 * must write exactly len bytes to dst and return true (false drops the message, unreported).
 * It runs under the peer's lock: it must not call into the transport. Saves the caller a
 * buffer and a copy per message (raft_msg_encoded_size + raft_msg_encode fit it). */
typedef bool (*peer_encode_fn)(void *arg, uint8_t *dst, size_t len);
int peer_send_encoded(peer_transport *p, uint64_t to, size_t len, peer_encode_fn encode, void *arg);

typedef struct peer_stats {
    bool up;             /* a stream is open and the peer accepted it */
    uint64_t sent_msgs;  /* messages handed to gRPC */
    uint64_t batches;    /* gRPC messages (batches, hellos not counted) */
    uint64_t dropped;    /* messages dropped (queue full, unreachable, failed stream) */
    uint64_t reconnects; /* streams opened after the first */
    size_t queued_bytes; /* waiting to be sent */
} peer_stats;
/* The counters for peer id. Returns 0, or -1 for an unknown id. */
int peer_get_stats(peer_transport *p, uint64_t id, peer_stats *out);

/* Stops every sender thread and frees everything. */
void peer_destroy(peer_transport *p);

#endif
