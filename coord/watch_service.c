/* watch_service: the Watch stream on the hub — the reader over MVCC, the sink that encodes
 * WatchResponses, and the dispatch of WatchRequests. */
#include "watch_service.h"

#include "pbx.h"
#include "rpc.pb.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Live events stop at the hub's per-stream bound; what can still pile up is answers to the
 * client's own requests (creates, cancels) when it sends and never reads. Past this much, the
 * stream is ended rather than buffered further (etcd stops reading such a client instead). */
#define REQUEST_BACKLOG_MAX (16u << 20)

struct watch_service {
    coord_server *s;
    watch_hub *hub;
};

/* ---- the store, as the hub reads it ---- */

typedef struct mvcc_view {
    mvcc_txn *t;
    uint8_t *buf; /* the last get's key-value bytes */
    size_t cap;
} mvcc_view;

static int reader_open(void *arg, void **view, int64_t *rev, int64_t *compacted)
{
    coord_server *s = arg;
    mvcc_view *v = calloc(1, sizeof(*v));
    if (!v) return WATCH_ERR_NOMEM;
    if (mvcc_read_begin(s->kv, &v->t) != MVCC_OK) {
        free(v);
        return WATCH_ERR_IO;
    }
    *rev = mvcc_txn_rev(v->t);
    /* Read after the txn began, so it is at least the compaction the txn sees. */
    *compacted = mvcc_compacted_rev(s->kv);
    *view = v;
    return 0;
}

static void kv_view(watch_kv *out, const mvcc_kv *kv)
{
    *out = (watch_kv){.key = kv->key,
                      .key_len = kv->key_len,
                      .value = kv->value,
                      .value_len = kv->value_len,
                      .create_revision = kv->create_revision,
                      .mod_revision = kv->mod_revision,
                      .version = kv->version,
                      .lease = kv->lease};
}

struct changes_ctx {
    watch_change_fn fn;
    void *arg;
    int err; /* the hub's own failure, kept apart from MVCC's codes */
};

static int change_one(void *arg, const mvcc_kv *kv, bool is_delete)
{
    struct changes_ctx *c = arg;
    watch_kv w;
    kv_view(&w, kv);
    int rc = c->fn(c->arg, &w, is_delete);
    if (rc < 0) {
        c->err = rc;
        return -1000;
    }
    return rc;
}

static int map_mvcc(int rc)
{
    if (rc == MVCC_ERR_COMPACTED) return WATCH_ERR_COMPACTED;
    if (rc == MVCC_ERR_NOMEM) return WATCH_ERR_NOMEM;
    return rc < 0 ? WATCH_ERR_IO : 0;
}

static int reader_changes(void *view, int64_t from, int64_t to, watch_change_fn fn, void *arg)
{
    mvcc_view *v = view;
    struct changes_ctx c = {fn, arg, 0};
    int rc = mvcc_changes(v->t, from, to, change_one, &c);
    return c.err ? c.err : map_mvcc(rc);
}

struct get_ctx {
    mvcc_view *v;
    watch_kv *out;
    bool found;
};

static int get_one(void *arg, const mvcc_kv *kv)
{
    struct get_ctx *g = arg;
    size_t need = kv->key_len + kv->value_len;
    if (need > g->v->cap) {
        uint8_t *b = realloc(g->v->buf, need);
        if (!b) return MVCC_ERR_NOMEM;
        g->v->buf = b;
        g->v->cap = need;
    }
    if (kv->key_len) memcpy(g->v->buf, kv->key, kv->key_len);
    if (kv->value_len) memcpy(g->v->buf + kv->key_len, kv->value, kv->value_len);
    kv_view(g->out, kv);
    g->out->key = g->v->buf;
    g->out->value = g->v->buf + kv->key_len;
    g->found = true;
    return 1;
}

static int reader_get(void *view, const uint8_t *key, size_t key_len, int64_t rev, watch_kv *out,
                      bool *found)
{
    mvcc_view *v = view;
    *found = false;
    if (rev < 1) return 0; /* before the first revision nothing existed */
    struct get_ctx g = {v, out, false};
    int rc = mvcc_txn_range(v->t, key, key_len, NULL, 0, rev, get_one, &g);
    *found = g.found;
    return map_mvcc(rc);
}

static void reader_close(void *view)
{
    mvcc_view *v = view;
    mvcc_txn_end(v->t);
    free(v->buf);
    free(v);
}

static int64_t reader_current(void *arg)
{
    coord_server *s = arg;
    return mvcc_current_rev(s->kv);
}

/* ---- one Watch call ---- */

typedef struct watch_call {
    coord_server *s;
    rpc_stream *rs;
    watch_stream *ws;
} watch_call;

static void kv_to_pb(mvccpb_KeyValue *m, const watch_kv *kv)
{
    *m = (mvccpb_KeyValue){.key = {kv->key, kv->key_len},
                           .create_revision = kv->create_revision,
                           .mod_revision = kv->mod_revision,
                           .version = kv->version,
                           .value = {kv->value, kv->value_len},
                           .lease = kv->lease};
}

static bool emit_events(void *arg, pbx_emitter *em)
{
    const watch_response *r = arg;
    for (size_t i = 0; i < r->n_events; i++) {
        const watch_event *e = &r->events[i];
        mvccpb_Event ev = {.type = (mvccpb_Event_EventType)e->type, .has_kv = true};
        kv_to_pb(&ev.kv, &e->kv);
        if (e->has_prev) {
            ev.has_prev_kv = true;
            kv_to_pb(&ev.prev_kv, &e->prev);
        }
        if (!pbx_emit(em, &ev)) return false;
    }
    return true;
}

static int sink_send(void *arg, const watch_response *r)
{
    watch_call *c = arg;
    etcdserverpb_WatchResponse out = {.has_header = true,
                                      .watch_id = r->watch_id,
                                      .created = r->created,
                                      .canceled = r->canceled,
                                      .compact_revision = r->compact_revision,
                                      .fragment = r->fragment};
    server_fill_header(c->s, &out.header, r->revision);
    if (r->cancel_reason)
        out.cancel_reason =
            (pbx_bytes_t){(const uint8_t *)r->cancel_reason, strlen(r->cancel_reason)};
    if (r->n_events) {
        out.events.gen = emit_events;
        out.events.gen_arg = (void *)r;
    }
    return rpc_stream_send_msg(c->rs, &etcdserverpb_WatchResponse_msg, &out) == 0 ? 0 : -1;
}

static size_t sink_backlog(void *arg)
{
    watch_call *c = arg;
    return rpc_stream_queued_bytes(c->rs);
}

static const watch_sink call_sink = {.send = sink_send, .backlog = sink_backlog};

static void watch_open(void *ctx, rpc_stream *rs, void **state)
{
    watch_service *svc = ctx;
    watch_call *c = calloc(1, sizeof(*c));
    if (!c) {
        rpc_stream_finish(rs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    c->s = svc->s;
    c->rs = rs;
    if (watch_stream_open(svc->hub, &call_sink, c, &c->ws) != WATCH_OK) {
        free(c);
        rpc_stream_finish(rs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    *state = c;
}

static void watch_create(watch_call *c, const etcdserverpb_WatchCreateRequest *cr)
{
    watch_create_req req = {.key = cr->key.ptr,
                            .key_len = cr->key.len,
                            .range_end = cr->range_end.ptr,
                            .range_end_len = cr->range_end.len,
                            .start_revision = cr->start_revision,
                            .watch_id = cr->watch_id,
                            .prev_kv = cr->prev_kv,
                            .progress_notify = cr->progress_notify,
                            .fragment = cr->fragment};
    for (pb_size_t i = 0; i < cr->filters_count; i++) {
        if (cr->filters[i] == etcdserverpb_WatchCreateRequest_FilterType_NOPUT) req.no_put = true;
        if (cr->filters[i] == etcdserverpb_WatchCreateRequest_FilterType_NODELETE)
            req.no_delete = true;
    }
    if (watch_stream_create(c->ws, &req) != WATCH_OK)
        rpc_stream_finish(c->rs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

static void watch_message(void *ctx, rpc_stream *rs, void *state, const uint8_t *msg, size_t len)
{
    (void)ctx;
    watch_call *c = state;
    if (!c) return;
    if (rpc_stream_queued_bytes(rs) > REQUEST_BACKLOG_MAX) {
        rpc_stream_finish(rs, GRPC_STATUS_RESOURCE_EXHAUSTED, "etcdserver: too many requests");
        return;
    }
    etcdserverpb_WatchRequest req;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_WatchRequest_msg, &req, msg, len, &why) != 0) {
        /* grpc-go ends the call when a message does not decode; so does etcd's Watch. */
        char text[200];
        snprintf(text, sizeof(text), "grpc: error unmarshalling request: %s",
                 why ? why : "bad message");
        rpc_stream_finish(rs, GRPC_STATUS_INTERNAL, text);
        return;
    }
    switch (req.which_request_union) {
    case etcdserverpb_WatchRequest_create_request_tag:
        watch_create(c, &req.request_union.create_request);
        break;
    case etcdserverpb_WatchRequest_cancel_request_tag:
        watch_stream_cancel(c->ws, req.request_union.cancel_request.watch_id);
        break;
    case etcdserverpb_WatchRequest_progress_request_tag:
        watch_stream_progress(c->ws);
        break;
    default:
        break; /* etcd ignores a request with nothing set */
    }
    pbx_release(&etcdserverpb_WatchRequest_msg, &req);
}

/* etcd keeps sending after the client's half-close; the call ends when the client goes. */
static void watch_half_close(void *ctx, rpc_stream *rs, void *state)
{
    (void)ctx;
    (void)rs;
    (void)state;
}

static void watch_close(void *ctx, rpc_stream *rs, void *state)
{
    (void)ctx;
    (void)rs;
    watch_call *c = state;
    if (!c) return;
    watch_stream_close(c->ws);
    free(c);
}

/* ---- life ---- */

static void on_revision(void *arg, int64_t rev)
{
    watch_service *svc = arg;
    watch_hub_notify(svc->hub, rev);
}

int watch_service_register(coord_server *s, watch_service **out)
{
    watch_service *svc = calloc(1, sizeof(*svc));
    if (!svc) return -1;
    svc->s = s;
    watch_hub_opts o = {
        .reader = {.open = reader_open,
                   .changes = reader_changes,
                   .get = reader_get,
                   .close = reader_close,
                   .current_rev = reader_current,
                   .arg = s},
        .progress_interval_ms = s->cfg->watch_progress_notify_ms,
        /* etcd's limit for one watch response: the request limit plus gRPC's overhead. */
        .response_max_bytes = (size_t)s->cfg->max_request_bytes + 512 * 1024,
        /* A small write reaches its watchers from the apply thread, without a thread hop,
         * when no lock is in the way (never waiting for one). */
        .inline_max_events = 32,
    };
    if (watch_hub_create(&o, &svc->hub) != WATCH_OK) goto fail_free_svc;
    static const rpc_stream_handlers handlers = {.on_open = watch_open,
                                                 .on_message = watch_message,
                                                 .on_half_close = watch_half_close,
                                                 .on_close = watch_close};
    if (rpc_server_add_stream(s->rpc, "/etcdserverpb.Watch/Watch", &handlers, svc) != 0)
        goto fail_destroy_hub;
    s->on_revision = on_revision;
    s->on_revision_arg = svc;
    *out = svc;
    return 0;

fail_destroy_hub:
    watch_hub_destroy(svc->hub);
fail_free_svc:
    free(svc);
    return -1;
}

void watch_service_stop(watch_service *ws)
{
    if (ws) watch_hub_stop(ws->hub);
}

void watch_service_free(watch_service *ws)
{
    if (!ws) return;
    watch_hub_destroy(ws->hub);
    free(ws);
}
