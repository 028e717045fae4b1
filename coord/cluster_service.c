/* cluster_service: etcd's Cluster service. MemberList answers from the bootstrap configuration
 * and the attributes members published through the log; membership changes come next. */
#include "pbx.h"
#include "rpc.pb.h"
#include "members.h"
#include "server.h"

#include <stdlib.h>
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

/* Every member of the configuration: its name and peer URLs from the bootstrap configuration,
 * its client URLs from the attributes it published (none until it has: etcd's "unstarted"). */
static void cluster_member_list(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    (void)req;
    (void)len;
    etcdserverpb_Member members[CONFIG_MAX_MEMBERS];
    pbx_bytes_t peer[CONFIG_MAX_MEMBERS][CONFIG_MAX_URLS];
    uint8_t *attr_buf[CONFIG_MAX_MEMBERS] = {0};
    etcdserverpb_Member attr[CONFIG_MAX_MEMBERS];
    bool has_attr[CONFIG_MAX_MEMBERS] = {0};
    for (size_t i = 0; i < s->n_members; i++) {
        const config_member *boot = s->members[i].boot;
        etcdserverpb_Member *m = &members[i];
        memset(m, 0, sizeof(*m));
        m->ID = s->members[i].id;
        m->name = (pbx_bytes_t){(const uint8_t *)boot->name, strlen(boot->name)};
        urls_to_list(&boot->peer_urls, peer[i], &m->peerURLs);
        size_t alen = 0;
        attr_buf[i] = members_attr(s, m->ID, &alen);
        if (attr_buf[i] && pbx_decode(&etcdserverpb_Member_msg, &attr[i], attr_buf[i], alen) == 0) {
            has_attr[i] = true;
            m->clientURLs = attr[i].clientURLs;
            m->clientURLs.cap = 0; /* borrowed: released with attr[i] */
        }
    }
    etcdserverpb_MemberListResponse out = {0};
    out.has_header = true;
    /* etcd's Cluster service answers without a revision. */
    server_fill_header(s, &out.header, 0);
    out.members.items = members;
    out.members.count = s->n_members;
    rpc_unary_reply_msg(call, &etcdserverpb_MemberListResponse_msg, &out);
    for (size_t i = 0; i < s->n_members; i++) {
        if (has_attr[i]) pbx_release(&etcdserverpb_Member_msg, &attr[i]);
        free(attr_buf[i]);
    }
}

int cluster_service_register(coord_server *s)
{
    return rpc_server_add_unary(s->rpc, "/etcdserverpb.Cluster/MemberList", cluster_member_list, s);
}
