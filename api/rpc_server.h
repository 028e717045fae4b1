/* rpc_server: a small gRPC server on the gRPC C core, for etcd's v3 API and coord's own.
 *
 * Threads: `threads` completion-queue threads poll for calls and run the handlers. Handlers
 * must not block on disk or consensus: a unary handler may answer at once or later, from any
 * thread, exactly once. Methods that were not added answer UNIMPLEMENTED at once.
 * Messages larger than max_recv_bytes are refused by the core (RESOURCE_EXHAUSTED) before any
 * handler runs. A request with no message is answered INVALID_ARGUMENT by the layer.
 *
 * Ownership: the layer owns every rpc_unary until it is answered, and every rpc_stream until
 * its last reference is dropped. rpc_server_shutdown cancels all calls (streams get on_close),
 * stops the threads, and leaves nothing allocated once rpc_server_destroy returns.
 */
#ifndef COORD_API_RPC_SERVER_H
#define COORD_API_RPC_SERVER_H

#include <grpc/grpc.h>
#include <pb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_server rpc_server;
typedef struct rpc_unary rpc_unary;
typedef struct rpc_stream rpc_stream;

typedef struct rpc_server_opts {
    int threads;           /* completion queues, one thread each (>= 1) */
    size_t max_recv_bytes; /* gRPC receive limit; etcd uses max-request-bytes + 512 KiB */
} rpc_server_opts;

int rpc_server_create(const rpc_server_opts *opts, rpc_server **out);
/* Binds "host:port" (port 0 picks one). Returns the bound port, or -1. Before start. */
int rpc_server_listen(rpc_server *srv, const char *host_port);

/* req/req_len: the request message, valid only during the call (copy what you keep). */
typedef void (*rpc_unary_fn)(void *ctx, rpc_unary *call, const uint8_t *req, size_t req_len);
int rpc_server_add_unary(rpc_server *srv, const char *method_path, rpc_unary_fn fn, void *ctx);

/* Answers (exactly one of these, once, from any thread). reply takes the response's ownership. */
void rpc_unary_reply(rpc_unary *call, grpc_byte_buffer *response);
/* Encodes msg with desc and replies; on an encoding failure answers INTERNAL. */
void rpc_unary_reply_msg(rpc_unary *call, const pb_msgdesc_t *desc, const void *msg);
void rpc_unary_fail(rpc_unary *call, grpc_status_code code, const char *message);
/* The value of request metadata `key` ("hasleader", "token"), or NULL; valid until answered. */
const char *rpc_unary_metadata(rpc_unary *call, const char *key, size_t *len);

/* Bidirectional (or server-streaming) methods. on_open runs first and may set *state;
 * on_message runs for each client message, never concurrently with another callback of the
 * same stream; on_close runs once, last, when the client half-closes, goes away, or the server
 * shuts down (after it, sends fail). The stream reference passed to callbacks is valid until
 * on_close returns; take rpc_stream_ref to keep it longer. After a client half-close, messages
 * already queued still go out, then status OK.
 * on_half_close (optional): when set, a client half-close calls it instead, and the stream
 * stays open for sends until the handler calls rpc_stream_finish (replies computed later still
 * reach the client); on_close then runs when the call is over. */
typedef struct rpc_stream_handlers {
    void (*on_open)(void *ctx, rpc_stream *s, void **state);
    void (*on_message)(void *ctx, rpc_stream *s, void *state, const uint8_t *msg, size_t len);
    void (*on_close)(void *ctx, rpc_stream *s, void *state);
    void (*on_half_close)(void *ctx, rpc_stream *s, void *state);
} rpc_stream_handlers;
int rpc_server_add_stream(rpc_server *srv, const char *method_path, const rpc_stream_handlers *h,
                          void *ctx);

/* Queues one message (ownership taken) from any thread; messages go out in order, one
 * SEND_MESSAGE in flight. Returns -1 (and frees it) once the stream is closed. */
int rpc_stream_send(rpc_stream *s, grpc_byte_buffer *msg);
int rpc_stream_send_msg(rpc_stream *s, const pb_msgdesc_t *desc, const void *msg);
/* Bytes queued and not yet sent: lets a producer notice a slow client. */
size_t rpc_stream_queued_bytes(rpc_stream *s);
/* Ends the stream with a status once queued messages are sent. */
void rpc_stream_finish(rpc_stream *s, grpc_status_code code, const char *message);
const char *rpc_stream_metadata(rpc_stream *s, const char *key, size_t *len);
void rpc_stream_ref(rpc_stream *s);
void rpc_stream_unref(rpc_stream *s);

int rpc_server_start(rpc_server *srv);
/* Cancels every call and waits for the threads; callbacks have all returned afterwards.
 * Answers and sends made after it are dropped (still answer every pending unary call). */
void rpc_server_shutdown(rpc_server *srv);
/* Shuts down if needed, then waits until every unary call has been answered and every
 * stream reference dropped, and frees everything. */
void rpc_server_destroy(rpc_server *srv);

#endif
