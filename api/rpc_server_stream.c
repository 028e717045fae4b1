/* rpc_server_stream: streaming calls: one RECV_MESSAGE and one SEND_MESSAGE in flight, a
 * send queue fed from any thread, on_close last. Contract in rpc_server.h. */
#include "pbx.h"
#include "rpc_common.h"
#include "rpc_server_internal.h"

#include <stdlib.h>
#include <string.h>

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
    srv_live_drop(srv);
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

int srv_stream_request(rpc_server *srv, method *m, grpc_completion_queue *cq)
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
    srv_live_add(srv);
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
    if (srv_start_batch(s->srv, s->call, &op, 1, &s->t_status)) s->refs++;
}

static void start_send_locked(rpc_stream *s)
{
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = s->head->bb;
    if (srv_start_batch(s->srv, s->call, &op, 1, &s->t_send)) {
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
    if (srv_start_batch(s->srv, s->call, &op, 1, &s->t_recv)) {
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
    srv_stream_request(s->srv, s->m, s->cq);

    s->refs = 1;
    grpc_op meta = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close_op.data.recv_close_on_server.cancelled = &s->cancelled;
    pthread_mutex_lock(&s->mu);
    if (srv_start_batch(s->srv, s->call, &meta, 1, &s->t_meta)) s->refs++;
    if (srv_start_batch(s->srv, s->call, &close_op, 1, &s->t_close))
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
