/* rpc_server: the gRPC C core server layer. Contract in rpc_server.h.
 *
 * Every completion carries a `tag` embedded in the object it belongs to; the cq thread calls
 * tag->fn. A call is bound to the completion queue it was requested on, so every completion of
 * one call, and so every callback of one stream, runs on that queue's single thread.
 *
 * Batches: grpc requires batches on one call to be started under mutual exclusion, and a
 * batch may not be started once its completion queue shuts down. So every start_batch runs
 * under the object's mutex and under the server's `gate` read lock, and shutdown takes the
 * gate for writing to close it before it shuts the queues down. A batch that cannot start is
 * treated like a batch that failed.
 */
#include "rpc_server.h"

#include "pbx.h"
#include "rpc_common.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Calls requested ahead per method and queue: a burst of new calls is matched at once while
 * the queue thread re-requests. Streams are long-lived, so fewer. */
#define UNARY_PREREQUESTS   8
#define STREAM_PREREQUESTS  2
#define GENERIC_PREREQUESTS 2

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

/* ---- server-wide helpers ---- */

static void live_add(rpc_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv->live++;
    pthread_mutex_unlock(&srv->mu);
}

static void live_drop(rpc_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    if (--srv->live == 0) pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
}

/* Starts a batch unless the server is closing. Caller holds the call's own lock. */
static bool start_batch(rpc_server *srv, grpc_call *call, const grpc_op *ops, size_t n, tag *t)
{
    pthread_rwlock_rdlock(&srv->gate);
    bool ok = !srv->closed && grpc_call_start_batch(call, ops, n, t, NULL) == GRPC_CALL_OK;
    pthread_rwlock_unlock(&srv->gate);
    return ok;
}

/* ---- unary calls ---- */

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
    live_drop(srv);
}

static void unary_unref(rpc_unary *u)
{
    pthread_mutex_lock(&u->mu);
    int left = --u->refs;
    pthread_mutex_unlock(&u->mu);
    if (left == 0) unary_free(u);
}

/* Posts one request for a call of method m on cq. Returns 0, or -1 if the server is closing
 * or out of memory (the method then has one request fewer; harmless when closing). */
static int unary_request(rpc_server *srv, method *m, grpc_completion_queue *cq)
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
    live_add(srv);
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
    unary_request(u->srv, u->m, u->cq);

    /* Watching for the end of the call lets a late answer (after a cancel or a shutdown) be
     * dropped instead of starting a batch on a dead call. */
    u->refs = 1;
    grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close_op.data.recv_close_on_server.cancelled = &u->cancelled;
    pthread_mutex_lock(&u->mu);
    if (start_batch(u->srv, u->call, &close_op, 1, &u->t_close))
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
        if (start_batch(u->srv, u->call, ops, n, &u->t_done)) u->refs++;
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

/* ---- streams ---- */

typedef struct send_node {
    struct send_node *next;
    grpc_byte_buffer *bb;
    size_t bytes;
} send_node;

struct rpc_stream {
    rpc_server *srv;
    method *m;
    grpc_completion_queue *cq;
    tag t_new, t_meta, t_recv, t_send, t_status, t_close;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *recv_bb;
    int cancelled;
    void *state; /* the handlers' per-stream state, set by on_open */

    pthread_mutex_t mu;
    int refs;               /* the layer until on_close returned, + batches, + rpc_stream_ref */
    send_node *head, *tail; /* head is in flight when send_inflight */
    size_t queued_bytes;
    bool send_inflight;
    bool send_closed;   /* sends are refused: finishing, on_close begun, or the call is over */
    bool status_wanted; /* rpc_stream_finish (or a half-close) asked for a status */
    bool status_started;
    grpc_status_code status;
    grpc_slice details;
    bool has_details;
    bool recv_pending; /* the one RECV_MESSAGE is in flight */
    bool half_closed;  /* the client sent its last message */
    bool over;         /* RECV_CLOSE_ON_SERVER completed, or the server is closing */
    bool close_called; /* on_close has run or is running */
};

static void stream_new(tag *t, bool ok);
static void stream_meta(tag *t, bool ok);
static void stream_recv(tag *t, bool ok);
static void stream_sent(tag *t, bool ok);
static void stream_status(tag *t, bool ok);
static void stream_closed(tag *t, bool ok);

static void drop_queue_locked(rpc_stream *s)
{
    send_node *n = s->send_inflight ? s->head->next : s->head;
    if (s->send_inflight)
        s->head->next = NULL, s->tail = s->head;
    else
        s->head = s->tail = NULL;
    while (n) {
        send_node *next = n->next;
        s->queued_bytes -= n->bytes;
        grpc_byte_buffer_destroy(n->bb);
        free(n);
        n = next;
    }
}

static void stream_free(rpc_stream *s)
{
    rpc_server *srv = s->srv;
    s->send_inflight = false;
    drop_queue_locked(s);
    if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
    if (s->has_details) grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->md);
    if (s->call) grpc_call_unref(s->call);
    pthread_mutex_destroy(&s->mu);
    free(s);
    live_drop(srv);
}

void rpc_stream_ref(rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void rpc_stream_unref(rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left == 0) stream_free(s);
}

static int stream_request(rpc_server *srv, method *m, grpc_completion_queue *cq)
{
    rpc_stream *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    s->srv = srv;
    s->m = m;
    s->cq = cq;
    s->t_new.fn = stream_new;
    s->t_meta.fn = stream_meta;
    s->t_recv.fn = stream_recv;
    s->t_send.fn = stream_sent;
    s->t_status.fn = stream_status;
    s->t_close.fn = stream_closed;
    pthread_mutex_init(&s->mu, NULL);
    grpc_metadata_array_init(&s->md);
    live_add(srv);
    pthread_rwlock_rdlock(&srv->gate);
    bool ok = !srv->closed &&
              grpc_server_request_registered_call(srv->server, m->handle, &s->call, &s->deadline,
                                                  &s->md, NULL, cq, cq, &s->t_new) == GRPC_CALL_OK;
    pthread_rwlock_unlock(&srv->gate);
    if (!ok) {
        stream_free(s);
        return -1;
    }
    return 0;
}

static void start_status_locked(rpc_stream *s)
{
    grpc_op op = {.op = GRPC_OP_SEND_STATUS_FROM_SERVER};
    op.data.send_status_from_server.status = s->status;
    op.data.send_status_from_server.status_details = s->has_details ? &s->details : NULL;
    s->status_started = true;
    if (start_batch(s->srv, s->call, &op, 1, &s->t_status)) s->refs++;
}

static void start_send_locked(rpc_stream *s)
{
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = s->head->bb;
    if (start_batch(s->srv, s->call, &op, 1, &s->t_send)) {
        s->send_inflight = true;
        s->refs++;
    } else {
        s->over = true;
        s->send_closed = true;
        drop_queue_locked(s);
    }
}

static void start_recv_locked(rpc_stream *s)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &s->recv_bb;
    if (start_batch(s->srv, s->call, &op, 1, &s->t_recv)) {
        s->recv_pending = true;
        s->refs++;
    }
}

static void finish_locked(rpc_stream *s, grpc_status_code code, const char *message)
{
    if (s->status_wanted || s->over) return;
    s->status_wanted = true;
    s->send_closed = true;
    s->status = code;
    if (message) {
        s->details = grpc_slice_from_copied_string(message);
        s->has_details = true;
    }
    if (!s->send_inflight) start_status_locked(s);
}

/* Runs on_close once the stream can get no other callback: the call is over or the client
 * half-closed (without an on_half_close handler), and no RECV_MESSAGE is in flight.
 * Called on the stream's queue thread without s->mu held. */
static void maybe_close(rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool half = s->half_closed && !s->m->stream.on_half_close;
    if (s->close_called || s->recv_pending || !(s->over || half)) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->close_called = true;
    s->send_closed = true;
    pthread_mutex_unlock(&s->mu);

    if (s->m->stream.on_close) s->m->stream.on_close(s->m->ctx, s, s->state);

    pthread_mutex_lock(&s->mu);
    /* After a half-close the queued replies still go out, then an OK status. */
    finish_locked(s, GRPC_STATUS_OK, NULL);
    pthread_mutex_unlock(&s->mu);
    rpc_stream_unref(s); /* the layer's reference */
}

static void stream_new(tag *t, bool ok)
{
    rpc_stream *s = CONTAINER(t, rpc_stream, t_new);
    if (!ok) {
        stream_free(s);
        return;
    }
    stream_request(s->srv, s->m, s->cq);

    s->refs = 1;
    grpc_op meta = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close_op.data.recv_close_on_server.cancelled = &s->cancelled;
    pthread_mutex_lock(&s->mu);
    if (start_batch(s->srv, s->call, &meta, 1, &s->t_meta)) s->refs++;
    if (start_batch(s->srv, s->call, &close_op, 1, &s->t_close))
        s->refs++;
    else
        s->over = s->send_closed = true;
    pthread_mutex_unlock(&s->mu);

    if (s->m->stream.on_open) s->m->stream.on_open(s->m->ctx, s, &s->state);

    pthread_mutex_lock(&s->mu);
    if (!s->over) start_recv_locked(s);
    pthread_mutex_unlock(&s->mu);
    maybe_close(s);
}

static void stream_meta(tag *t, bool ok)
{
    (void)ok;
    rpc_stream_unref(CONTAINER(t, rpc_stream, t_meta));
}

static void stream_recv(tag *t, bool ok)
{
    rpc_stream *s = CONTAINER(t, rpc_stream, t_recv);
    grpc_byte_buffer *bb = s->recv_bb;
    s->recv_bb = NULL;

    pthread_mutex_lock(&s->mu);
    s->recv_pending = false;
    bool deliver = ok && bb && !s->over;
    bool half = ok && !bb && !s->over;
    if (half) s->half_closed = true;
    pthread_mutex_unlock(&s->mu);

    if (deliver) {
        grpc_slice msg = rpc_flatten(bb);
        if (s->m->stream.on_message)
            s->m->stream.on_message(s->m->ctx, s, s->state, GRPC_SLICE_START_PTR(msg),
                                    GRPC_SLICE_LENGTH(msg));
        grpc_slice_unref(msg);
        pthread_mutex_lock(&s->mu);
        if (!s->over) start_recv_locked(s);
        pthread_mutex_unlock(&s->mu);
    } else if (half && s->m->stream.on_half_close) {
        s->m->stream.on_half_close(s->m->ctx, s, s->state);
    }
    if (bb) grpc_byte_buffer_destroy(bb);
    maybe_close(s);
    rpc_stream_unref(s);
}

static void stream_sent(tag *t, bool ok)
{
    rpc_stream *s = CONTAINER(t, rpc_stream, t_send);
    pthread_mutex_lock(&s->mu);
    send_node *done = s->head;
    s->head = done->next;
    if (!s->head) s->tail = NULL;
    s->queued_bytes -= done->bytes;
    s->send_inflight = false;
    if (!ok || s->over) {
        s->send_closed = true;
        drop_queue_locked(s);
    } else if (s->head) {
        start_send_locked(s);
    } else if (s->status_wanted && !s->status_started) {
        start_status_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
    grpc_byte_buffer_destroy(done->bb);
    free(done);
    rpc_stream_unref(s);
}

static void stream_status(tag *t, bool ok)
{
    (void)ok;
    rpc_stream_unref(CONTAINER(t, rpc_stream, t_status));
}

static void stream_closed(tag *t, bool ok)
{
    (void)ok;
    rpc_stream *s = CONTAINER(t, rpc_stream, t_close);
    pthread_mutex_lock(&s->mu);
    s->over = true;
    s->send_closed = true;
    drop_queue_locked(s);
    pthread_mutex_unlock(&s->mu);
    maybe_close(s);
    rpc_stream_unref(s);
}

int rpc_stream_send(rpc_stream *s, grpc_byte_buffer *msg)
{
    send_node *n = malloc(sizeof(*n));
    if (!n) {
        grpc_byte_buffer_destroy(msg);
        return -1;
    }
    n->next = NULL;
    n->bb = msg;
    n->bytes = grpc_byte_buffer_length(msg);
    pthread_mutex_lock(&s->mu);
    if (s->send_closed) {
        pthread_mutex_unlock(&s->mu);
        grpc_byte_buffer_destroy(msg);
        free(n);
        return -1;
    }
    if (s->tail)
        s->tail->next = n;
    else
        s->head = n;
    s->tail = n;
    s->queued_bytes += n->bytes;
    if (!s->send_inflight) start_send_locked(s);
    int rc = s->send_closed && !s->send_inflight ? -1 : 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int rpc_stream_send_msg(rpc_stream *s, const pb_msgdesc_t *desc, const void *msg)
{
    grpc_byte_buffer *bb = pbx_encode_bb(desc, msg);
    if (!bb) return -1;
    return rpc_stream_send(s, bb);
}

size_t rpc_stream_queued_bytes(rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->queued_bytes;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void rpc_stream_finish(rpc_stream *s, grpc_status_code code, const char *message)
{
    pthread_mutex_lock(&s->mu);
    finish_locked(s, code, message);
    pthread_mutex_unlock(&s->mu);
}

const char *rpc_stream_metadata(rpc_stream *s, const char *key, size_t *len)
{
    return rpc_find_metadata(&s->md, key, len);
}

/* ---- methods nobody added: UNIMPLEMENTED ---- */

typedef struct unknown_call {
    rpc_server *srv;
    grpc_completion_queue *cq;
    tag t_new, t_done;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    int cancelled;
} unknown_call;

static void unknown_new(tag *t, bool ok);
static void unknown_done(tag *t, bool ok);

static void unknown_free(unknown_call *c)
{
    rpc_server *srv = c->srv;
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->call) grpc_call_unref(c->call);
    free(c);
    live_drop(srv);
}

static int unknown_request(rpc_server *srv, grpc_completion_queue *cq)
{
    unknown_call *c = calloc(1, sizeof(*c));
    if (!c) return -1;
    c->srv = srv;
    c->cq = cq;
    c->t_new.fn = unknown_new;
    c->t_done.fn = unknown_done;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    live_add(srv);
    pthread_rwlock_rdlock(&srv->gate);
    bool ok = !srv->closed && grpc_server_request_call(srv->server, &c->call, &c->details, &c->md,
                                                       cq, cq, &c->t_new) == GRPC_CALL_OK;
    pthread_rwlock_unlock(&srv->gate);
    if (!ok) {
        unknown_free(c);
        return -1;
    }
    return 0;
}

static void unknown_new(tag *t, bool ok)
{
    unknown_call *c = CONTAINER(t, unknown_call, t_new);
    if (!ok) {
        unknown_free(c);
        return;
    }
    unknown_request(c->srv, c->cq);
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &c->cancelled;
    /* Only this thread touches the call, so the gate is the only lock needed. */
    if (!start_batch(c->srv, c->call, ops, 3, &c->t_done)) unknown_free(c);
}

static void unknown_done(tag *t, bool ok)
{
    (void)ok;
    unknown_free(CONTAINER(t, unknown_call, t_done));
}

/* ---- server lifecycle ---- */

static void shutdown_notified(tag *t, bool ok)
{
    (void)ok;
    rpc_server *srv = CONTAINER(t, rpc_server, t_shutdown);
    pthread_mutex_lock(&srv->mu);
    srv->shutdown_notified = true;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
}

int rpc_server_create(const rpc_server_opts *opts, rpc_server **out)
{
    if (!opts || opts->threads < 1 || opts->max_recv_bytes > INT32_MAX) return -1;
    rpc_server *srv = calloc(1, sizeof(*srv));
    if (!srv) return -1;
    srv->nthreads = opts->threads;
    srv->max_recv_bytes = opts->max_recv_bytes;
    srv->cqs = calloc((size_t)opts->threads, sizeof(*srv->cqs));
    srv->threads = calloc((size_t)opts->threads, sizeof(*srv->threads));
    if (!srv->cqs || !srv->threads) goto fail_free_srv;
    pthread_rwlock_init(&srv->gate, NULL);
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cond, NULL);
    srv->t_shutdown.fn = shutdown_notified;

    grpc_init();
    /* Keepalive as etcd serves it: clients may ping every 5 s, even with no call open, and
     * too-frequent pings do not get the connection closed. */
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER,
         GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         {.integer = (int)opts->max_recv_bytes}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
        {GRPC_ARG_INTEGER,
         GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
         {.integer = 5000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = 0}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 2 * 60 * 60 * 1000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 20000}},
    };
    grpc_channel_args cargs = {sizeof(args) / sizeof(args[0]), args};
    srv->server = grpc_server_create(&cargs, NULL);
    if (!srv->server) goto fail_shutdown_grpc;
    for (int i = 0; i < srv->nthreads; i++) {
        srv->cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->cqs[i], NULL);
    }
    *out = srv;
    return 0;

fail_shutdown_grpc:
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->mu);
    pthread_rwlock_destroy(&srv->gate);
    grpc_shutdown();
fail_free_srv:
    free(srv->threads);
    free(srv->cqs);
    free(srv);
    return -1;
}

int rpc_server_listen(rpc_server *srv, const char *host_port)
{
    if (srv->started) return -1;
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(srv->server, host_port, creds);
    grpc_server_credentials_release(creds);
    return port > 0 ? port : -1;
}

static method *add_method(rpc_server *srv, const char *path, method_kind kind)
{
    if (srv->started) return NULL;
    method **grown = realloc(srv->methods, (srv->nmethods + 1) * sizeof(*grown));
    if (!grown) return NULL;
    srv->methods = grown;
    method *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->path = strdup(path);
    m->kind = kind;
    m->handle = m->path
                    ? grpc_server_register_method(srv->server, m->path, NULL,
                                                  kind == METHOD_UNARY
                                                      ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
                                                      : GRPC_SRM_PAYLOAD_NONE,
                                                  0)
                    : NULL;
    if (!m->handle) { /* out of memory, or the path was added twice */
        free(m->path);
        free(m);
        return NULL;
    }
    srv->methods[srv->nmethods++] = m;
    return m;
}

int rpc_server_add_unary(rpc_server *srv, const char *method_path, rpc_unary_fn fn, void *ctx)
{
    if (!fn) return -1;
    method *m = add_method(srv, method_path, METHOD_UNARY);
    if (!m) return -1;
    m->unary = fn;
    m->ctx = ctx;
    return 0;
}

int rpc_server_add_stream(rpc_server *srv, const char *method_path, const rpc_stream_handlers *h,
                          void *ctx)
{
    if (!h) return -1;
    method *m = add_method(srv, method_path, METHOD_STREAM);
    if (!m) return -1;
    m->stream = *h;
    m->ctx = ctx;
    return 0;
}

static void *cq_thread(void *arg)
{
    grpc_completion_queue *cq = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        tag *t = ev.tag;
        t->fn(t, ev.success != 0);
    }
    return NULL;
}

int rpc_server_start(rpc_server *srv)
{
    if (srv->started) return -1;
    grpc_server_start(srv->server);
    srv->started = true;
    for (int i = 0; i < srv->nthreads; i++) {
        grpc_completion_queue *cq = srv->cqs[i];
        for (size_t k = 0; k < srv->nmethods; k++) {
            method *m = srv->methods[k];
            int n = m->kind == METHOD_UNARY ? UNARY_PREREQUESTS : STREAM_PREREQUESTS;
            for (int j = 0; j < n; j++)
                if ((m->kind == METHOD_UNARY ? unary_request(srv, m, cq)
                                             : stream_request(srv, m, cq)) != 0)
                    return -1;
        }
        for (int j = 0; j < GENERIC_PREREQUESTS; j++)
            if (unknown_request(srv, cq) != 0) return -1;
    }
    for (int i = 0; i < srv->nthreads; i++) {
        if (pthread_create(&srv->threads[i], NULL, cq_thread, srv->cqs[i]) != 0) return -1;
        srv->threads_started++;
    }
    return 0;
}

static void drain_until_notified(rpc_server *srv)
{
    while (!srv->shutdown_notified) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cqs[0], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE) ((tag *)ev.tag)->fn(ev.tag, ev.success != 0);
    }
}

void rpc_server_shutdown(rpc_server *srv)
{
    if (srv->shut_down) return;
    srv->shut_down = true;
    /* Pending requests complete with ok=0, open calls get their RECV_CLOSE_ON_SERVER (streams:
     * on_close) and failed sends; the notification comes once all that is queued. */
    grpc_server_shutdown_and_notify(srv->server, srv->cqs[0], &srv->t_shutdown);
    grpc_server_cancel_all_calls(srv->server);
    if (srv->threads_started > 0) {
        pthread_mutex_lock(&srv->mu);
        while (!srv->shutdown_notified) pthread_cond_wait(&srv->cond, &srv->mu);
        pthread_mutex_unlock(&srv->mu);
    } else {
        drain_until_notified(srv);
    }
    /* From here no batch may start: late replies and sends are dropped. */
    pthread_rwlock_wrlock(&srv->gate);
    srv->closed = true;
    pthread_rwlock_unlock(&srv->gate);
    grpc_server_destroy(srv->server);
    srv->server = NULL;

    for (int i = 0; i < srv->nthreads; i++) grpc_completion_queue_shutdown(srv->cqs[i]);
    for (int i = 0; i < srv->threads_started; i++) pthread_join(srv->threads[i], NULL);
    for (int i = srv->threads_started; i < srv->nthreads; i++) {
        grpc_event ev;
        do {
            ev = grpc_completion_queue_next(srv->cqs[i], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            if (ev.type == GRPC_OP_COMPLETE) ((tag *)ev.tag)->fn(ev.tag, ev.success != 0);
        } while (ev.type != GRPC_QUEUE_SHUTDOWN);
    }
}

void rpc_server_destroy(rpc_server *srv)
{
    if (!srv) return;
    rpc_server_shutdown(srv);
    /* Unanswered unary calls and referenced streams belong to the application until it
     * answers and unrefs them; no batch starts any more, so that only frees memory. */
    pthread_mutex_lock(&srv->mu);
    while (srv->live > 0) pthread_cond_wait(&srv->cond, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < srv->nthreads; i++) grpc_completion_queue_destroy(srv->cqs[i]);
    for (size_t k = 0; k < srv->nmethods; k++) {
        free(srv->methods[k]->path);
        free(srv->methods[k]);
    }
    free(srv->methods);
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->mu);
    pthread_rwlock_destroy(&srv->gate);
    free(srv->threads);
    free(srv->cqs);
    free(srv);
    grpc_shutdown();
}
