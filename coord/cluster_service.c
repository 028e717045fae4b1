/* cluster_service: etcd's Cluster service. The member list comes from membership.c (changed only
 * by applied configuration changes) and from the attributes members publish (members.c).
 * Changes are proposed by the leader; a member that does not lead passes the call on to the
 * leader's client URL and relays its answer, so `member add` works against any member. */
#include "apply.h"
#include "ids.h"
#include "members.h"
#include "membership.h"
#include "pbx.h"
#include "coord.pb.h"
#include "rpc.pb.h"
#include "rpc_client.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every member, with the client URLs it published (none until it has: etcd's "unstarted"). */
struct member_view {
    member_rec recs[CONFIG_MAX_MEMBERS];
    etcdserverpb_Member out[CONFIG_MAX_MEMBERS];
    pbx_bytes_t peer[CONFIG_MAX_MEMBERS][CONFIG_MAX_URLS];
    uint8_t *attr_buf[CONFIG_MAX_MEMBERS];
    etcdserverpb_Member attr[CONFIG_MAX_MEMBERS];
    bool has_attr[CONFIG_MAX_MEMBERS];
    size_t n;
};

static void view_build(coord_server *s, struct member_view *v)
{
    memset(v, 0, sizeof(*v));
    v->n = membership_copy(s, v->recs);
    for (size_t i = 0; i < v->n; i++) {
        const member_rec *r = &v->recs[i];
        etcdserverpb_Member *m = &v->out[i];
        m->ID = r->id;
        m->isLearner = r->learner;
        for (size_t j = 0; j < r->n_peer; j++)
            v->peer[i][j] = (pbx_bytes_t){(const uint8_t *)r->peer[j], strlen(r->peer[j])};
        m->peerURLs = (pbx_list_t){.items = v->peer[i], .count = r->n_peer};
        size_t alen = 0;
        v->attr_buf[i] = members_attr(s, r->id, &alen);
        if (v->attr_buf[i] &&
            pbx_decode(&etcdserverpb_Member_msg, &v->attr[i], v->attr_buf[i], alen) == 0) {
            v->has_attr[i] = true;
            m->name = v->attr[i].name;
            m->clientURLs = v->attr[i].clientURLs;
            m->clientURLs.cap = 0; /* borrowed: released with attr[i] */
        } else {
            m->name = (pbx_bytes_t){(const uint8_t *)r->name, strlen(r->name)};
        }
    }
}

static void view_free(struct member_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->has_attr[i]) pbx_release(&etcdserverpb_Member_msg, &v->attr[i]);
        free(v->attr_buf[i]);
    }
}

static void cluster_member_list(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    (void)req;
    (void)len;
    struct member_view *v = malloc(sizeof(*v));
    if (!v) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    view_build(s, v);
    etcdserverpb_MemberListResponse out = {0};
    out.has_header = true;
    /* etcd's Cluster service answers without a revision. */
    server_fill_header(s, &out.header, 0);
    out.members = (pbx_list_t){.items = v->out, .count = v->n};
    rpc_unary_reply_msg(call, &etcdserverpb_MemberListResponse_msg, &out);
    view_free(v);
    free(v);
}

/* ---------------------------------------------------------------- changes --------------- */

/* Passes the call to the leader's client URL and relays the answer (blocking this thread for
 * one call: membership changes are rare). */
static bool relay_to_leader(coord_server *s, rpc_unary *call, const char *path, const uint8_t *req,
                            size_t len)
{
    uint64_t leader = node_leader(s->log);
    if (leader == s->member_id) return false;
    if (leader == 0) {
        server_fail(call, COORD_ERR_NO_LEADER);
        return true;
    }
    size_t alen = 0;
    uint8_t *attr = members_attr(s, leader, &alen);
    etcdserverpb_Member m;
    char addr[300] = "";
    if (attr && pbx_decode(&etcdserverpb_Member_msg, &m, attr, alen) == 0) {
        if (m.clientURLs.count) {
            const pbx_bytes_t *u = m.clientURLs.items;
            char url[256];
            snprintf(url, sizeof(url), "%.*s", (int)u[0].len, (const char *)u[0].ptr);
            config_url cu;
            const char *why;
            if (config_parse_url(url, &cu, &why) == 0) {
                snprintf(addr, sizeof(addr), "%s:%d",
                         strcmp(cu.host, "localhost") == 0 ? "127.0.0.1" : cu.host, cu.port);
                free(cu.host);
                free(cu.url);
            }
        }
        pbx_release(&etcdserverpb_Member_msg, &m);
    }
    free(attr);
    rpc_channel *ch;
    if (!addr[0] || rpc_channel_create(addr, 16 * 1024 * 1024, &ch) != 0) {
        server_fail(call, COORD_ERR_NO_LEADER);
        return true;
    }
    rpc_call_opts opts = {.timeout_ms = (int)s->request_timeout_ms};
    rpc_reply reply = {0};
    grpc_status_code code = rpc_call(ch, path, req, len, &opts, &reply);
    if (code == GRPC_STATUS_OK) {
        grpc_slice sl =
            grpc_slice_from_copied_buffer((const char *)reply.body.data, reply.body.len);
        rpc_unary_reply(call, grpc_raw_byte_buffer_create(&sl, 1));
        grpc_slice_unref(sl);
    } else {
        rpc_unary_fail(call, code, reply.message ? reply.message : "etcdserver: leader changed");
    }
    rpc_reply_free(&reply);
    rpc_channel_destroy(ch);
    return true;
}

static void reply_when_applied(void *arg, coord_err err, grpc_byte_buffer *response)
{
    rpc_unary *call = arg;
    if (err != COORD_OK)
        server_fail(call, err);
    else
        rpc_unary_reply(call, response);
}

/* Registers the waiter and hands the change to the node. */
static void propose_change(coord_server *s, rpc_unary *call, enum member_op op,
                           const raft_conf_change *cc, const etcdserverpb_Member *m)
{
    uint8_t *mbuf = NULL;
    size_t mlen = 0;
    if (m && pbx_encode_alloc(&etcdserverpb_Member_msg, m, &mbuf, &mlen) != 0) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    uint64_t id = server_next_request_id(s);
    size_t clen;
    uint8_t *ctx = membership_ctx(op, id, mbuf, mlen, &clen);
    free(mbuf);
    if (!ctx || wait_register(s->waits, id, reply_when_applied, call,
                              server_now_ms() + s->request_timeout_ms) != 0) {
        free(ctx);
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    int rc = node_propose_conf_change(s->log, cc, ctx, clen);
    free(ctx);
    if (rc != 0 && wait_forget(s->waits, id)) server_fail(call, COORD_ERR_STOPPED);
}

static const member_rec *find_rec(const member_rec *recs, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (recs[i].id == id) return &recs[i];
    return NULL;
}

/* etcd refuses URLs it cannot parse and URLs another member already has. */
static coord_err check_peer_urls(const pbx_list_t *l, const member_rec *recs, size_t n,
                                 uint64_t except, char urls[][128], size_t *count)
{
    const pbx_bytes_t *u = l->items;
    if (l->count == 0 || l->count > CONFIG_MAX_URLS) return COORD_ERR_MEMBER_BAD_URLS;
    for (size_t i = 0; i < l->count; i++) {
        if (u[i].len == 0 || u[i].len >= 128) return COORD_ERR_MEMBER_BAD_URLS;
        snprintf(urls[i], 128, "%.*s", (int)u[i].len, (const char *)u[i].ptr);
        config_url cu;
        const char *why;
        if (config_parse_url(urls[i], &cu, &why) != 0) return COORD_ERR_MEMBER_BAD_URLS;
        free(cu.host);
        free(cu.url);
        for (size_t k = 0; k < n; k++) {
            if (recs[k].id == except) continue;
            for (size_t j = 0; j < recs[k].n_peer; j++)
                if (strcmp(recs[k].peer[j], urls[i]) == 0) return COORD_ERR_PEER_URL_EXIST;
        }
    }
    *count = l->count;
    return COORD_OK;
}

/* etcd's MemberAdd and coordpb's (the same request, plus promote_when_caught_up). */
static void member_add(coord_server *s, rpc_unary *call, const char *path, const uint8_t *req,
                       size_t len)
{
    if (relay_to_leader(s, call, path, req, len)) return;
    coordpb_MemberAddRequest r;
    if (pbx_decode(&coordpb_MemberAddRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n = membership_copy(s, recs);
    char urls[CONFIG_MAX_URLS][128];
    size_t nu = 0;
    coord_err e = check_peer_urls(&r.peerURLs, recs, n, 0, urls, &nu);
    size_t learners = 0;
    for (size_t i = 0; i < n; i++) learners += recs[i].learner;
    if (e == COORD_OK && r.isLearner && learners >= 1) e = COORD_ERR_TOO_MANY_LEARNERS;
    if (e == COORD_OK && n >= CONFIG_MAX_MEMBERS) e = COORD_ERR_MEMBER_BAD_URLS;
    uint64_t id = 0;
    if (e == COORD_OK) {
        /* etcd's ID for a member added at run time: its peer URLs, no token, and the time. */
        const char *up[CONFIG_MAX_URLS];
        for (size_t i = 0; i < nu; i++) up[i] = urls[i];
        if (ids_member_id(up, nu, "", (int64_t)time(NULL), &id) != 0)
            e = COORD_ERR_INTERNAL;
        else if (find_rec(recs, n, id))
            e = COORD_ERR_MEMBER_EXIST;
    }
    if (e != COORD_OK) {
        server_fail(call, e);
    } else {
        etcdserverpb_Member m = {0};
        m.ID = id;
        m.isLearner = r.isLearner;
        m.peerURLs = r.peerURLs;
        m.peerURLs.cap = 0;
        raft_conf_change cc = {.n_changes = 1};
        cc.changes[0] = (raft_conf_change_item){
            .type = r.isLearner ? RAFT_CC_ADD_LEARNER : RAFT_CC_ADD_VOTER, .node = id};
        bool auto_promote = r.isLearner && r.promote_when_caught_up;
        propose_change(s, call, auto_promote ? MEMBER_OP_ADD_AUTO_PROMOTE : MEMBER_OP_ADD, &cc, &m);
    }
    pbx_release(&coordpb_MemberAddRequest_msg, &r);
}

static void cluster_member_add(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    member_add(ctx, call, "/etcdserverpb.Cluster/MemberAdd", req, len);
}

static void coordpb_member_add(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    member_add(ctx, call, "/coordpb.Coord/MemberAdd", req, len);
}

/* Remove and Promote name one member ({ID = 1}, the same wire shape): relayed to the leader,
 * decoded, and looked up in the list. Returns the member, or NULL once the call is answered. */
static const member_rec *member_by_id(coord_server *s, rpc_unary *call, const char *path,
                                      const uint8_t *req, size_t len, member_rec *recs)
{
    if (relay_to_leader(s, call, path, req, len)) return NULL;
    etcdserverpb_MemberRemoveRequest r;
    if (pbx_decode(&etcdserverpb_MemberRemoveRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return NULL;
    }
    const member_rec *m = find_rec(recs, membership_copy(s, recs), r.ID);
    if (!m) server_fail(call, COORD_ERR_MEMBER_NOT_FOUND);
    return m;
}

static void propose_one(coord_server *s, rpc_unary *call, enum member_op op, uint8_t type,
                        uint64_t id)
{
    raft_conf_change cc = {.n_changes = 1};
    cc.changes[0] = (raft_conf_change_item){.type = type, .node = id};
    propose_change(s, call, op, &cc, NULL);
}

static void cluster_member_remove(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    member_rec recs[CONFIG_MAX_MEMBERS];
    const member_rec *m =
        member_by_id(s, call, "/etcdserverpb.Cluster/MemberRemove", req, len, recs);
    if (m) propose_one(s, call, MEMBER_OP_REMOVE, RAFT_CC_REMOVE, m->id);
}

static void cluster_member_promote(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    member_rec recs[CONFIG_MAX_MEMBERS];
    const member_rec *m =
        member_by_id(s, call, "/etcdserverpb.Cluster/MemberPromote", req, len, recs);
    if (!m) return;
    if (!m->learner) {
        server_fail(call, COORD_ERR_MEMBER_NOT_LEARNER);
        return;
    }
    /* etcd promotes a learner only once its log is within 10% of the leader's. */
    uint64_t last = node_last_index(s->log), match = node_match_of(s->log, m->id);
    if (match * 10 < last * 9) {
        server_fail(call, COORD_ERR_LEARNER_NOT_READY);
        return;
    }
    propose_one(s, call, MEMBER_OP_PROMOTE, RAFT_CC_ADD_VOTER, m->id);
}

static void cluster_member_update(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_MemberUpdateRequest r;
    if (pbx_decode(&etcdserverpb_MemberUpdateRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n = membership_copy(s, recs);
    char urls[CONFIG_MAX_URLS][128];
    size_t nu = 0;
    coord_err e = find_rec(recs, n, r.ID) ? check_peer_urls(&r.peerURLs, recs, n, r.ID, urls, &nu)
                                          : COORD_ERR_MEMBER_NOT_FOUND;
    pbx_release(&etcdserverpb_MemberUpdateRequest_msg, &r);
    /* Peer URLs are not part of Raft's configuration: an ordinary entry carries the change. */
    if (e != COORD_OK)
        server_fail(call, e);
    else
        server_propose(s, call, ENTRY_MEMBER_UPDATE, req, len);
}

int cluster_service_register(coord_server *s)
{
    if (rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberList", cluster_member_list, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberAdd", cluster_member_add, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberRemove", cluster_member_remove,
                             s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberPromote", cluster_member_promote,
                             s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberUpdate", cluster_member_update,
                             s) ||
        rpc_server_add_unary(s->rpc, "/coordpb.Coord/MemberAdd", coordpb_member_add, s))
        return -1;
    return 0;
}

int cluster_peer_service_register(coord_server *s, rpc_server *peer_rpc)
{
    return rpc_server_add_unary(peer_rpc, "/etcdserverpb.Cluster/MemberList", cluster_member_list,
                                s);
}
