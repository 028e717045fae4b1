/* libcoord's lock and election calls: v3lockpb.Lock and v3electionpb.Election. */
#include "libcoord_internal.h"

#include "pbx.h"
#include "rpc_client.h"
#include "v3election.pb.h"
#include "v3lock.pb.h"

#include <stdlib.h>
#include <string.h>

#define METHOD_LOCK     "/v3lockpb.Lock/Lock"
#define METHOD_UNLOCK   "/v3lockpb.Lock/Unlock"
#define METHOD_CAMPAIGN "/v3electionpb.Election/Campaign"
#define METHOD_PROCLAIM "/v3electionpb.Election/Proclaim"
#define METHOD_LEADER   "/v3electionpb.Election/Leader"
#define METHOD_OBSERVE  "/v3electionpb.Election/Observe"
#define METHOD_RESIGN   "/v3electionpb.Election/Resign"

/* "As long as it takes", in a form a deadline can still be computed from: ten years. */
#define FOREVER_MS (10LL * 365 * 24 * 3600 * 1000)

static pbx_bytes_t to_pb(coord_bytes b)
{
    return (pbx_bytes_t){b.ptr, b.len};
}

static coord_bytes from_pb(pbx_bytes_t b)
{
    return (coord_bytes){b.ptr, b.len};
}

static void header_from_pb(const etcdserverpb_ResponseHeader *m, coord_header *h)
{
    h->cluster_id = m->cluster_id;
    h->member_id = m->member_id;
    h->revision = m->revision;
    h->raft_term = m->raft_term;
}

/* Decodes buf into msg, from a copy kept in a new arena (*arena) so bytes views stay valid. */
static int decode_owned(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len,
                        coord_arena **arena, coord_error *err)
{
    coord_arena *a = lc_arena_new();
    uint8_t *copy = a ? lc_arena_alloc(a, len ? len : 1) : NULL;
    if (!copy) {
        lc_arena_free(a);
        return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (len) memcpy(copy, buf, len);
    const char *why = "malformed";
    if (pbx_decode_why(desc, msg, copy, len, &why) != 0) {
        lc_arena_free(a);
        return lc_fail(err, COORD_INTERNAL, "cannot decode the response: %s", why);
    }
    *arena = a;
    return COORD_OK;
}

static int unary(coord_client *c, const char *method, int64_t timeout_ms,
                 const pb_msgdesc_t *req_desc, const void *req, const pb_msgdesc_t *resp_desc,
                 void *resp, coord_arena **arena, coord_error *err)
{
    coord_error local;
    if (!err) err = &local;
    err->code = COORD_OK;
    err->message[0] = '\0';
    uint8_t *buf;
    size_t len;
    if (pbx_encode_alloc(req_desc, req, &buf, &len) != 0)
        return lc_fail(err, COORD_INTERNAL, "cannot encode the request");
    rpc_reply reply;
    int rc = lc_call(c, method, true, timeout_ms, buf, len, &reply, err);
    free(buf);
    if (rc != COORD_OK) return rc;
    rc = decode_owned(resp_desc, resp, reply.body.data, reply.body.len, arena, err);
    rpc_reply_free(&reply);
    return rc;
}

int coord_lock(coord_client *c, coord_bytes name, int64_t lease, int64_t wait_ms,
               coord_lock_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    v3lockpb_LockRequest r = {.name = to_pb(name), .lease = lease};
    v3lockpb_LockResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_LOCK, wait_ms > 0 ? wait_ms : FOREVER_MS, &v3lockpb_LockRequest_msg,
                   &r, &v3lockpb_LockResponse_msg, &m, &a, err);
    if (rc != COORD_OK) return rc;
    header_from_pb(&m.header, &resp->header);
    resp->key = from_pb(m.key);
    resp->arena = a;
    pbx_release(&v3lockpb_LockResponse_msg, &m);
    return COORD_OK;
}

int coord_unlock(coord_client *c, coord_bytes key, coord_header *header, coord_error *err)
{
    v3lockpb_UnlockRequest r = {.key = to_pb(key)};
    v3lockpb_UnlockResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_UNLOCK, 0, &v3lockpb_UnlockRequest_msg, &r,
                   &v3lockpb_UnlockResponse_msg, &m, &a, err);
    if (rc != COORD_OK) return rc;
    if (header) header_from_pb(&m.header, header);
    pbx_release(&v3lockpb_UnlockResponse_msg, &m);
    lc_arena_free(a);
    return COORD_OK;
}

void coord_lock_resp_free(coord_lock_resp *resp)
{
    if (!resp) return;
    lc_arena_free(resp->arena);
    memset(resp, 0, sizeof(*resp));
}

/* --- elections ------------------------------------------------------------------------- */

static void leader_key_to_pb(const coord_leader_key *k, v3electionpb_LeaderKey *m)
{
    m->name = to_pb(k->name);
    m->key = to_pb(k->key);
    m->rev = k->rev;
    m->lease = k->lease;
}

int coord_campaign(coord_client *c, coord_bytes name, int64_t lease, coord_bytes value,
                   int64_t wait_ms, coord_campaign_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    v3electionpb_CampaignRequest r = {.name = to_pb(name), .lease = lease, .value = to_pb(value)};
    v3electionpb_CampaignResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_CAMPAIGN, wait_ms > 0 ? wait_ms : FOREVER_MS,
                   &v3electionpb_CampaignRequest_msg, &r, &v3electionpb_CampaignResponse_msg, &m,
                   &a, err);
    if (rc != COORD_OK) return rc;
    header_from_pb(&m.header, &resp->header);
    resp->leader.name = from_pb(m.leader.name);
    resp->leader.key = from_pb(m.leader.key);
    resp->leader.rev = m.leader.rev;
    resp->leader.lease = m.leader.lease;
    resp->arena = a;
    pbx_release(&v3electionpb_CampaignResponse_msg, &m);
    return COORD_OK;
}

int coord_proclaim(coord_client *c, const coord_leader_key *leader, coord_bytes value,
                   coord_header *header, coord_error *err)
{
    v3electionpb_ProclaimRequest r = {.has_leader = true, .value = to_pb(value)};
    leader_key_to_pb(leader, &r.leader);
    v3electionpb_ProclaimResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_PROCLAIM, 0, &v3electionpb_ProclaimRequest_msg, &r,
                   &v3electionpb_ProclaimResponse_msg, &m, &a, err);
    if (rc != COORD_OK) return rc;
    if (header) header_from_pb(&m.header, header);
    pbx_release(&v3electionpb_ProclaimResponse_msg, &m);
    lc_arena_free(a);
    return COORD_OK;
}

static void leader_resp_from_pb(const v3electionpb_LeaderResponse *m, coord_leader_resp *resp)
{
    header_from_pb(&m->header, &resp->header);
    resp->has_kv = m->has_kv;
    if (!m->has_kv) return;
    resp->kv.key = from_pb(m->kv.key);
    resp->kv.value = from_pb(m->kv.value);
    resp->kv.create_revision = m->kv.create_revision;
    resp->kv.mod_revision = m->kv.mod_revision;
    resp->kv.version = m->kv.version;
    resp->kv.lease = m->kv.lease;
}

int coord_leader(coord_client *c, coord_bytes name, coord_leader_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    v3electionpb_LeaderRequest r = {.name = to_pb(name)};
    v3electionpb_LeaderResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_LEADER, 0, &v3electionpb_LeaderRequest_msg, &r,
                   &v3electionpb_LeaderResponse_msg, &m, &a, err);
    if (rc != COORD_OK) return rc;
    leader_resp_from_pb(&m, resp);
    resp->arena = a;
    pbx_release(&v3electionpb_LeaderResponse_msg, &m);
    return COORD_OK;
}

int coord_resign(coord_client *c, const coord_leader_key *leader, coord_header *header,
                 coord_error *err)
{
    v3electionpb_ResignRequest r = {.has_leader = true};
    leader_key_to_pb(leader, &r.leader);
    v3electionpb_ResignResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_RESIGN, 0, &v3electionpb_ResignRequest_msg, &r,
                   &v3electionpb_ResignResponse_msg, &m, &a, err);
    if (rc != COORD_OK) return rc;
    if (header) header_from_pb(&m.header, header);
    pbx_release(&v3electionpb_ResignResponse_msg, &m);
    lc_arena_free(a);
    return COORD_OK;
}

void coord_campaign_resp_free(coord_campaign_resp *resp)
{
    if (!resp) return;
    lc_arena_free(resp->arena);
    memset(resp, 0, sizeof(*resp));
}

void coord_leader_resp_free(coord_leader_resp *resp)
{
    if (!resp) return;
    lc_arena_free(resp->arena);
    memset(resp, 0, sizeof(*resp));
}

/* --- observe --------------------------------------------------------------------------- */

struct coord_observer {
    rpc_cstream *stream;
};

int coord_observe(coord_client *c, coord_bytes name, coord_observer **out, coord_error *err)
{
    *out = NULL;
    rpc_channel *ch;
    int rc = lc_channel(c, &ch, err);
    if (rc != COORD_OK) return rc;
    coord_observer *o = calloc(1, sizeof(*o));
    if (!o) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    rpc_call_opts opts = {0};
    if (rpc_cstream_open(ch, METHOD_OBSERVE, &opts, &o->stream) != 0) {
        free(o);
        return lc_fail(err, COORD_INTERNAL, "cannot open an observe stream");
    }
    v3electionpb_LeaderRequest r = {.name = to_pb(name)};
    if (rpc_cstream_send_msg(o->stream, &v3electionpb_LeaderRequest_msg, &r) != 0 ||
        rpc_cstream_close_send(o->stream) != 0) {
        char *msg = NULL;
        grpc_status_code code = rpc_cstream_status(o->stream, &msg);
        rc = lc_fail(err, code ? (int)code : COORD_UNAVAILABLE, "%s",
                     msg && *msg ? msg : "the observe stream ended");
        free(msg);
        coord_observe_close(o);
        return rc;
    }
    *out = o;
    return COORD_OK;
}

int coord_observe_next(coord_observer *o, int64_t timeout_ms, coord_leader_resp *resp,
                       coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    rpc_buf b;
    int got = rpc_cstream_recv(o->stream, timeout_ms, &b);
    if (got == RPC_RECV_TIMEOUT)
        return lc_fail(err, COORD_DEADLINE_EXCEEDED, "context deadline exceeded");
    if (got != RPC_RECV_MSG) {
        char *msg = NULL;
        grpc_status_code code = rpc_cstream_status(o->stream, &msg);
        int rc = lc_fail(err, code ? (int)code : COORD_UNAVAILABLE, "%s",
                         msg && *msg ? msg : "the observe stream ended");
        free(msg);
        return rc;
    }
    v3electionpb_LeaderResponse m;
    coord_arena *a;
    int rc = decode_owned(&v3electionpb_LeaderResponse_msg, &m, b.data, b.len, &a, err);
    rpc_buf_free(&b);
    if (rc != COORD_OK) return rc;
    leader_resp_from_pb(&m, resp);
    resp->arena = a;
    pbx_release(&v3electionpb_LeaderResponse_msg, &m);
    return COORD_OK;
}

void coord_observe_close(coord_observer *o)
{
    if (!o) return;
    rpc_cstream_destroy(o->stream);
    free(o);
}
