/* kv_service: etcd's KV service. Writes (Put, DeleteRange, writing Txns, Compact) become log
 * entries and are answered by the apply step; reads (Range, read-only Txns) are served from a
 * snapshot of the store: serializable ones at once on the calling thread, linearizable ones
 * (the default) once a ReadIndex round shows this member has applied everything committed
 * before the request arrived (server_read).
 */
#include "apply.h"
#include "arena.h"
#include "kv_exec.h"
#include "pbx.h"
#include "server.h"

#include <grpc/byte_buffer.h>
#include <stdio.h>

/* grpc-go answers an undecodable message this way; clients see the same code. */
static void fail_decode(rpc_unary *call, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "grpc: error unmarshalling request: %s", why ? why : "bad message");
    rpc_unary_fail(call, GRPC_STATUS_INTERNAL, msg);
}

typedef coord_err (*read_fn)(kv_exec *x, const void *req, void *resp,
                             etcdserverpb_ResponseHeader **h);

static coord_err read_range(kv_exec *x, const void *req, void *resp,
                            etcdserverpb_ResponseHeader **h)
{
    etcdserverpb_RangeResponse *out = resp;
    *h = &out->header;
    return kv_exec_range(x, req, out);
}

static coord_err read_txn(kv_exec *x, const void *req, void *resp, etcdserverpb_ResponseHeader **h)
{
    etcdserverpb_TxnResponse *out = resp;
    *h = &out->header;
    return kv_exec_txn(x, req, out);
}

/* Runs a read against one snapshot and answers the call. */
static void serve_read(coord_server *s, rpc_unary *call, read_fn fn, const void *req,
                       const pb_msgdesc_t *resp_desc, void *resp)
{
    arena mem = {0};
    mvcc_txn *t;
    if (mvcc_read_begin(s->kv, &t) != MVCC_OK) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    kv_exec x;
    kv_exec_init(&x, s->kv, t, &mem, false);
    etcdserverpb_ResponseHeader *h = NULL;
    coord_err e = fn(&x, req, resp, &h);
    if (e == COORD_OK) {
        server_fill_header(s, h, mvcc_txn_rev(t));
        rpc_unary_reply_msg(call, resp_desc, resp);
    } else {
        server_fail(call, e);
    }
    mvcc_txn_end(t);
    arena_free(&mem);
}

/* The common range — key order, no filters, not count-only — is encoded straight from the
 * store's iterator into the outgoing buffer: no copy of the result set is ever built, so a
 * full-keyspace read costs the size of its answer once. The encoder calls the generator for
 * field 2 (kvs) before fields 3 (more) and 4 (count), which the generator fills as it goes. */
struct stream_range {
    const etcdserverpb_RangeRequest *r;
    etcdserverpb_RangeResponse *out;
    mvcc_txn *txn;
    pbx_emitter *em;
    int64_t emitted;
    int rc;
};

static int stream_visit(void *arg, const mvcc_kv *kv)
{
    struct stream_range *sr = arg;
    sr->out->count++;
    if (sr->r->limit > 0 && sr->emitted >= sr->r->limit) {
        sr->out->more = true;
        return 0; /* keep counting */
    }
    mvccpb_KeyValue m = {
        .key = {kv->key, kv->key_len},
        .create_revision = kv->create_revision,
        .mod_revision = kv->mod_revision,
        .version = kv->version,
        .lease = kv->lease,
    };
    if (!sr->r->keys_only) m.value = (pbx_bytes_t){kv->value, kv->value_len};
    if (!pbx_emit(sr->em, &m)) return MVCC_ERR_NOMEM;
    sr->emitted++;
    return 0;
}

static bool stream_gen(void *arg, pbx_emitter *em)
{
    struct stream_range *sr = arg;
    sr->em = em;
    sr->out->count = 0;
    sr->out->more = false;
    sr->emitted = 0;
    int64_t rev = sr->r->revision > 0 ? sr->r->revision : 0;
    sr->rc = mvcc_txn_range(sr->txn, sr->r->key.ptr, sr->r->key.len, sr->r->range_end.ptr,
                            sr->r->range_end.len, rev, stream_visit, sr);
    return sr->rc == MVCC_OK;
}

static bool range_streams(const etcdserverpb_RangeRequest *r)
{
    return r->sort_order == etcdserverpb_RangeRequest_SortOrder_NONE &&
           r->sort_target == etcdserverpb_RangeRequest_SortTarget_KEY && !r->count_only &&
           !r->min_mod_revision && !r->max_mod_revision && !r->min_create_revision &&
           !r->max_create_revision;
}

static void serve_range_streamed(coord_server *s, rpc_unary *call,
                                 const etcdserverpb_RangeRequest *r)
{
    mvcc_txn *t;
    if (mvcc_read_begin(s->kv, &t) != MVCC_OK) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    /* Revision errors are found before anything is encoded. */
    int64_t cur = mvcc_txn_rev(t);
    if (r->revision > cur) {
        server_fail(call, COORD_ERR_FUTURE_REV);
    } else if (r->revision > 0 && r->revision < mvcc_compacted_rev(s->kv)) {
        server_fail(call, COORD_ERR_COMPACTED);
    } else {
        etcdserverpb_RangeResponse out = {0};
        struct stream_range sr = {.r = r, .out = &out, .txn = t};
        out.has_header = true;
        server_fill_header(s, &out.header, cur);
        out.kvs.gen = stream_gen;
        out.kvs.gen_arg = &sr;
        grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_RangeResponse_msg, &out);
        if (bb)
            rpc_unary_reply(call, bb);
        else if (sr.rc == MVCC_ERR_COMPACTED)
            server_fail(call, COORD_ERR_COMPACTED);
        else
            server_fail(call, COORD_ERR_INTERNAL);
    }
    mvcc_txn_end(t);
}

static void range_serve(coord_server *s, rpc_unary *call, const uint8_t *req, size_t len)
{
    etcdserverpb_RangeRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_RangeRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    coord_err e = kv_check_range(&r);
    if (e != COORD_OK) {
        server_fail(call, e);
    } else if (range_streams(&r)) {
        serve_range_streamed(s, call, &r);
    } else {
        etcdserverpb_RangeResponse out = {0};
        serve_read(s, call, read_range, &r, &etcdserverpb_RangeResponse_msg, &out);
    }
    pbx_release(&etcdserverpb_RangeRequest_msg, &r);
}

static void kv_range(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_RangeRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_RangeRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    bool linearizable = !r.serializable && kv_check_range(&r) == COORD_OK;
    pbx_release(&etcdserverpb_RangeRequest_msg, &r);
    server_read(s, call, linearizable, range_serve, req, len);
}

static void kv_put(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_PutRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_PutRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    coord_err e = kv_check_put(&r);
    if (e != COORD_OK)
        server_fail(call, e);
    else
        server_propose(s, call, ENTRY_PUT, req, len);
    pbx_release(&etcdserverpb_PutRequest_msg, &r);
}

static void kv_delete_range(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_DeleteRangeRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_DeleteRangeRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    coord_err e = kv_check_delete_range(&r);
    if (e != COORD_OK)
        server_fail(call, e);
    else
        server_propose(s, call, ENTRY_DELETE_RANGE, req, len);
    pbx_release(&etcdserverpb_DeleteRangeRequest_msg, &r);
}

/* A read-only txn, served like a Range (after its checks passed). */
static void txn_read_serve(coord_server *s, rpc_unary *call, const uint8_t *req, size_t len)
{
    etcdserverpb_TxnRequest r;
    if (pbx_decode(&etcdserverpb_TxnRequest_msg, &r, req, len) != 0) {
        fail_decode(call, NULL);
        return;
    }
    etcdserverpb_TxnResponse out = {0};
    serve_read(s, call, read_txn, &r, &etcdserverpb_TxnResponse_msg, &out);
    pbx_release(&etcdserverpb_TxnRequest_msg, &r);
}

static void kv_txn(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_TxnRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_TxnRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    coord_err e = kv_check_txn(&r, s->cfg->max_txn_ops);
    bool read_only = e == COORD_OK && kv_txn_is_read_only(&r);
    pbx_release(&etcdserverpb_TxnRequest_msg, &r);
    /* etcd serves a read-only txn as a linearizable read, without the log. */
    if (e != COORD_OK)
        server_fail(call, e);
    else if (read_only)
        server_read(s, call, true, txn_read_serve, req, len);
    else
        server_propose(s, call, ENTRY_TXN, req, len);
}

static void kv_compact(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_CompactionRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_CompactionRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    server_propose(s, call, ENTRY_COMPACT, req, len);
    pbx_release(&etcdserverpb_CompactionRequest_msg, &r);
}

int kv_service_register(coord_server *s)
{
    if (rpc_server_add_unary(s->rpc, "/etcdserverpb.KV/Range", kv_range, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.KV/Put", kv_put, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.KV/DeleteRange", kv_delete_range, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.KV/Txn", kv_txn, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.KV/Compact", kv_compact, s))
        return -1;
    return 0;
}
