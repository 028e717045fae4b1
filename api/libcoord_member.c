/* libcoord_member: membership changes (Cluster.MemberAdd/Remove/Promote/Update, and coordpb's
 * MemberAdd for learners that promote themselves). Declared in libcoord.h. */
#include "coord.pb.h"
#include "libcoord_internal.h"
#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"

#include <stdlib.h>
#include <string.h>

static void urls_to_pb(const char *const *urls, size_t n, pbx_bytes_t *out, pbx_list_t *l)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (pbx_bytes_t){(const uint8_t *)urls[i], strlen(urls[i])};
    *l = (pbx_list_t){.items = out, .count = n};
}

/* Calls method with msg and decodes a {header, members} answer (field numbers 1 and 2, as
 * MemberList, Remove, Promote and Update answer). */
static int call_for_list(coord_client *c, const char *method, const pb_msgdesc_t *desc,
                         const void *msg, coord_member_list_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    uint8_t *req;
    size_t len;
    if (pbx_encode_alloc(desc, msg, &req, &len) != 0)
        return lc_fail(err, COORD_INTERNAL, "cannot encode the request");
    rpc_reply reply;
    int rc = lc_call(c, method, true, 0, req, len, &reply, err);
    free(req);
    if (rc != COORD_OK) return rc;
    rc = lc_decode_member_list(reply.body.data, reply.body.len, resp, err);
    rpc_reply_free(&reply);
    return rc;
}

int coord_member_add(coord_client *c, const char *const *peer_urls, size_t n, bool learner,
                     bool promote_when_caught_up, uint64_t *new_id, coord_member_list_resp *resp,
                     coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    if (n == 0 || n > 16)
        return lc_fail(err, COORD_INVALID_ARGUMENT, "member peer urls not provided");
    pbx_bytes_t urls[16];
    coordpb_MemberAddRequest r = {0};
    urls_to_pb(peer_urls, n, urls, &r.peerURLs);
    r.isLearner = learner;
    r.promote_when_caught_up = promote_when_caught_up;
    uint8_t *req;
    size_t len;
    if (pbx_encode_alloc(&coordpb_MemberAddRequest_msg, &r, &req, &len) != 0)
        return lc_fail(err, COORD_INTERNAL, "cannot encode the request");
    /* Without the coord extra the request is etcd's own, so any etcd server takes it. */
    const char *method =
        promote_when_caught_up ? "/coordpb.Coord/MemberAdd" : "/etcdserverpb.Cluster/MemberAdd";
    rpc_reply reply;
    int rc = lc_call(c, method, true, 0, req, len, &reply, err);
    free(req);
    if (rc != COORD_OK) return rc;
    etcdserverpb_MemberAddResponse m;
    if (pbx_decode(&etcdserverpb_MemberAddResponse_msg, &m, reply.body.data, reply.body.len) != 0) {
        rpc_reply_free(&reply);
        return lc_fail(err, COORD_INTERNAL, "cannot decode the answer");
    }
    *new_id = m.member.ID;
    /* The list is field 3 here, field 2 in MemberList's answer: re-encode it that way. */
    etcdserverpb_MemberListResponse l = {0};
    l.has_header = m.has_header;
    l.header = m.header;
    l.members = m.members;
    l.members.cap = 0;
    uint8_t *buf = NULL;
    size_t blen;
    rc = pbx_encode_alloc(&etcdserverpb_MemberListResponse_msg, &l, &buf, &blen) == 0
             ? lc_decode_member_list(buf, blen, resp, err)
             : lc_fail(err, COORD_INTERNAL, "cannot re-encode the member list");
    free(buf);
    pbx_release(&etcdserverpb_MemberAddResponse_msg, &m);
    rpc_reply_free(&reply);
    return rc;
}

int coord_member_remove(coord_client *c, uint64_t id, coord_member_list_resp *resp,
                        coord_error *err)
{
    etcdserverpb_MemberRemoveRequest r = {.ID = id};
    return call_for_list(c, "/etcdserverpb.Cluster/MemberRemove",
                         &etcdserverpb_MemberRemoveRequest_msg, &r, resp, err);
}

int coord_member_promote(coord_client *c, uint64_t id, coord_member_list_resp *resp,
                         coord_error *err)
{
    etcdserverpb_MemberPromoteRequest r = {.ID = id};
    return call_for_list(c, "/etcdserverpb.Cluster/MemberPromote",
                         &etcdserverpb_MemberPromoteRequest_msg, &r, resp, err);
}

int coord_member_update(coord_client *c, uint64_t id, const char *const *peer_urls, size_t n,
                        coord_member_list_resp *resp, coord_error *err)
{
    if (n == 0 || n > 16)
        return lc_fail(err, COORD_INVALID_ARGUMENT, "member peer urls not provided");
    pbx_bytes_t urls[16];
    etcdserverpb_MemberUpdateRequest r = {.ID = id};
    urls_to_pb(peer_urls, n, urls, &r.peerURLs);
    return call_for_list(c, "/etcdserverpb.Cluster/MemberUpdate",
                         &etcdserverpb_MemberUpdateRequest_msg, &r, resp, err);
}
