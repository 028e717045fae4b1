/* libcoord's watches: one etcdserverpb.Watch stream, its requests and its responses.
 *
 * A response is decoded from a copy of its bytes kept in the response's arena (keys and values
 * stay views into it). etcd's fragments (responses with fragment=true, for watches created
 * with fragment) are received into one arena and handed out as the single response they form.
 */
#include "libcoord_internal.h"

#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METHOD_WATCH  "/etcdserverpb.Watch/Watch"
#define METHOD_STATUS "/etcdserverpb.Maintenance/Status"

struct coord_watch_stream {
    rpc_cstream *cs;
    pthread_mutex_t send_lock; /* sends may come from several threads */
    /* Fragments received so far of a response not yet complete. */
    coord_arena *pending;
    coord_event **pieces;
    size_t *piece_len;
    size_t n_pieces, cap_pieces;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int coord_watch_open(coord_client *c, coord_watch_stream **out, coord_error *err)
{
    *out = NULL;
    /* A Status call first: it finds an endpoint that answers (with the client's failover),
     * which then carries the stream. */
    uint8_t *req = NULL;
    size_t len = 0;
    int rc = lc_encode_empty(&req, &len, err);
    if (rc != COORD_OK) return rc;
    rpc_reply reply = {0};
    rc = lc_call(c, METHOD_STATUS, false, 0, req, len, &reply, err);
    free(req);
    rpc_reply_free(&reply);
    if (rc != COORD_OK) return rc;
    rpc_channel *ch;
    rc = lc_channel(c, &ch, err);
    if (rc != COORD_OK) return rc;
    coord_watch_stream *ws = calloc(1, sizeof(*ws));
    if (!ws) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    /* etcd's clients say they want to hear of a lost leader on their watch streams. */
    static const rpc_md md[] = {{"hasleader", "true"}};
    rpc_call_opts opts = {.md = md, .md_count = 1};
    if (rpc_cstream_open(ch, METHOD_WATCH, &opts, &ws->cs) != 0) {
        free(ws);
        return lc_fail(err, COORD_INTERNAL, "cannot open a watch stream");
    }
    pthread_mutex_init(&ws->send_lock, NULL);
    *out = ws;
    return COORD_OK;
}

static int send_request(coord_watch_stream *ws, const etcdserverpb_WatchRequest *req,
                        coord_error *err)
{
    pthread_mutex_lock(&ws->send_lock);
    int rc = rpc_cstream_send_msg(ws->cs, &etcdserverpb_WatchRequest_msg, req);
    pthread_mutex_unlock(&ws->send_lock);
    if (rc != 0) return lc_fail(err, COORD_UNAVAILABLE, "the watch stream is closed");
    return COORD_OK;
}

int coord_watch_create(coord_watch_stream *ws, const coord_watch_req *r, coord_error *err)
{
    etcdserverpb_WatchRequest req = {.which_request_union =
                                         etcdserverpb_WatchRequest_create_request_tag};
    etcdserverpb_WatchCreateRequest *cr = &req.request_union.create_request;
    cr->key = (pbx_bytes_t){r->key.ptr, r->key.len};
    cr->range_end = (pbx_bytes_t){r->range_end.ptr, r->range_end.len};
    cr->start_revision = r->start_revision;
    cr->progress_notify = r->progress_notify;
    cr->prev_kv = r->prev_kv;
    cr->watch_id = r->watch_id;
    cr->fragment = r->fragment;
    if (r->no_put)
        cr->filters[cr->filters_count++] = etcdserverpb_WatchCreateRequest_FilterType_NOPUT;
    if (r->no_delete)
        cr->filters[cr->filters_count++] = etcdserverpb_WatchCreateRequest_FilterType_NODELETE;
    return send_request(ws, &req, err);
}

int coord_watch_cancel(coord_watch_stream *ws, int64_t watch_id, coord_error *err)
{
    etcdserverpb_WatchRequest req = {.which_request_union =
                                         etcdserverpb_WatchRequest_cancel_request_tag};
    req.request_union.cancel_request.watch_id = watch_id;
    return send_request(ws, &req, err);
}

int coord_watch_progress(coord_watch_stream *ws, coord_error *err)
{
    etcdserverpb_WatchRequest req = {.which_request_union =
                                         etcdserverpb_WatchRequest_progress_request_tag};
    return send_request(ws, &req, err);
}

static void kv_from_pb(coord_kv *out, const mvccpb_KeyValue *m)
{
    *out = (coord_kv){.key = {m->key.ptr, m->key.len},
                      .value = {m->value.ptr, m->value.len},
                      .create_revision = m->create_revision,
                      .mod_revision = m->mod_revision,
                      .version = m->version,
                      .lease = m->lease};
}

static int keep_piece(coord_watch_stream *ws, coord_event *evs, size_t n)
{
    if (ws->n_pieces == ws->cap_pieces) {
        size_t cap = ws->cap_pieces ? ws->cap_pieces * 2 : 4;
        coord_event **p = realloc(ws->pieces, cap * sizeof(*p));
        if (!p) return -1;
        ws->pieces = p;
        size_t *l = realloc(ws->piece_len, cap * sizeof(*l));
        if (!l) return -1;
        ws->piece_len = l;
        ws->cap_pieces = cap;
    }
    ws->pieces[ws->n_pieces] = evs;
    ws->piece_len[ws->n_pieces++] = n;
    return 0;
}

static void drop_pending(coord_watch_stream *ws)
{
    lc_arena_free(ws->pending);
    ws->pending = NULL;
    ws->n_pieces = 0;
}

/* Decodes one message into the pending arena. *complete is false for a fragment that more
 * fragments follow. */
static int take_message(coord_watch_stream *ws, const uint8_t *buf, size_t len,
                        coord_watch_resp *resp, bool *complete, coord_error *err)
{
    if (!ws->pending && !(ws->pending = lc_arena_new()))
        return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    coord_arena *a = ws->pending;
    uint8_t *copy = lc_arena_alloc(a, len ? len : 1);
    if (!copy) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    if (len) memcpy(copy, buf, len);
    etcdserverpb_WatchResponse m;
    const char *why = "malformed";
    if (pbx_decode_why(&etcdserverpb_WatchResponse_msg, &m, copy, len, &why) != 0)
        return lc_fail(err, COORD_INTERNAL, "cannot decode the response: %s", why);
    int rc = COORD_OK;
    const mvccpb_Event *in = m.events.items;
    coord_event *evs = m.events.count ? lc_arena_alloc(a, m.events.count * sizeof(*evs)) : NULL;
    if (m.events.count && !evs) {
        rc = lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
        goto done_release;
    }
    for (size_t i = 0; i < m.events.count; i++) {
        evs[i].type =
            in[i].type == mvccpb_Event_EventType_DELETE ? COORD_EVENT_DELETE : COORD_EVENT_PUT;
        kv_from_pb(&evs[i].kv, &in[i].kv);
        evs[i].has_prev_kv = in[i].has_prev_kv;
        if (in[i].has_prev_kv) kv_from_pb(&evs[i].prev_kv, &in[i].prev_kv);
    }
    if (keep_piece(ws, evs, m.events.count) != 0) {
        rc = lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
        goto done_release;
    }
    *complete = !m.fragment;
    if (!*complete) goto done_release;

    memset(resp, 0, sizeof(*resp));
    resp->header = (coord_header){m.header.cluster_id, m.header.member_id, m.header.revision,
                                  m.header.raft_term};
    resp->watch_id = m.watch_id;
    resp->created = m.created;
    resp->canceled = m.canceled;
    resp->compact_revision = m.compact_revision;
    char *reason = lc_arena_alloc(a, m.cancel_reason.len + 1);
    if (!reason) {
        rc = lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
        goto done_release;
    }
    if (m.cancel_reason.len) memcpy(reason, m.cancel_reason.ptr, m.cancel_reason.len);
    resp->cancel_reason = reason;
    if (ws->n_pieces == 1) {
        resp->events = ws->pieces[0];
        resp->n_events = ws->piece_len[0];
    } else {
        size_t n = 0;
        for (size_t i = 0; i < ws->n_pieces; i++) n += ws->piece_len[i];
        coord_event *all = n ? lc_arena_alloc(a, n * sizeof(*all)) : NULL;
        if (n && !all) {
            rc = lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
            goto done_release;
        }
        size_t at = 0;
        for (size_t i = 0; i < ws->n_pieces; i++) {
            if (ws->piece_len[i]) memcpy(all + at, ws->pieces[i], ws->piece_len[i] * sizeof(*all));
            at += ws->piece_len[i];
        }
        resp->events = all;
        resp->n_events = n;
    }
    resp->arena = a;
    ws->pending = NULL;
    ws->n_pieces = 0;
done_release:
    pbx_release(&etcdserverpb_WatchResponse_msg, &m);
    return rc;
}

int coord_watch_recv(coord_watch_stream *ws, int64_t timeout_ms, coord_watch_resp *resp,
                     coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int64_t left = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && left < 0) left = 0;
        rpc_buf buf;
        int got = rpc_cstream_recv(ws->cs, left, &buf);
        if (got == RPC_RECV_TIMEOUT)
            return lc_fail(err, COORD_DEADLINE_EXCEEDED, "no watch response yet");
        if (got == RPC_RECV_END) {
            drop_pending(ws);
            char *message = NULL;
            grpc_status_code code = rpc_cstream_status(ws->cs, &message);
            int rc = lc_fail(err, code == GRPC_STATUS_OK ? COORD_UNAVAILABLE : (int)code, "%s",
                             message && *message ? message : "the watch stream ended");
            free(message);
            return rc;
        }
        bool complete = false;
        int rc = take_message(ws, buf.data, buf.len, resp, &complete, err);
        rpc_buf_free(&buf);
        if (rc != COORD_OK) {
            drop_pending(ws);
            return rc;
        }
        if (complete) return COORD_OK;
    }
}

void coord_watch_resp_free(coord_watch_resp *resp)
{
    lc_arena_free(resp->arena);
    memset(resp, 0, sizeof(*resp));
}

void coord_watch_close(coord_watch_stream *ws)
{
    if (!ws) return;
    rpc_cstream_cancel(ws->cs);
    rpc_cstream_destroy(ws->cs);
    drop_pending(ws);
    free(ws->pieces);
    free(ws->piece_len);
    pthread_mutex_destroy(&ws->send_lock);
    free(ws);
}
