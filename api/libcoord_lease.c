/* libcoord's lease calls: Grant, Revoke, TimeToLive, Leases, and the KeepAlive stream. */
#include "libcoord_internal.h"

#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"

#include <stdlib.h>
#include <string.h>

#define METHOD_GRANT     "/etcdserverpb.Lease/LeaseGrant"
#define METHOD_REVOKE    "/etcdserverpb.Lease/LeaseRevoke"
#define METHOD_TTL       "/etcdserverpb.Lease/LeaseTimeToLive"
#define METHOD_LEASES    "/etcdserverpb.Lease/LeaseLeases"
#define METHOD_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"

static void header_from_pb(const etcdserverpb_ResponseHeader *m, coord_header *h)
{
    h->cluster_id = m->cluster_id;
    h->member_id = m->member_id;
    h->revision = m->revision;
    h->raft_term = m->raft_term;
}

/* Encodes req, makes the call, decodes the answer into resp (whose lists and bytes point into
 * *arena when arena is not NULL, else into nothing that outlives the call). */
static int unary(coord_client *c, const char *method, bool write, const pb_msgdesc_t *req_desc,
                 const void *req, const pb_msgdesc_t *resp_desc, void *resp, coord_arena **arena,
                 coord_error *err)
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
    int rc = lc_call(c, method, write, 0, buf, len, &reply, err);
    free(buf);
    if (rc != COORD_OK) return rc;
    coord_arena *a = NULL;
    const uint8_t *body = reply.body.data;
    if (arena) {
        /* Bytes fields stay views of the body: keep a copy the response owns. */
        a = lc_arena_new();
        uint8_t *copy = a ? lc_arena_alloc(a, reply.body.len ? reply.body.len : 1) : NULL;
        if (!copy) {
            lc_arena_free(a);
            rpc_reply_free(&reply);
            return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
        }
        if (reply.body.len) memcpy(copy, reply.body.data, reply.body.len);
        body = copy;
    }
    const char *why = "malformed";
    rc = pbx_decode_why(resp_desc, resp, body, reply.body.len, &why);
    rpc_reply_free(&reply);
    if (rc != 0) {
        lc_arena_free(a);
        return lc_fail(err, COORD_INTERNAL, "cannot decode the response: %s", why);
    }
    if (arena) *arena = a;
    return COORD_OK;
}

int coord_lease_grant(coord_client *c, int64_t ttl, int64_t id, coord_lease_grant_resp *resp,
                      coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_LeaseGrantRequest r = {.TTL = ttl, .ID = id};
    etcdserverpb_LeaseGrantResponse m;
    int rc = unary(c, METHOD_GRANT, true, &etcdserverpb_LeaseGrantRequest_msg, &r,
                   &etcdserverpb_LeaseGrantResponse_msg, &m, NULL, err);
    if (rc != COORD_OK) return rc;
    header_from_pb(&m.header, &resp->header);
    resp->id = m.ID;
    resp->ttl = m.TTL;
    pbx_release(&etcdserverpb_LeaseGrantResponse_msg, &m);
    return COORD_OK;
}

int coord_lease_revoke(coord_client *c, int64_t id, coord_header *header, coord_error *err)
{
    etcdserverpb_LeaseRevokeRequest r = {.ID = id};
    etcdserverpb_LeaseRevokeResponse m;
    int rc = unary(c, METHOD_REVOKE, true, &etcdserverpb_LeaseRevokeRequest_msg, &r,
                   &etcdserverpb_LeaseRevokeResponse_msg, &m, NULL, err);
    if (rc != COORD_OK) return rc;
    if (header) header_from_pb(&m.header, header);
    pbx_release(&etcdserverpb_LeaseRevokeResponse_msg, &m);
    return COORD_OK;
}

int coord_lease_time_to_live(coord_client *c, int64_t id, bool keys, coord_lease_ttl_resp *resp,
                             coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_LeaseTimeToLiveRequest r = {.ID = id, .keys = keys};
    etcdserverpb_LeaseTimeToLiveResponse m;
    coord_arena *a;
    int rc = unary(c, METHOD_TTL, false, &etcdserverpb_LeaseTimeToLiveRequest_msg, &r,
                   &etcdserverpb_LeaseTimeToLiveResponse_msg, &m, &a, err);
    if (rc != COORD_OK) return rc;
    header_from_pb(&m.header, &resp->header);
    resp->id = m.ID;
    resp->ttl = m.TTL;
    resp->granted_ttl = m.grantedTTL;
    if (m.keys.count) {
        resp->keys = lc_arena_alloc(a, m.keys.count * sizeof(*resp->keys));
        if (!resp->keys) {
            pbx_release(&etcdserverpb_LeaseTimeToLiveResponse_msg, &m);
            lc_arena_free(a);
            memset(resp, 0, sizeof(*resp));
            return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
        }
        const pbx_bytes_t *k = m.keys.items;
        for (size_t i = 0; i < m.keys.count; i++) resp->keys[i] = (coord_bytes){k[i].ptr, k[i].len};
        resp->n_keys = m.keys.count;
    }
    pbx_release(&etcdserverpb_LeaseTimeToLiveResponse_msg, &m);
    resp->arena = a;
    return COORD_OK;
}

int coord_lease_list(coord_client *c, coord_lease_list_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_LeaseLeasesRequest r = {0};
    etcdserverpb_LeaseLeasesResponse m;
    int rc = unary(c, METHOD_LEASES, false, &etcdserverpb_LeaseLeasesRequest_msg, &r,
                   &etcdserverpb_LeaseLeasesResponse_msg, &m, NULL, err);
    if (rc != COORD_OK) return rc;
    coord_arena *a = lc_arena_new();
    int64_t *ids = a && m.leases.count ? lc_arena_alloc(a, m.leases.count * sizeof(*ids)) : NULL;
    if (!a || (m.leases.count && !ids)) {
        pbx_release(&etcdserverpb_LeaseLeasesResponse_msg, &m);
        lc_arena_free(a);
        return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    }
    const etcdserverpb_LeaseStatus *st = m.leases.items;
    for (size_t i = 0; i < m.leases.count; i++) ids[i] = st[i].ID;
    header_from_pb(&m.header, &resp->header);
    resp->ids = ids;
    resp->n_ids = m.leases.count;
    resp->arena = a;
    pbx_release(&etcdserverpb_LeaseLeasesResponse_msg, &m);
    return COORD_OK;
}

void coord_lease_ttl_resp_free(coord_lease_ttl_resp *resp)
{
    if (!resp) return;
    lc_arena_free(resp->arena);
    memset(resp, 0, sizeof(*resp));
}

void coord_lease_list_resp_free(coord_lease_list_resp *resp)
{
    if (!resp) return;
    lc_arena_free(resp->arena);
    memset(resp, 0, sizeof(*resp));
}

/* --- keep-alive ------------------------------------------------------------------------ */

struct coord_keepalive {
    rpc_cstream *stream;
    int64_t timeout_ms; /* one renewal's answer */
};

int coord_keepalive_open(coord_client *c, coord_keepalive **out, coord_error *err)
{
    *out = NULL;
    rpc_channel *ch;
    int rc = lc_channel(c, &ch, err);
    if (rc != COORD_OK) return rc;
    coord_keepalive *k = calloc(1, sizeof(*k));
    if (!k) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    k->timeout_ms = lc_command_timeout_ms(c);
    /* etcd's Go client asks that the stream end when the cluster has no leader. */
    static const rpc_md md[] = {{"hasleader", "true"}};
    rpc_call_opts opts = {.timeout_ms = 0, .md = md, .md_count = 1};
    if (rpc_cstream_open(ch, METHOD_KEEPALIVE, &opts, &k->stream) != 0) {
        free(k);
        return lc_fail(err, COORD_INTERNAL, "cannot open a keep-alive stream");
    }
    *out = k;
    return COORD_OK;
}

/* Why the stream ended, as an error. */
static int stream_failed(rpc_cstream *s, coord_error *err)
{
    char *msg = NULL;
    grpc_status_code code = rpc_cstream_status(s, &msg);
    int rc = lc_fail(err, code != GRPC_STATUS_OK ? (int)code : COORD_UNAVAILABLE, "%s",
                     msg && *msg ? msg : "the keep-alive stream ended");
    free(msg);
    return rc;
}

int coord_keepalive_renew(coord_keepalive *k, int64_t id, int64_t *ttl, coord_header *header,
                          coord_error *err)
{
    etcdserverpb_LeaseKeepAliveRequest r = {.ID = id};
    if (rpc_cstream_send_msg(k->stream, &etcdserverpb_LeaseKeepAliveRequest_msg, &r) != 0)
        return stream_failed(k->stream, err);
    for (;;) {
        rpc_buf b;
        int got = rpc_cstream_recv(k->stream, k->timeout_ms, &b);
        if (got == RPC_RECV_TIMEOUT) {
            /* The answer may still come; the stream cannot be trusted to pair them now. */
            rpc_cstream_cancel(k->stream);
            return lc_fail(err, COORD_DEADLINE_EXCEEDED, "context deadline exceeded");
        }
        if (got != RPC_RECV_MSG) return stream_failed(k->stream, err);
        etcdserverpb_LeaseKeepAliveResponse m;
        int rc = pbx_decode(&etcdserverpb_LeaseKeepAliveResponse_msg, &m, b.data, b.len);
        rpc_buf_free(&b);
        if (rc != 0) return lc_fail(err, COORD_INTERNAL, "cannot decode a keep-alive answer");
        /* One answer per request, in order: an answer for another ID is a late one. */
        if (m.ID != id) continue;
        *ttl = m.TTL > 0 ? m.TTL : 0;
        if (header) header_from_pb(&m.header, header);
        return COORD_OK;
    }
}

void coord_keepalive_close(coord_keepalive *k)
{
    if (!k) return;
    rpc_cstream_close_send(k->stream);
    rpc_cstream_destroy(k->stream);
    free(k);
}
