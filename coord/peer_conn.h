/* peer_conn: one outgoing coordpb.Raft/Stream call to one peer, with a channel of its own.
 *
 * Written on the gRPC C core directly rather than on api/rpc_client because a peer link needs
 * channel settings a general client does not: gRPC's own reconnect back-off capped at 1 s
 * (its default grows to 2 minutes, which would keep a restarted member unreached that long), a
 * 1 s connect timeout, keepalive pings so a dead peer is noticed, and a subchannel that no
 * other channel shares (so its back-off state is this link's alone).
 *
 * The call fails fast (no wait-for-ready): a send on a link whose peer is down fails as soon as
 * the connection attempt does. A send that gRPC has not taken within stall_ms cancels the call.
 *
 * Threads: one thread opens, sends, receives and closes; peer_conn_cancel may be called from any
 * thread until peer_conn_close begins.
 */
#ifndef COORD_PEER_CONN_H
#define COORD_PEER_CONN_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

typedef struct peer_conn peer_conn;

/* Creates the channel to "host:port" and starts the call. Returns 0, or -1 on a local
 * failure (out of memory, an address gRPC cannot parse). */
int peer_conn_open(const char *host_port, const char *method_path, peer_conn **out);
/* Sends one message (copied) and waits until gRPC has taken it, at most stall_ms. Returns 0,
 * or -1 once the call is over (then see peer_conn_status). */
int peer_conn_send(peer_conn *c, const uint8_t *msg, size_t len, int64_t stall_ms);
/* Waits at most timeout_ms for the next message from the server (its content is not needed).
 * Returns 0 when one came, or -1 once the call is over (a timeout ends the call). */
int peer_conn_recv(peer_conn *c, int64_t timeout_ms);
/* Ends the call at once; a blocked send or receive returns -1. */
void peer_conn_cancel(peer_conn *c);
/* After a failed send or receive: the call's final status, and a malloc'ed copy of its message in
 * *message (if not NULL; NULL when out of memory). Waits for the status, which a failed send
 * implies. */
grpc_status_code peer_conn_status(peer_conn *c, char **message);
/* Cancels the call if it is still open and frees everything. */
void peer_conn_close(peer_conn *c);

#endif
