/* election_service: etcd's v3electionpb.Election, run as etcd's concurrency.Election does it,
 * inside the server.
 *
 * A candidate's key is "<name>/<lease in hex>" holding its proposal; the leader is the candidate
 * whose key was created first. Campaign creates the key (or finds this lease's own, proclaiming
 * the new value if it differs), then waits until every key created before it is gone, and checks
 * that its own key is still there (a lease that expired while waiting is refused, where etcd 3.4
 * would answer as if it led). Proclaim and Resign are Txns guarded by the key's create
 * revision, so a former leader can change nothing. Leader reads the first-created key; Observe
 * streams the leader, then every new value and every new leader.
 * A campaign with lease 0 gets a lease of its own (60 s), as etcd's session would.
 */
#include "apply.h"
#include "pbx.h"
#include "recipe.h"
#include "rpc.pb.h"
#include "v3election.pb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_TTL 60

static const char NOT_LEADER[] = "election: not leader";
static const char NO_LEADER[] = "election: no leader";
static const char MISSING_LEADER[] = "\"leader\" field must be provided";

static void fail_decode(rpc_unary *call)
{
    rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
}

/* "<name>/" */
static uint8_t *name_prefix(pbx_bytes_t name, size_t *len)
{
    uint8_t *p = malloc(name.len + 1);
    if (!p) return NULL;
    if (name.len) memcpy(p, name.ptr, name.len);
    p[name.len] = '/';
    *len = name.len + 1;
    return p;
}

static uint8_t *dup_bytes(pbx_bytes_t b)
{
    uint8_t *p = malloc(b.len ? b.len : 1);
    if (p && b.len) memcpy(p, b.ptr, b.len);
    return p;
}

/* If CREATE(key) == rev Then op: the guard of Proclaim and Resign (and of Campaign with 0). */
static void guarded_txn(etcdserverpb_TxnRequest *t, etcdserverpb_Compare *cmp,
                        etcdserverpb_RequestOp *op, pbx_bytes_t key, int64_t rev)
{
    memset(t, 0, sizeof(*t));
    *cmp = (etcdserverpb_Compare){.result = etcdserverpb_Compare_CompareResult_EQUAL,
                                  .target = etcdserverpb_Compare_CompareTarget_CREATE,
                                  .key = key,
                                  .which_target_union = etcdserverpb_Compare_create_revision_tag};
    cmp->target_union.create_revision = rev;
    t->compare.items = cmp;
    t->compare.count = 1;
    t->success.items = op;
    t->success.count = 1;
}

static void put_op(etcdserverpb_RequestOp *op, pbx_bytes_t key, pbx_bytes_t value, int64_t lease)
{
    memset(op, 0, sizeof(*op));
    op->which_request = etcdserverpb_RequestOp_request_put_tag;
    op->request.request_put.key = key;
    op->request.request_put.value = value;
    op->request.request_put.lease = lease;
}

static void delete_op(etcdserverpb_RequestOp *op, pbx_bytes_t key)
{
    memset(op, 0, sizeof(*op));
    op->which_request = etcdserverpb_RequestOp_request_delete_range_tag;
    op->request.request_delete_range.key = key;
}

/* --- Campaign -------------------------------------------------------------------------- */

typedef struct campaign {
    rpc_unary *call;
    uint8_t *name;
    size_t name_len;
    uint8_t *prefix;
    size_t prefix_len;
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    int64_t lease;
    int64_t leader_rev;
    etcdserverpb_ResponseHeader hdr; /* the first Txn's, as etcd answers */
} campaign;

static void campaign_free(campaign *c)
{
    free(c->name);
    free(c->prefix);
    free(c->key);
    free(c->value);
    free(c);
}

static void campaign_fail(campaign *c, coord_err e)
{
    server_fail(c->call, e);
    campaign_free(c);
}

static pbx_bytes_t key_of(const campaign *c)
{
    return (pbx_bytes_t){c->key, c->key_len};
}

static void campaign_won(recipe_engine *r, void *arg, coord_err err, mvcc_txn *snapshot)
{
    (void)r;
    campaign *c = arg;
    if (err != COORD_OK) {
        campaign_fail(c, err);
        return;
    }
    mvcc_kv own;
    bool found = false;
    if (mvcc_txn_get(snapshot, c->key, c->key_len, &own, &found) != MVCC_OK) {
        campaign_fail(c, COORD_ERR_INTERNAL);
        return;
    }
    if (!found || own.create_revision != c->leader_rev) {
        rpc_unary_fail(c->call, GRPC_STATUS_UNKNOWN, "concurrency: session expired");
        campaign_free(c);
        return;
    }
    v3electionpb_CampaignResponse out = {.has_header = true, .header = c->hdr, .has_leader = true};
    out.leader.name = (pbx_bytes_t){c->name, c->name_len};
    out.leader.key = key_of(c);
    out.leader.rev = c->leader_rev;
    out.leader.lease = c->lease;
    rpc_unary_reply_msg(c->call, &v3electionpb_CampaignResponse_msg, &out);
    campaign_free(c);
}

static void campaign_wait(recipe_engine *r, campaign *c)
{
    recipe_wait_deletes(r, c->prefix, c->prefix_len, c->leader_rev - 1, campaign_won, c);
}

static void campaign_resigned(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                              size_t len)
{
    (void)r;
    (void)resp;
    (void)len;
    campaign *c = arg;
    if (err != COORD_OK) {
        campaign_fail(c, err);
        return;
    }
    rpc_unary_fail(c->call, GRPC_STATUS_UNKNOWN, NOT_LEADER);
    campaign_free(c);
}

/* Did the guarded Txn of a Proclaim or Resign succeed? -1: not decodable. */
static int txn_succeeded(const uint8_t *resp, size_t len, etcdserverpb_ResponseHeader *h)
{
    etcdserverpb_TxnResponse t;
    if (pbx_decode(&etcdserverpb_TxnResponse_msg, &t, resp, len) != 0) return -1;
    int ok = t.succeeded;
    if (h) *h = t.header;
    pbx_release(&etcdserverpb_TxnResponse_msg, &t);
    return ok;
}

static void campaign_proclaimed(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                                size_t len)
{
    campaign *c = arg;
    if (err != COORD_OK) {
        campaign_fail(c, err);
        return;
    }
    int ok = txn_succeeded(resp, len, NULL);
    if (ok < 0) {
        campaign_fail(c, COORD_ERR_INTERNAL);
        return;
    }
    if (ok) {
        campaign_wait(r, c);
        return;
    }
    /* Our key changed hands meanwhile: step aside, as etcd's Campaign does. */
    etcdserverpb_TxnRequest t;
    etcdserverpb_Compare cmp;
    etcdserverpb_RequestOp op;
    delete_op(&op, key_of(c));
    guarded_txn(&t, &cmp, &op, key_of(c), c->leader_rev);
    recipe_propose(r, ENTRY_TXN, &etcdserverpb_TxnRequest_msg, &t, campaign_resigned, c);
}

static void campaign_txn_done(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                              size_t len)
{
    campaign *c = arg;
    if (err != COORD_OK) {
        campaign_fail(c, err);
        return;
    }
    etcdserverpb_TxnResponse t;
    if (pbx_decode(&etcdserverpb_TxnResponse_msg, &t, resp, len) != 0) {
        campaign_fail(c, COORD_ERR_INTERNAL);
        return;
    }
    c->hdr = t.header;
    bool proclaim = false;
    if (t.succeeded) {
        c->leader_rev = t.header.revision;
    } else {
        const etcdserverpb_ResponseOp *op = t.responses.items;
        if (t.responses.count != 1 ||
            op->which_response != etcdserverpb_ResponseOp_response_range_tag ||
            op->response.response_range.kvs.count != 1) {
            pbx_release(&etcdserverpb_TxnResponse_msg, &t);
            campaign_fail(c, COORD_ERR_INTERNAL);
            return;
        }
        const mvccpb_KeyValue *kv = op->response.response_range.kvs.items;
        c->leader_rev = kv->create_revision;
        proclaim = kv->value.len != c->value_len ||
                   (c->value_len && memcmp(kv->value.ptr, c->value, c->value_len) != 0);
    }
    pbx_release(&etcdserverpb_TxnResponse_msg, &t);
    if (!proclaim) {
        campaign_wait(r, c);
        return;
    }
    etcdserverpb_TxnRequest pt;
    etcdserverpb_Compare cmp;
    etcdserverpb_RequestOp op;
    put_op(&op, key_of(c), (pbx_bytes_t){c->value, c->value_len}, c->lease);
    guarded_txn(&pt, &cmp, &op, key_of(c), c->leader_rev);
    recipe_propose(r, ENTRY_TXN, &etcdserverpb_TxnRequest_msg, &pt, campaign_proclaimed, c);
}

static void campaign_txn(recipe_engine *r, campaign *c)
{
    char hex[20];
    int n = snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)c->lease);
    c->key_len = c->prefix_len + (size_t)n;
    c->key = malloc(c->key_len);
    if (!c->key) {
        campaign_fail(c, COORD_ERR_INTERNAL);
        return;
    }
    memcpy(c->key, c->prefix, c->prefix_len);
    memcpy(c->key + c->prefix_len, hex, (size_t)n);
    etcdserverpb_TxnRequest t;
    etcdserverpb_Compare cmp;
    etcdserverpb_RequestOp then_op, else_op;
    put_op(&then_op, key_of(c), (pbx_bytes_t){c->value, c->value_len}, c->lease);
    guarded_txn(&t, &cmp, &then_op, key_of(c), 0);
    memset(&else_op, 0, sizeof(else_op));
    else_op.which_request = etcdserverpb_RequestOp_request_range_tag;
    else_op.request.request_range.key = key_of(c);
    t.failure.items = &else_op;
    t.failure.count = 1;
    recipe_propose(r, ENTRY_TXN, &etcdserverpb_TxnRequest_msg, &t, campaign_txn_done, c);
}

static void campaign_granted(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                             size_t len)
{
    campaign *c = arg;
    etcdserverpb_LeaseGrantResponse g;
    if (err != COORD_OK) {
        campaign_fail(c, err);
        return;
    }
    if (pbx_decode(&etcdserverpb_LeaseGrantResponse_msg, &g, resp, len) != 0) {
        campaign_fail(c, COORD_ERR_INTERNAL);
        return;
    }
    c->lease = g.ID;
    pbx_release(&etcdserverpb_LeaseGrantResponse_msg, &g);
    campaign_txn(r, c);
}

static void campaign_start(recipe_engine *r, void *arg, bool stopped)
{
    campaign *c = arg;
    if (stopped) {
        campaign_fail(c, COORD_ERR_STOPPED);
        return;
    }
    if (c->lease != 0) {
        campaign_txn(r, c);
        return;
    }
    coord_server *s = recipe_server(r);
    etcdserverpb_LeaseGrantRequest g = {.TTL = SESSION_TTL};
    while (g.ID == 0) g.ID = (int64_t)(server_next_request_id(s) & (uint64_t)INT64_MAX);
    recipe_propose(r, ENTRY_LEASE_GRANT, &etcdserverpb_LeaseGrantRequest_msg, &g, campaign_granted,
                   c);
}

static void election_campaign(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    recipe_engine *r = ctx;
    v3electionpb_CampaignRequest cr;
    if (pbx_decode(&v3electionpb_CampaignRequest_msg, &cr, req, len) != 0) {
        fail_decode(call);
        return;
    }
    campaign *c = calloc(1, sizeof(*c));
    if (c) {
        c->call = call;
        c->lease = cr.lease;
        c->name = dup_bytes(cr.name);
        c->name_len = cr.name.len;
        c->value = dup_bytes(cr.value);
        c->value_len = cr.value.len;
        c->prefix = name_prefix(cr.name, &c->prefix_len);
    }
    if (!c || !c->name || !c->value || !c->prefix) {
        if (c) campaign_free(c);
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    recipe_post(r, campaign_start, c);
}

/* --- Proclaim and Resign --------------------------------------------------------------- */

typedef struct guarded {
    rpc_unary *call;
    bool proclaim; /* else resign */
} guarded;

static void guarded_done(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                         size_t len)
{
    (void)r;
    guarded *g = arg;
    etcdserverpb_ResponseHeader h = {0};
    int ok = err == COORD_OK ? txn_succeeded(resp, len, &h) : 0;
    if (err != COORD_OK || ok < 0) {
        server_fail(g->call, err != COORD_OK ? err : COORD_ERR_INTERNAL);
    } else if (g->proclaim && !ok) {
        rpc_unary_fail(g->call, GRPC_STATUS_UNKNOWN, NOT_LEADER);
    } else if (g->proclaim) {
        v3electionpb_ProclaimResponse out = {.has_header = true, .header = h};
        rpc_unary_reply_msg(g->call, &v3electionpb_ProclaimResponse_msg, &out);
    } else {
        /* A resign of a key that is not ours any more changes nothing and is no error. */
        v3electionpb_ResignResponse out = {.has_header = true, .header = h};
        rpc_unary_reply_msg(g->call, &v3electionpb_ResignResponse_msg, &out);
    }
    free(g);
}

static void propose_guarded(recipe_engine *r, rpc_unary *call, bool proclaim,
                            const v3electionpb_LeaderKey *k, pbx_bytes_t value)
{
    guarded *g = calloc(1, sizeof(*g));
    if (!g) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    g->call = call;
    g->proclaim = proclaim;
    etcdserverpb_TxnRequest t;
    etcdserverpb_Compare cmp;
    etcdserverpb_RequestOp op;
    if (proclaim)
        put_op(&op, k->key, value, k->lease);
    else
        delete_op(&op, k->key);
    guarded_txn(&t, &cmp, &op, k->key, k->rev);
    recipe_propose(r, ENTRY_TXN, &etcdserverpb_TxnRequest_msg, &t, guarded_done, g);
}

static void election_proclaim(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    v3electionpb_ProclaimRequest pr;
    if (pbx_decode(&v3electionpb_ProclaimRequest_msg, &pr, req, len) != 0) {
        fail_decode(call);
        return;
    }
    if (!pr.has_leader) {
        rpc_unary_fail(call, GRPC_STATUS_UNKNOWN, MISSING_LEADER);
        return;
    }
    if (pr.leader.key.len == 0) {
        server_fail(call, COORD_ERR_EMPTY_KEY);
        return;
    }
    propose_guarded(ctx, call, true, &pr.leader, pr.value);
}

static void election_resign(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    v3electionpb_ResignRequest rr;
    if (pbx_decode(&v3electionpb_ResignRequest_msg, &rr, req, len) != 0) {
        fail_decode(call);
        return;
    }
    if (!rr.has_leader) {
        rpc_unary_fail(call, GRPC_STATUS_UNKNOWN, MISSING_LEADER);
        return;
    }
    if (rr.leader.key.len == 0) {
        server_fail(call, COORD_ERR_EMPTY_KEY);
        return;
    }
    propose_guarded(ctx, call, false, &rr.leader, (pbx_bytes_t){0});
}

/* --- Leader and Observe ---------------------------------------------------------------- */

static void leader_kv(mvccpb_KeyValue *out, const recipe_kv *kv)
{
    *out = (mvccpb_KeyValue){.key = {kv->key, kv->key_len},
                             .value = {kv->value, kv->value_len},
                             .create_revision = kv->create_revision,
                             .mod_revision = kv->mod_revision,
                             .version = kv->version,
                             .lease = kv->lease};
}

static void leader_read(coord_server *s, rpc_unary *call, const uint8_t *req, size_t len)
{
    v3electionpb_LeaderRequest lr;
    if (pbx_decode(&v3electionpb_LeaderRequest_msg, &lr, req, len) != 0) {
        fail_decode(call);
        return;
    }
    size_t plen;
    uint8_t *prefix = name_prefix(lr.name, &plen);
    mvcc_txn *t;
    if (!prefix || mvcc_read_begin(s->kv, &t) != MVCC_OK) {
        free(prefix);
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    recipe_kv kv = {0};
    bool found = false;
    if (recipe_pick(t, prefix, plen, 0, false, &kv, &found) != MVCC_OK) {
        server_fail(call, COORD_ERR_INTERNAL);
    } else if (!found) {
        rpc_unary_fail(call, GRPC_STATUS_UNKNOWN, NO_LEADER);
    } else {
        v3electionpb_LeaderResponse out = {.has_header = true, .has_kv = true};
        server_fill_header(s, &out.header, mvcc_txn_rev(t));
        leader_kv(&out.kv, &kv);
        rpc_unary_reply_msg(call, &v3electionpb_LeaderResponse_msg, &out);
    }
    recipe_kv_free(&kv);
    mvcc_txn_end(t);
    free(prefix);
}

static void election_leader(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    recipe_engine *r = ctx;
    server_read(recipe_server(r), call, true, leader_read, req, len);
}

typedef struct observe_call {
    recipe_engine *r;
    rpc_stream *stream;
    recipe_observer *obs; /* NULL until the request came */
} observe_call;

/* On the engine's thread, with its lock held: queue and return. */
static void observe_send(void *arg, int64_t rev, const mvcc_kv *kv)
{
    observe_call *oc = arg;
    v3electionpb_LeaderResponse out = {.has_header = true, .has_kv = true};
    server_fill_header(recipe_server(oc->r), &out.header, rev);
    out.kv = (mvccpb_KeyValue){.key = {kv->key, kv->key_len},
                               .value = {kv->value, kv->value_len},
                               .create_revision = kv->create_revision,
                               .mod_revision = kv->mod_revision,
                               .version = kv->version,
                               .lease = kv->lease};
    rpc_stream_send_msg(oc->stream, &v3electionpb_LeaderResponse_msg, &out);
}

static void observe_open(void *ctx, rpc_stream *st, void **state)
{
    observe_call *oc = calloc(1, sizeof(*oc));
    if (!oc) {
        rpc_stream_finish(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    oc->r = ctx;
    oc->stream = st;
    *state = oc;
}

static void observe_message(void *ctx, rpc_stream *st, void *state, const uint8_t *msg, size_t len)
{
    (void)ctx;
    observe_call *oc = state;
    if (!oc || oc->obs) return; /* one request per stream; more are ignored */
    v3electionpb_LeaderRequest lr;
    if (pbx_decode(&v3electionpb_LeaderRequest_msg, &lr, msg, len) != 0) {
        rpc_stream_finish(st, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    size_t plen;
    uint8_t *prefix = name_prefix(lr.name, &plen);
    if (!prefix || recipe_observe(oc->r, prefix, plen, observe_send, oc, &oc->obs) != 0)
        rpc_stream_finish(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    free(prefix);
}

/* The client sent its one request and half-closed: the leaders keep coming. */
static void observe_half_close(void *ctx, rpc_stream *st, void *state)
{
    (void)ctx;
    (void)st;
    (void)state;
}

static void observe_close(void *ctx, rpc_stream *st, void *state)
{
    (void)ctx;
    (void)st;
    observe_call *oc = state;
    if (!oc) return;
    recipe_unobserve(oc->r, oc->obs);
    free(oc);
}

int election_service_register(coord_server *s, recipe_engine *r)
{
    static const rpc_stream_handlers observe = {.on_open = observe_open,
                                                .on_message = observe_message,
                                                .on_half_close = observe_half_close,
                                                .on_close = observe_close};
    if (rpc_server_add_unary(s->rpc, "/v3electionpb.Election/Campaign", election_campaign, r) ||
        rpc_server_add_unary(s->rpc, "/v3electionpb.Election/Proclaim", election_proclaim, r) ||
        rpc_server_add_unary(s->rpc, "/v3electionpb.Election/Leader", election_leader, r) ||
        rpc_server_add_unary(s->rpc, "/v3electionpb.Election/Resign", election_resign, r) ||
        rpc_server_add_stream(s->rpc, "/v3electionpb.Election/Observe", &observe, r))
        return -1;
    return 0;
}
