/* lock_service: etcd's v3lockpb.Lock, run as etcd's concurrency.Mutex does it, inside the server.
 *
 * Lock(name, lease): the key is "<name>/<lease in hex>"; one Txn creates it under the lease
 * (or finds it, if this lease already asked) and reads the first-created key under "<name>/".
 * The lock is ours when that is our key; otherwise we wait until every key created before ours
 * is deleted (their holders unlocked, or their leases expired). Then, unlike etcd 3.4, we check
 * in the same snapshot that our own key is still there: a lease that expired while waiting
 * gets an error, not a lock it no longer holds. The answer's header revision is where the lock
 * was seen held; the key's create revision fences the holder's writes.
 * A lock asked with lease 0 gets a lease of its own (60 s, etcd's session default), which
 * nobody keeps alive: the lock is released when it runs out, as etcd does.
 * Unlock(key) deletes the key.
 */
#include "recipe.h"

#include "apply.h"
#include "pbx.h"
#include "rpc.pb.h"
#include "v3lock.pb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* etcd's concurrency session default TTL, for a lock asked without a lease. */
#define SESSION_TTL 60

typedef struct lock_call {
    rpc_unary *call;
    int64_t lease;
    uint8_t *prefix; /* "<name>/" */
    size_t prefix_len;
    uint8_t *key; /* prefix + lease in hex */
    size_t key_len;
    int64_t my_rev;
} lock_call;

static void lock_call_free(lock_call *lc)
{
    free(lc->prefix);
    free(lc->key);
    free(lc);
}

static void fail_call(lock_call *lc, coord_err e)
{
    server_fail(lc->call, e);
    lock_call_free(lc);
}

static void reply_locked(recipe_engine *r, lock_call *lc, const etcdserverpb_ResponseHeader *h)
{
    (void)r;
    v3lockpb_LockResponse out = {.has_header = true, .header = *h};
    out.key = (pbx_bytes_t){lc->key, lc->key_len};
    rpc_unary_reply_msg(lc->call, &v3lockpb_LockResponse_msg, &out);
    lock_call_free(lc);
}

static void lock_waited(recipe_engine *r, void *arg, coord_err err, mvcc_txn *snapshot)
{
    lock_call *lc = arg;
    if (err != COORD_OK) {
        fail_call(lc, err);
        return;
    }
    mvcc_kv own;
    bool found = false;
    if (mvcc_txn_get(snapshot, lc->key, lc->key_len, &own, &found) != MVCC_OK) {
        fail_call(lc, COORD_ERR_INTERNAL);
        return;
    }
    if (!found || own.create_revision != lc->my_rev) {
        rpc_unary_fail(lc->call, GRPC_STATUS_UNKNOWN, "concurrency: session expired");
        lock_call_free(lc);
        return;
    }
    etcdserverpb_ResponseHeader h = {0};
    server_fill_header(recipe_server(r), &h, mvcc_txn_rev(snapshot));
    reply_locked(r, lc, &h);
}

static const etcdserverpb_RangeResponse *op_range(const etcdserverpb_TxnResponse *t, size_t i)
{
    if (i >= t->responses.count) return NULL;
    const etcdserverpb_ResponseOp *op = (const etcdserverpb_ResponseOp *)t->responses.items + i;
    if (op->which_response != etcdserverpb_ResponseOp_response_range_tag) return NULL;
    return &op->response.response_range;
}

static void lock_txn_done(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                          size_t len)
{
    lock_call *lc = arg;
    if (err != COORD_OK) {
        fail_call(lc, err);
        return;
    }
    etcdserverpb_TxnResponse t;
    if (pbx_decode(&etcdserverpb_TxnResponse_msg, &t, resp, len) != 0) {
        fail_call(lc, COORD_ERR_INTERNAL);
        return;
    }
    const etcdserverpb_RangeResponse *mine = op_range(&t, 0), *owner = op_range(&t, 1);
    if (!owner || (!t.succeeded && (!mine || mine->kvs.count != 1))) {
        pbx_release(&etcdserverpb_TxnResponse_msg, &t);
        fail_call(lc, COORD_ERR_INTERNAL);
        return;
    }
    lc->my_rev = t.succeeded ? t.header.revision
                             : ((const mvccpb_KeyValue *)mine->kvs.items)[0].create_revision;
    bool held = owner->kvs.count == 0 ||
                ((const mvccpb_KeyValue *)owner->kvs.items)[0].create_revision == lc->my_rev;
    etcdserverpb_ResponseHeader h = t.header;
    pbx_release(&etcdserverpb_TxnResponse_msg, &t);
    if (held)
        reply_locked(r, lc, &h);
    else
        recipe_wait_deletes(r, lc->prefix, lc->prefix_len, lc->my_rev - 1, lock_waited, lc);
}

/* The Range that finds the first-created key under a prefix. */
static void first_created(etcdserverpb_RangeRequest *rr, const uint8_t *prefix, size_t prefix_len,
                          uint8_t *end, size_t *end_len)
{
    *end_len = recipe_prefix_end(prefix, prefix_len, end);
    memset(rr, 0, sizeof(*rr));
    rr->key = (pbx_bytes_t){prefix, prefix_len};
    rr->range_end = (pbx_bytes_t){end, *end_len};
    rr->sort_target = etcdserverpb_RangeRequest_SortTarget_CREATE;
    rr->sort_order = etcdserverpb_RangeRequest_SortOrder_ASCEND;
    rr->limit = 1;
}

static void lock_txn(recipe_engine *r, lock_call *lc)
{
    char hex[20];
    int n = snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)lc->lease);
    lc->key_len = lc->prefix_len + (size_t)n;
    lc->key = malloc(lc->key_len);
    uint8_t *end = malloc(lc->prefix_len ? lc->prefix_len : 1);
    if (!lc->key || !end) {
        free(end);
        fail_call(lc, COORD_ERR_INTERNAL);
        return;
    }
    memcpy(lc->key, lc->prefix, lc->prefix_len);
    memcpy(lc->key + lc->prefix_len, hex, (size_t)n);
    pbx_bytes_t key = {lc->key, lc->key_len};
    etcdserverpb_Compare cmp = {.result = etcdserverpb_Compare_CompareResult_EQUAL,
                                .target = etcdserverpb_Compare_CompareTarget_CREATE,
                                .key = key,
                                .which_target_union = etcdserverpb_Compare_create_revision_tag};
    etcdserverpb_RequestOp then_ops[2] = {0}, else_ops[2] = {0};
    then_ops[0].which_request = etcdserverpb_RequestOp_request_put_tag;
    then_ops[0].request.request_put.key = key;
    then_ops[0].request.request_put.lease = lc->lease;
    else_ops[0].which_request = etcdserverpb_RequestOp_request_range_tag;
    else_ops[0].request.request_range.key = key;
    size_t end_len;
    then_ops[1].which_request = etcdserverpb_RequestOp_request_range_tag;
    first_created(&then_ops[1].request.request_range, lc->prefix, lc->prefix_len, end, &end_len);
    else_ops[1] = then_ops[1];
    etcdserverpb_TxnRequest t = {0};
    t.compare.items = &cmp;
    t.compare.count = 1;
    t.success.items = then_ops;
    t.success.count = 2;
    t.failure.items = else_ops;
    t.failure.count = 2;
    recipe_propose(r, ENTRY_TXN, &etcdserverpb_TxnRequest_msg, &t, lock_txn_done, lc);
    free(end);
}

static void lock_granted(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                         size_t len)
{
    lock_call *lc = arg;
    etcdserverpb_LeaseGrantResponse g;
    if (err != COORD_OK) {
        fail_call(lc, err);
        return;
    }
    if (pbx_decode(&etcdserverpb_LeaseGrantResponse_msg, &g, resp, len) != 0) {
        fail_call(lc, COORD_ERR_INTERNAL);
        return;
    }
    lc->lease = g.ID;
    pbx_release(&etcdserverpb_LeaseGrantResponse_msg, &g);
    lock_txn(r, lc);
}

static void lock_start(recipe_engine *r, void *arg, bool stopped)
{
    lock_call *lc = arg;
    if (stopped) {
        fail_call(lc, COORD_ERR_STOPPED);
        return;
    }
    if (lc->lease != 0) {
        lock_txn(r, lc);
        return;
    }
    coord_server *s = recipe_server(r);
    etcdserverpb_LeaseGrantRequest g = {.TTL = SESSION_TTL};
    while (g.ID == 0) g.ID = (int64_t)(server_next_request_id(s) & (uint64_t)INT64_MAX);
    recipe_propose(r, ENTRY_LEASE_GRANT, &etcdserverpb_LeaseGrantRequest_msg, &g, lock_granted, lc);
}

static void lock_lock(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    recipe_engine *r = ctx;
    v3lockpb_LockRequest lr;
    if (pbx_decode(&v3lockpb_LockRequest_msg, &lr, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    lock_call *lc = calloc(1, sizeof(*lc));
    uint8_t *prefix = malloc(lr.name.len + 1);
    if (!lc || !prefix) {
        free(lc);
        free(prefix);
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    if (lr.name.len) memcpy(prefix, lr.name.ptr, lr.name.len);
    prefix[lr.name.len] = '/';
    lc->call = call;
    lc->lease = lr.lease;
    lc->prefix = prefix;
    lc->prefix_len = lr.name.len + 1;
    recipe_post(r, lock_start, lc);
}

/* --- Unlock ---------------------------------------------------------------------------- */

static void unlock_done(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp, size_t len)
{
    (void)r;
    rpc_unary *call = arg;
    etcdserverpb_DeleteRangeResponse d;
    if (err == COORD_OK && pbx_decode(&etcdserverpb_DeleteRangeResponse_msg, &d, resp, len) != 0)
        err = COORD_ERR_INTERNAL;
    if (err != COORD_OK) {
        server_fail(call, err);
        return;
    }
    v3lockpb_UnlockResponse out = {.has_header = true, .header = d.header};
    pbx_release(&etcdserverpb_DeleteRangeResponse_msg, &d);
    rpc_unary_reply_msg(call, &v3lockpb_UnlockResponse_msg, &out);
}

static void lock_unlock(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    recipe_engine *r = ctx;
    v3lockpb_UnlockRequest ur;
    if (pbx_decode(&v3lockpb_UnlockRequest_msg, &ur, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    if (ur.key.len == 0) {
        server_fail(call, COORD_ERR_EMPTY_KEY);
        return;
    }
    etcdserverpb_DeleteRangeRequest d = {.key = ur.key};
    recipe_propose(r, ENTRY_DELETE_RANGE, &etcdserverpb_DeleteRangeRequest_msg, &d, unlock_done,
                   call);
}

int lock_service_register(coord_server *s, recipe_engine *r)
{
    if (rpc_server_add_unary(s->rpc, "/v3lockpb.Lock/Lock", lock_lock, r) ||
        rpc_server_add_unary(s->rpc, "/v3lockpb.Lock/Unlock", lock_unlock, r))
        return -1;
    return 0;
}
