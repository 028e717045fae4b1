/* rpc_server: the gRPC C core server layer: lifecycle, queue threads, and the answer to
 * methods nobody added. Contract in rpc_server.h; shared internals and the batch rules in
 * rpc_server_internal.h. */
#include "rpc_server_internal.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

/* Calls requested ahead per method and queue: a burst of new calls is matched at once while
 * the queue thread re-requests. Streams are long-lived, so fewer. */
#define UNARY_PREREQUESTS   8
#define STREAM_PREREQUESTS  2
#define GENERIC_PREREQUESTS 2

/* ---- server-wide helpers ---- */

void srv_live_add(rpc_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv->live++;
    pthread_mutex_unlock(&srv->mu);
}

void srv_live_drop(rpc_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    if (--srv->live == 0) pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
}

bool srv_start_batch(rpc_server *srv, grpc_call *call, const grpc_op *ops, size_t n, tag *t)
{
    pthread_rwlock_rdlock(&srv->gate);
    bool ok = !srv->closed && grpc_call_start_batch(call, ops, n, t, NULL) == GRPC_CALL_OK;
    pthread_rwlock_unlock(&srv->gate);
    return ok;
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
    srv_live_drop(srv);
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
    srv_live_add(srv);
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
    if (!srv_start_batch(c->srv, c->call, ops, 3, &c->t_done)) unknown_free(c);
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
                if ((m->kind == METHOD_UNARY ? srv_unary_request(srv, m, cq)
                                             : srv_stream_request(srv, m, cq)) != 0)
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
