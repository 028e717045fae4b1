/* rpc_server_internal: what the server layer's files share (rpc_server.c: lifecycle and
 * unknown methods; rpc_server_unary.c; rpc_server_stream.c). Not for use outside api/.
 *
 * Every completion carries a `tag` embedded in the object it belongs to; the queue thread
 * calls tag->fn. A call is bound to the completion queue it was requested on, so every
 * completion of one call, and so every callback of one stream, runs on that queue's thread.
 *
 * Batches: grpc requires batches on one call to be started under mutual exclusion, and a
 * batch may not be started once its completion queue shuts down. So every batch starts
 * under the object's mutex and through srv_start_batch, which holds the server's `gate` read
 * lock; shutdown takes the gate for writing to close it before it shuts the queues down. A
 * batch that cannot start is treated like a batch that failed.
 */
#ifndef COORD_API_RPC_SERVER_INTERNAL_H
#define COORD_API_RPC_SERVER_INTERNAL_H

#include "rpc_server.h"

#include <pthread.h>

typedef struct tag tag;
struct tag {
    void (*fn)(tag *t, bool ok);
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef enum method_kind { METHOD_UNARY, METHOD_STREAM } method_kind;

typedef struct method {
    char *path;
    method_kind kind;
    void *handle; /* grpc_server_register_method's handle */
    void *ctx;
    rpc_unary_fn unary;
    rpc_stream_handlers stream;
} method;

struct rpc_server {
    grpc_server *server;
    int nthreads;
    grpc_completion_queue **cqs;
    pthread_t *threads;
    int threads_started;
    method **methods;
    size_t nmethods;
    size_t max_recv_bytes;
    bool started;
    bool shut_down;

    /* Read-held around every batch start and call request; write-held to set `closed`. */
    pthread_rwlock_t gate;
    bool closed; /* no batch or request may start: the queues are shutting down */

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool shutdown_notified;
    size_t live; /* calls (unary, stream, unknown) and pending requests not yet freed */
    tag t_shutdown;
};

/* Counts an object that must be freed before rpc_server_destroy returns. */
void srv_live_add(rpc_server *srv);
void srv_live_drop(rpc_server *srv);
/* Starts a batch unless the server is closing. Caller holds the call's own lock. */
bool srv_start_batch(rpc_server *srv, grpc_call *call, const grpc_op *ops, size_t n, tag *t);
/* Posts one request for a call of method m on cq. Returns 0, or -1 if the server is closing
 * or out of memory. */
int srv_unary_request(rpc_server *srv, method *m, grpc_completion_queue *cq);
int srv_stream_request(rpc_server *srv, method *m, grpc_completion_queue *cq);

#endif
