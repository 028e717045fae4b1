/* rpc_server_unary: unary calls, answered once from any thread. Contract in rpc_server.h. */
#include "pbx.h"
#include "rpc_common.h"
#include "rpc_server_internal.h"

#include <stdlib.h>
#include <string.h>

struct rpc_unary {
    rpc_server *srv;
    method *m;
    grpc_completion_queue *cq;
    tag t_new, t_close, t_done;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;

    pthread_mutex_t mu;
    int refs;      /* the handler until answered, + each batch in flight */
    bool closed;   /* RECV_CLOSE_ON_SERVER completed: answers go nowhere */
    int cancelled; /* set by RECV_CLOSE_ON_SERVER */
    grpc_byte_buffer *response;
    grpc_slice details;
    bool has_details;
};

static void unary_new(tag *t, bool ok);
static void unary_closed(tag *t, bool ok);
static void unary_done(tag *t, bool ok);

static void unary_free(rpc_unary *u)
{
    rpc_server *srv = u->srv;
    if (u->response) grpc_byte_buffer_destroy(u->response);
    if (u->payload) grpc_byte_buffer_destroy(u->payload);
    if (u->has_details) grpc_slice_unref(u->details);
    grpc_metadata_array_destroy(&u->md);
    if (u->call) grpc_call_unref(u->call);
    pthread_mutex_destroy(&u->mu);
    free(u);
    srv_live_drop(srv);
}

static void unary_unref(rpc_unary *u)
{
    pthread_mutex_lock(&u->mu);
    int left = --u->refs;
    pthread_mutex_unlock(&u->mu);
    if (left == 0) unary_free(u);
}

int srv_unary_request(rpc_server *srv, method *m, grpc_completion_queue *cq)
{
    rpc_unary *u = calloc(1, sizeof(*u));
    if (!u) return -1;
    u->srv = srv;
    u->m = m;
    u->cq = cq;
    u->t_new.fn = unary_new;
    u->t_close.fn = unary_closed;
    u->t_done.fn = unary_done;
    pthread_mutex_init(&u->mu, NULL);
    grpc_metadata_array_init(&u->md);
    srv_live_add(srv);
    pthread_rwlock_rdlock(&srv->gate);
    bool ok = !srv->closed && grpc_server_request_registered_call(
                                  srv->server, m->handle, &u->call, &u->deadline, &u->md,
                                  &u->payload, cq, cq, &u->t_new) == GRPC_CALL_OK;
    pthread_rwlock_unlock(&srv->gate);
    if (!ok) {
        unary_free(u);
        return -1;
    }
    return 0;
}

static void unary_new(tag *t, bool ok)
{
    rpc_unary *u = CONTAINER(t, rpc_unary, t_new);
    if (!ok) { /* the server is shutting down: the request was never matched */
        unary_free(u);
        return;
    }
    srv_unary_request(u->srv, u->m, u->cq);

    /* Watching for the end of the call lets a late answer (after a cancel or a shutdown) be
     * dropped instead of starting a batch on a dead call. */
    u->refs = 1;
    grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close_op.data.recv_close_on_server.cancelled = &u->cancelled;
    pthread_mutex_lock(&u->mu);
    if (srv_start_batch(u->srv, u->call, &close_op, 1, &u->t_close))
        u->refs++;
    else
        u->closed = true;
    pthread_mutex_unlock(&u->mu);

    if (!u->payload) {
        rpc_unary_fail(u, GRPC_STATUS_INVALID_ARGUMENT, "missing request message");
        return;
    }
    grpc_slice req = rpc_flatten(u->payload);
    grpc_byte_buffer_destroy(u->payload);
    u->payload = NULL;
    u->m->unary(u->m->ctx, u, GRPC_SLICE_START_PTR(req), GRPC_SLICE_LENGTH(req));
    grpc_slice_unref(req);
}

static void unary_closed(tag *t, bool ok)
{
    (void)ok;
    rpc_unary *u = CONTAINER(t, rpc_unary, t_close);
    pthread_mutex_lock(&u->mu);
    u->closed = true;
    pthread_mutex_unlock(&u->mu);
    unary_unref(u);
}

static void unary_done(tag *t, bool ok)
{
    (void)ok; /* a failed send means the client is gone; nothing to do either way */
    unary_unref(CONTAINER(t, rpc_unary, t_done));
}

static void unary_answer(rpc_unary *u, grpc_byte_buffer *response, grpc_status_code code,
                         const char *message)
{
    pthread_mutex_lock(&u->mu);
    if (u->closed) {
        if (response) grpc_byte_buffer_destroy(response);
    } else {
        u->response = response;
        if (message) {
            u->details = grpc_slice_from_copied_string(message);
            u->has_details = true;
        }
        grpc_op ops[3];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (response) {
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n++].data.send_message.send_message = response;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = code;
        ops[n++].data.send_status_from_server.status_details = u->has_details ? &u->details : NULL;
        if (srv_start_batch(u->srv, u->call, ops, n, &u->t_done)) u->refs++;
    }
    pthread_mutex_unlock(&u->mu);
    unary_unref(u); /* the handler's reference: answered */
}

void rpc_unary_reply(rpc_unary *call, grpc_byte_buffer *response)
{
    unary_answer(call, response, GRPC_STATUS_OK, NULL);
}

void rpc_unary_reply_msg(rpc_unary *call, const pb_msgdesc_t *desc, const void *msg)
{
    grpc_byte_buffer *bb = pbx_encode_bb(desc, msg);
    if (!bb)
        unary_answer(call, NULL, GRPC_STATUS_INTERNAL, "failed to encode the response");
    else
        unary_answer(call, bb, GRPC_STATUS_OK, NULL);
}

void rpc_unary_fail(rpc_unary *call, grpc_status_code code, const char *message)
{
    unary_answer(call, NULL, code, message);
}

const char *rpc_unary_metadata(rpc_unary *call, const char *key, size_t *len)
{
    return rpc_find_metadata(&call->md, key, len);
}
