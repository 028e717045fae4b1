/* lease_service: etcd's Lease service.
 *
 * Grant and Revoke are log entries answered by the apply step (apply_lease.c). KeepAlive,
 * TimeToLive and Leases are the primary member's business and are served from its lease table
 * at once: a renewal is a matter of the leader's clock and goes through no log (only a
 * checkpoint it makes stale is cleared through the log). A member that is not primary asks the
 * leader (lease_forward.c); Leases is answered locally, as every member has every lease.
 */
#include "apply.h"
#include "arena.h"
#include "lease_expiry.h"
#include "lease_forward.h"
#include "lease_store.h"
#include "pbx.h"
#include "rpc.pb.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>

static void fail_decode(rpc_unary *call, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "grpc: error unmarshalling request: %s", why ? why : "bad message");
    rpc_unary_fail(call, GRPC_STATUS_INTERNAL, msg);
}

static void lease_grant(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_LeaseGrantRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_LeaseGrantRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    /* The ID is chosen before the entry is logged, so every member grants the same lease. */
    while (r.ID == 0) r.ID = (int64_t)(server_next_request_id(s) & (uint64_t)INT64_MAX);
    uint8_t *buf;
    size_t blen;
    if (pbx_encode_alloc(&etcdserverpb_LeaseGrantRequest_msg, &r, &buf, &blen) != 0) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    server_propose(s, call, ENTRY_LEASE_GRANT, buf, blen);
    free(buf);
}

static void lease_revoke(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_LeaseRevokeRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_LeaseRevokeRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    server_propose(s, call, ENTRY_LEASE_REVOKE, req, len);
}

struct key_collect {
    arena *mem;
    pbx_bytes_t *keys;
    size_t n, cap;
};

static int collect_key(void *arg, const uint8_t *key, size_t len)
{
    struct key_collect *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        pbx_bytes_t *k = realloc(c->keys, cap * sizeof(*k));
        if (!k) return -1;
        c->keys = k;
        c->cap = cap;
    }
    const uint8_t *copy = len ? arena_memdup(c->mem, key, len) : NULL;
    if (len && !copy) return -1;
    c->keys[c->n++] = (pbx_bytes_t){copy, len};
    return 0;
}

static void lease_time_to_live(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_LeaseTimeToLiveRequest r;
    const char *why = NULL;
    if (pbx_decode_why(&etcdserverpb_LeaseTimeToLiveRequest_msg, &r, req, len, &why) != 0) {
        fail_decode(call, why);
        return;
    }
    if (!lease_table_is_primary(s->leases)) {
        size_t ml;
        if (rpc_unary_metadata(call, LEASE_FORWARDED_MD, &ml))
            server_fail(call, COORD_ERR_NO_LEADER); /* asked as the leader, and not it (now) */
        else
            lease_forward_time_to_live(s->lease_fwd, call, req, len);
        return;
    }
    etcdserverpb_LeaseTimeToLiveResponse out = {0};
    out.has_header = true;
    out.ID = r.ID;
    lease_info info;
    struct key_collect keys = {0};
    arena mem = {0};
    keys.mem = &mem;
    if (lease_table_lookup(s->leases, r.ID, &info) != LEASE_OK) {
        /* etcd answers an unknown lease with TTL -1 and no error. */
        out.TTL = -1;
    } else {
        out.TTL = info.remaining_ms / 1000; /* whole seconds left, truncated as etcd does */
        out.grantedTTL = info.ttl;
        if (r.keys && lease_store_keys(s->st, r.ID, collect_key, &keys) != 0) {
            server_fail(call, COORD_ERR_INTERNAL);
            goto done_free_keys;
        }
        out.keys.items = keys.keys;
        out.keys.count = keys.n;
    }
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    rpc_unary_reply_msg(call, &etcdserverpb_LeaseTimeToLiveResponse_msg, &out);
done_free_keys:
    free(keys.keys);
    arena_free(&mem);
}

static void lease_leases(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    (void)req;
    (void)len;
    int64_t *ids;
    size_t n;
    if (lease_table_ids(s->leases, &ids, &n) != LEASE_OK) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    etcdserverpb_LeaseStatus *st = n ? malloc(n * sizeof(*st)) : NULL;
    if (n && !st) {
        free(ids);
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    for (size_t i = 0; i < n; i++) st[i].ID = ids[i];
    etcdserverpb_LeaseLeasesResponse out = {0};
    out.has_header = true;
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    out.leases.items = st;
    out.leases.count = n;
    rpc_unary_reply_msg(call, &etcdserverpb_LeaseLeasesResponse_msg, &out);
    free(st);
    free(ids);
}

/* KeepAlive: one answer per request, in order, on the stream the request came on. An unknown
 * or expired lease gets TTL 0 and the stream stays open, as etcd does. */
static void keepalive_message(void *ctx, rpc_stream *st, void *state, const uint8_t *msg,
                              size_t len)
{
    coord_server *s = ctx;
    (void)state;
    etcdserverpb_LeaseKeepAliveRequest r;
    if (pbx_decode(&etcdserverpb_LeaseKeepAliveRequest_msg, &r, msg, len) != 0) {
        rpc_stream_finish(st, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    etcdserverpb_LeaseKeepAliveResponse out = {0};
    out.has_header = true;
    out.ID = r.ID;
    /* etcd fills the header before renewing. */
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    int64_t ttl = 0;
    bool clear = false;
    int rc = lease_table_renew(s->leases, r.ID, &ttl, &clear);
    if (rc == LEASE_ERR_NOT_PRIMARY) {
        size_t ml;
        if (rpc_stream_metadata(st, LEASE_FORWARDED_MD, &ml))
            rpc_stream_finish(st, coord_err_code(COORD_ERR_NO_LEADER),
                              coord_err_message(COORD_ERR_NO_LEADER));
        else
            lease_forward_keepalive(s->lease_fwd, st, r.ID);
        return;
    }
    out.TTL = rc == LEASE_OK ? ttl : 0;
    if (clear) {
        etcdserverpb_LeaseCheckpoint cp = {.ID = r.ID, .remaining_TTL = 0};
        etcdserverpb_LeaseCheckpointRequest cr = {0};
        cr.checkpoints.items = &cp;
        cr.checkpoints.count = 1;
        /* If it is lost, the next renewal asks again. */
        (void)lease_propose(s, ENTRY_LEASE_CHECKPOINT, &etcdserverpb_LeaseCheckpointRequest_msg,
                            &cr);
    }
    rpc_stream_send_msg(st, &etcdserverpb_LeaseKeepAliveResponse_msg, &out);
}

int lease_service_register(coord_server *s)
{
    static const rpc_stream_handlers keepalive = {.on_message = keepalive_message};
    if (lease_forward_create(s, &s->lease_fwd) != 0) return -1;
    if (rpc_server_add_unary(s->rpc, "/etcdserverpb.Lease/LeaseGrant", lease_grant, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Lease/LeaseRevoke", lease_revoke, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Lease/LeaseTimeToLive", lease_time_to_live,
                             s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Lease/LeaseLeases", lease_leases, s) ||
        rpc_server_add_stream(s->rpc, "/etcdserverpb.Lease/LeaseKeepAlive", &keepalive, s))
        return -1;
    return 0;
}
