/* cluster_service: etcd's Cluster service. With one member, MemberList answers from the
 * configuration; membership changes arrive with the Raft cluster. */
#include "pbx.h"
#include "rpc.pb.h"
#include "server.h"

#include <string.h>

static void urls_to_list(const config_url_list *urls, pbx_bytes_t *items, pbx_list_t *out)
{
    for (size_t i = 0; i < urls->count; i++) {
        items[i].ptr = (const uint8_t *)urls->urls[i].url;
        items[i].len = strlen(urls->urls[i].url);
    }
    out->items = items;
    out->count = urls->count;
}

static void cluster_member_list(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    (void)req;
    (void)len;
    const coord_config *cfg = s->cfg;
    pbx_bytes_t peer[CONFIG_MAX_URLS], client[CONFIG_MAX_URLS];
    etcdserverpb_Member self = {0};
    self.ID = s->member_id;
    self.name.ptr = (const uint8_t *)cfg->name;
    self.name.len = strlen(cfg->name);
    urls_to_list(&cfg->initial_advertise_peer_urls, peer, &self.peerURLs);
    urls_to_list(&cfg->advertise_client_urls, client, &self.clientURLs);
    etcdserverpb_MemberListResponse out = {0};
    out.has_header = true;
    /* etcd's Cluster service answers without a revision. */
    server_fill_header(s, &out.header, 0);
    out.members.items = &self;
    out.members.count = 1;
    rpc_unary_reply_msg(call, &etcdserverpb_MemberListResponse_msg, &out);
}

int cluster_service_register(coord_server *s)
{
    return rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberList", cluster_member_list, s);
}
