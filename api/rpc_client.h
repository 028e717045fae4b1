/* rpc_client: a small gRPC client on the gRPC C core, for libcoord and the peer transport.
 *
 * A channel connects to one "host:port" (lazily, reconnecting as gRPC does) and is safe to
 * use from any number of threads. Unary calls are synchronous. A client stream is a
 * bidirectional call used by one thread, or by one sending thread and one receiving thread
 * at a time; rpc_cstream_cancel may be called from any thread.
 *
 * Ownership: rpc_buf and rpc_reply hold their bytes until rpc_buf_free/rpc_reply_free. A
 * stream is freed by rpc_cstream_destroy (which cancels it if still open). Destroy every
 * stream before its channel.
 */
#ifndef COORD_API_RPC_CLIENT_H
#define COORD_API_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <pb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_channel rpc_channel;
typedef struct rpc_cstream rpc_cstream;

/* A received message: data[0..len) stays valid until rpc_buf_free. */
typedef struct rpc_buf {
    const uint8_t *data;
    size_t len;
    grpc_slice slice; /* owns the bytes */
} rpc_buf;
void rpc_buf_free(rpc_buf *b);

/* The outcome of a unary call: status, message (NUL-terminated, "" if none), response body
 * (empty unless code is OK). */
typedef struct rpc_reply {
    grpc_status_code code;
    char *message;
    rpc_buf body;
} rpc_reply;
void rpc_reply_free(rpc_reply *r);

/* Request metadata, e.g. {"token", "..."} or {"hasleader", "true"}. */
typedef struct rpc_md {
    const char *key; /* lower case, as gRPC requires */
    const char *value;
} rpc_md;

typedef struct rpc_call_opts {
    int64_t timeout_ms; /* <= 0: no deadline */
    const rpc_md *md;
    size_t md_count;
} rpc_call_opts;

/* max_recv_bytes 0 means unlimited. Returns 0, or -1 for an unusable target. */
int rpc_channel_create(const char *host_port, size_t max_recv_bytes, rpc_channel **out);
void rpc_channel_destroy(rpc_channel *ch);

/* Calls method_path ("/etcdserverpb.KV/Range") with req[0..req_len) and waits for the
 * answer. Always fills *out (free it with rpc_reply_free) and returns out->code; failures on
 * this side are reported as statuses too (INTERNAL, DEADLINE_EXCEEDED, UNAVAILABLE). */
grpc_status_code rpc_call(rpc_channel *ch, const char *method_path, const uint8_t *req,
                          size_t req_len, const rpc_call_opts *opts, rpc_reply *out);
/* As rpc_call, encoding the request with pbx. */
grpc_status_code rpc_call_msg(rpc_channel *ch, const char *method_path,
                              const pb_msgdesc_t *req_desc, const void *req,
                              const rpc_call_opts *opts, rpc_reply *out);

/* Opens a bidirectional stream (opts->timeout_ms bounds the whole call). Returns 0, or -1 on
 * a local failure. A server that cannot be reached shows as a failed send or an early end. */
int rpc_cstream_open(rpc_channel *ch, const char *method_path, const rpc_call_opts *opts,
                     rpc_cstream **out);
/* Sends one message and waits until gRPC has taken it (flow control may hold it). Returns 0,
 * or -1 once the stream is over. */
int rpc_cstream_send(rpc_cstream *s, const uint8_t *msg, size_t len);
int rpc_cstream_send_msg(rpc_cstream *s, const pb_msgdesc_t *desc, const void *msg);
/* Half-closes: no more sends; the server sees the end of the client's messages. */
int rpc_cstream_close_send(rpc_cstream *s);

enum { RPC_RECV_MSG = 1, RPC_RECV_END = 0, RPC_RECV_TIMEOUT = -1 };
/* Waits up to timeout_ms (< 0: forever) for the next message. RPC_RECV_MSG fills *out;
 * RPC_RECV_END means the server ended the stream (or it was cancelled): see
 * rpc_cstream_status; RPC_RECV_TIMEOUT leaves the receive pending for the next call. */
int rpc_cstream_recv(rpc_cstream *s, int64_t timeout_ms, rpc_buf *out);
/* Cancels the call; pending and later operations end at once. Any thread. */
void rpc_cstream_cancel(rpc_cstream *s);
/* Waits for the call's final status (after RPC_RECV_END, or after a cancel). *message (if
 * not NULL) gets a malloc'ed copy of the status message. */
grpc_status_code rpc_cstream_status(rpc_cstream *s, char **message);
void rpc_cstream_destroy(rpc_cstream *s);

#endif
