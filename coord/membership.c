#include "membership.h"

#include "apply.h"
#include "ids.h"
#include "members.h"
#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char MEMBERS_KEY[] = "members";
static const char SELF_KEY[] = "self";
static const char AUTO_KEY[] = "autopromote"; /* be64 IDs of auto-promoting learners */

/* ---------------------------------------------------------------- encoding -------------- */

/* The list as a MemberListResponse (members only), malloc'd. */
static uint8_t *encode_list(const member_rec *recs, size_t n, size_t *len)
{
    etcdserverpb_Member ms[CONFIG_MAX_MEMBERS];
    pbx_bytes_t urls[CONFIG_MAX_MEMBERS][CONFIG_MAX_URLS];
    for (size_t i = 0; i < n; i++) {
        memset(&ms[i], 0, sizeof(ms[i]));
        ms[i].ID = recs[i].id;
        ms[i].isLearner = recs[i].learner;
        ms[i].name = (pbx_bytes_t){(const uint8_t *)recs[i].name, strlen(recs[i].name)};
        for (size_t j = 0; j < recs[i].n_peer; j++)
            urls[i][j] = (pbx_bytes_t){(const uint8_t *)recs[i].peer[j], strlen(recs[i].peer[j])};
        ms[i].peerURLs = (pbx_list_t){.items = urls[i], .count = recs[i].n_peer};
    }
    etcdserverpb_MemberListResponse out = {0};
    out.members = (pbx_list_t){.items = ms, .count = n};
    uint8_t *buf;
    if (pbx_encode_alloc(&etcdserverpb_MemberListResponse_msg, &out, &buf, len) != 0) return NULL;
    return buf;
}

static void rec_from_member(member_rec *r, const etcdserverpb_Member *m)
{
    memset(r, 0, sizeof(*r));
    r->id = m->ID;
    r->learner = m->isLearner;
    size_t nl = m->name.len < sizeof(r->name) - 1 ? m->name.len : sizeof(r->name) - 1;
    if (nl) memcpy(r->name, m->name.ptr, nl);
    const pbx_bytes_t *urls = m->peerURLs.items;
    for (size_t j = 0; j < m->peerURLs.count && j < CONFIG_MAX_URLS; j++) {
        size_t ul = urls[j].len < sizeof(r->peer[0]) - 1 ? urls[j].len : sizeof(r->peer[0]) - 1;
        if (ul) memcpy(r->peer[r->n_peer], urls[j].ptr, ul);
        r->n_peer++;
    }
}

static size_t decode_list(const uint8_t *buf, size_t len, member_rec *out)
{
    etcdserverpb_MemberListResponse l;
    if (pbx_decode(&etcdserverpb_MemberListResponse_msg, &l, buf, len) != 0) return 0;
    const etcdserverpb_Member *ms = l.members.items;
    size_t n = 0;
    for (size_t i = 0; i < l.members.count && n < CONFIG_MAX_MEMBERS; i++)
        rec_from_member(&out[n++], &ms[i]);
    pbx_release(&etcdserverpb_MemberListResponse_msg, &l);
    return n;
}

void member_peer_addr(const member_rec *m, char *out, size_t cap)
{
    config_url u;
    const char *why;
    if (m->n_peer == 0 || config_parse_url(m->peer[0], &u, &why) != 0) {
        snprintf(out, cap, "invalid");
        return;
    }
    snprintf(out, cap, "%s:%d", strcmp(u.host, "localhost") == 0 ? "127.0.0.1" : u.host, u.port);
    free(u.host);
    free(u.url);
}

/* ---------------------------------------------------------------- init ------------------ */

static member_rec *find(membership *ms, uint64_t id)
{
    for (size_t i = 0; i < ms->n; i++)
        if (ms->members[i].id == id) return &ms->members[i];
    return NULL;
}

static int get_raftmeta(coord_server *s, const char *key, char **val, size_t *len)
{
    char *err = NULL;
    *val = rocksdb_get_cf(s->st->db, s->st->ro, s->st->cf[STORAGE_CF_RAFTMETA], key, strlen(key),
                          len, &err);
    if (err) {
        fprintf(stderr, "coord: reading %s: %s\n", key, err);
        free(err);
        return -1;
    }
    return 0;
}

static int persist(coord_server *s, rocksdb_writebatch_t *b)
{
    membership *ms = s->membership;
    size_t len;
    uint8_t *buf = encode_list(ms->members, ms->n, &len);
    if (!buf) return -1;
    rocksdb_writebatch_put_cf(b, s->st->cf[STORAGE_CF_RAFTMETA], MEMBERS_KEY, strlen(MEMBERS_KEY),
                              (const char *)buf, len);
    free(buf);
    uint8_t autos[CONFIG_MAX_MEMBERS * 8];
    size_t na = 0;
    for (size_t i = 0; i < ms->n; i++)
        if (ms->members[i].auto_promote && ms->members[i].learner)
            be64_put(autos + 8 * na++, ms->members[i].id);
    rocksdb_writebatch_put_cf(b, s->st->cf[STORAGE_CF_RAFTMETA], AUTO_KEY, strlen(AUTO_KEY),
                              (const char *)autos, 8 * na);
    uint8_t self[16];
    be64_put(self, s->member_id);
    be64_put(self + 8, s->cluster_id);
    rocksdb_writebatch_put_cf(b, s->st->cf[STORAGE_CF_RAFTMETA], SELF_KEY, strlen(SELF_KEY),
                              (const char *)self, sizeof(self));
    return 0;
}

static bool same_peer_urls(const member_rec *r, const config_url_list *l)
{
    if (r->n_peer != l->count) return false;
    for (size_t i = 0; i < l->count; i++) {
        bool found = false;
        for (size_t j = 0; j < r->n_peer && !found; j++)
            found = strcmp(r->peer[j], l->urls[i].url) == 0;
        if (!found) return false;
    }
    return true;
}

/* Asks the members named in --initial-cluster, on their peer URLs, for the cluster's list. */
static int fetch_from_cluster(coord_server *s, const coord_config *cfg)
{
    membership *ms = s->membership;
    for (size_t i = 0; i < cfg->initial_cluster_count; i++) {
        const config_member *m = &cfg->initial_cluster[i];
        if (strcmp(m->name, cfg->name) == 0) continue;
        for (size_t j = 0; j < m->peer_urls.count; j++) {
            const config_url *u = &m->peer_urls.urls[j];
            char addr[300];
            snprintf(addr, sizeof(addr), "%s:%d",
                     strcmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host, u->port);
            rpc_channel *ch;
            if (rpc_channel_create(addr, 16 * 1024 * 1024, &ch) != 0) continue;
            rpc_call_opts opts = {.timeout_ms = 2000};
            rpc_reply reply = {0};
            int code = rpc_call(ch, "/etcdserverpb.Cluster/MemberList", NULL, 0, &opts, &reply);
            etcdserverpb_MemberListResponse l;
            if (code == 0 && pbx_decode(&etcdserverpb_MemberListResponse_msg, &l, reply.body.data,
                                        reply.body.len) == 0) {
                s->cluster_id = l.header.cluster_id;
                pbx_release(&etcdserverpb_MemberListResponse_msg, &l);
                ms->n = decode_list(reply.body.data, reply.body.len, ms->members);
            }
            rpc_reply_free(&reply);
            rpc_channel_destroy(ch);
            for (size_t k = 0; k < ms->n; k++)
                if (same_peer_urls(&ms->members[k], &cfg->initial_advertise_peer_urls)) {
                    s->member_id = ms->members[k].id;
                    return 0;
                }
            if (ms->n) {
                fprintf(stderr,
                        "coord: the cluster at %s does not list this member's peer URLs "
                        "(%s); add it first with `member add`\n",
                        addr, cfg->initial_advertise_peer_urls.urls[0].url);
                return -1;
            }
        }
    }
    fprintf(stderr, "coord: could not reach any member named in --initial-cluster to join it\n");
    return -1;
}

int membership_init(coord_server *s, const coord_config *cfg, bool *joining)
{
    membership *ms = calloc(1, sizeof(*ms));
    if (!ms) return -1;
    pthread_mutex_init(&ms->mu, NULL);
    s->membership = ms;
    *joining = false;
    char *v;
    size_t len;
    if (get_raftmeta(s, SELF_KEY, &v, &len) != 0) return -1;
    if (v && len == 16) {
        s->member_id = be64_get((uint8_t *)v);
        s->cluster_id = be64_get((uint8_t *)v + 8);
        free(v);
        if (get_raftmeta(s, MEMBERS_KEY, &v, &len) != 0) return -1;
        if (v) ms->n = decode_list((uint8_t *)v, len, ms->members);
        free(v);
        if (get_raftmeta(s, AUTO_KEY, &v, &len) != 0) return -1;
        for (size_t k = 0; v && k + 8 <= len; k += 8) {
            member_rec *r = find(ms, be64_get((uint8_t *)v + k));
            if (r) r->auto_promote = true;
        }
        free(v);
        return 0;
    }
    free(v);
    if (!cfg->initial_cluster_state_new) {
        *joining = true;
        if (fetch_from_cluster(s, cfg) != 0) return -1;
    } else {
        uint64_t ids[CONFIG_MAX_MEMBERS];
        for (size_t i = 0; i < cfg->initial_cluster_count; i++) {
            const config_member *m = &cfg->initial_cluster[i];
            const char *urls[CONFIG_MAX_URLS];
            for (size_t j = 0; j < m->peer_urls.count; j++) urls[j] = m->peer_urls.urls[j].url;
            if (ids_member_id(urls, m->peer_urls.count, cfg->initial_cluster_token, -1, &ids[i]))
                return -1;
            member_rec *r = &ms->members[ms->n++];
            memset(r, 0, sizeof(*r));
            r->id = ids[i];
            snprintf(r->name, sizeof(r->name), "%s", m->name);
            for (size_t j = 0; j < m->peer_urls.count; j++)
                snprintf(r->peer[r->n_peer++], sizeof(r->peer[0]), "%s", m->peer_urls.urls[j].url);
            if (strcmp(m->name, cfg->name) == 0) s->member_id = ids[i];
        }
        if (ids_cluster_id(ids, cfg->initial_cluster_count, &s->cluster_id)) return -1;
    }
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    int rc = persist(s, b);
    char *err = NULL;
    if (rc == 0) rocksdb_write(s->st->db, s->st->sync_wo, b, &err);
    rocksdb_writebatch_destroy(b);
    if (err) {
        fprintf(stderr, "coord: writing the member list: %s\n", err);
        free(err);
        return -1;
    }
    return rc;
}

void membership_destroy(coord_server *s)
{
    if (!s->membership) return;
    pthread_mutex_destroy(&s->membership->mu);
    free(s->membership);
    s->membership = NULL;
}

size_t membership_copy(coord_server *s, member_rec *out)
{
    membership *ms = s->membership;
    pthread_mutex_lock(&ms->mu);
    size_t n = ms->n;
    memcpy(out, ms->members, n * sizeof(*out));
    pthread_mutex_unlock(&ms->mu);
    return n;
}

/* ---------------------------------------------------------------- apply ----------------- */

/* Members removed by the configuration just left: their streams go. */
static void drop_removed_peers(coord_server *s)
{
    for (size_t i = 0; i < s->n_removed_peers && s->peers; i++)
        if (!find(s->membership, s->removed_peers[i])) peer_remove(s->peers, s->removed_peers[i]);
    s->n_removed_peers = 0;
}

/* etcd's removed member stops; so does ours. */
static void stop_removed_member(void)
{
    fprintf(stderr, "coord: the member has been permanently removed from the cluster\n");
    kill(getpid(), SIGTERM);
}

uint8_t *membership_ctx(enum member_op op, uint64_t request_id, const uint8_t *member,
                        size_t member_len, size_t *len)
{
    uint8_t *c = malloc(9 + member_len);
    if (!c) return NULL;
    c[0] = (uint8_t)op;
    be64_put(c + 1, request_id);
    if (member_len) memcpy(c + 9, member, member_len);
    *len = 9 + member_len;
    return c;
}

/* Commits the new list with the applied index (one batch), then tells the transport. */
static int commit_list(coord_server *s, uint64_t index)
{
    rocksdb_writebatch_t *extra = rocksdb_writebatch_create();
    int rc = persist(s, extra);
    mvcc_txn *t;
    if (rc == 0 && mvcc_write_begin(s->kv, &t) == MVCC_OK) {
        int64_t rev;
        rc = mvcc_txn_commit(t, index, extra, &rev) == MVCC_OK ? 0 : -1;
        mvcc_txn_end(t);
    } else {
        rc = -1;
    }
    rocksdb_writebatch_destroy(extra);
    return rc;
}

/* The answer to the member that asked: the changed member (add) and the whole list. */
static void answer(coord_server *s, enum member_op op, uint64_t request_id, const member_rec *m)
{
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n = membership_copy(s, recs);
    etcdserverpb_Member ms[CONFIG_MAX_MEMBERS + 1];
    pbx_bytes_t urls[CONFIG_MAX_MEMBERS + 1][CONFIG_MAX_URLS];
    for (size_t i = 0; i <= n; i++) {
        const member_rec *r = i < n ? &recs[i] : m;
        if (!r) break;
        memset(&ms[i], 0, sizeof(ms[i]));
        ms[i].ID = r->id;
        ms[i].isLearner = r->learner;
        ms[i].name = (pbx_bytes_t){(const uint8_t *)r->name, strlen(r->name)};
        for (size_t j = 0; j < r->n_peer; j++)
            urls[i][j] = (pbx_bytes_t){(const uint8_t *)r->peer[j], strlen(r->peer[j])};
        ms[i].peerURLs = (pbx_list_t){.items = urls[i], .count = r->n_peer};
    }
    grpc_byte_buffer *bb = NULL;
    if (op == MEMBER_OP_ADD) {
        etcdserverpb_MemberAddResponse out = {0};
        out.has_header = true;
        server_fill_header(s, &out.header, 0);
        if (m) {
            out.has_member = true;
            out.member = ms[n];
            out.member.name = (pbx_bytes_t){0}; /* unstarted: no name yet */
        }
        out.members = (pbx_list_t){.items = ms, .count = n};
        bb = pbx_encode_bb(&etcdserverpb_MemberAddResponse_msg, &out);
    } else {
        /* Remove and Promote answer {header, members}: the same wire shape. */
        etcdserverpb_MemberRemoveResponse out = {0};
        out.has_header = true;
        server_fill_header(s, &out.header, 0);
        out.members = (pbx_list_t){.items = ms, .count = n};
        bb = pbx_encode_bb(&etcdserverpb_MemberRemoveResponse_msg, &out);
    }
    if (!bb) {
        wait_trigger(s->waits, request_id, COORD_ERR_INTERNAL, NULL);
        return;
    }
    if (!wait_trigger(s->waits, request_id, COORD_OK, bb)) grpc_byte_buffer_destroy(bb);
}

int membership_apply_conf(void *arg, uint64_t index, uint64_t term, const uint8_t *data, size_t len)
{
    apply_ctx *actx = arg;
    coord_server *s = actx->srv;
    (void)term;
    raft_conf_change cc;
    const uint8_t *ctx = NULL;
    size_t ctx_len = 0;
    if (raft_conf_change_decode(data, len, &cc, &ctx, &ctx_len) != RAFT_OK) {
        fprintf(stderr, "coord: configuration entry %llu does not decode; skipped\n",
                (unsigned long long)index);
        return commit_list(s, index);
    }
    if (ctx_len < 9) {
        /* The bootstrap configuration, or the leader leaving a joint configuration. */
        int rc = commit_list(s, index);
        if (rc == 0 && cc.n_changes == 0) {
            drop_removed_peers(s);
            if (s->removed_at_ms) stop_removed_member();
        }
        return rc;
    }
    enum member_op op = ctx[0];
    uint64_t request_id = be64_get(ctx + 1);
    etcdserverpb_Member m;
    member_rec added;
    bool have_member = pbx_decode(&etcdserverpb_Member_msg, &m, ctx + 9, ctx_len - 9) == 0;
    if (have_member) {
        rec_from_member(&added, &m);
        pbx_release(&etcdserverpb_Member_msg, &m);
    }
    membership *ms = s->membership;
    bool removed_self = false;
    pthread_mutex_lock(&ms->mu);
    for (uint32_t i = 0; i < cc.n_changes; i++) {
        const raft_conf_change_item *c = &cc.changes[i];
        member_rec *r = find(ms, c->node);
        if (c->type == RAFT_CC_REMOVE) {
            if (r) *r = ms->members[--ms->n];
            removed_self |= c->node == s->member_id;
        } else if (r) {
            r->learner = c->type == RAFT_CC_ADD_LEARNER;
            if (!r->learner) r->auto_promote = false;
        } else if (have_member && ms->n < CONFIG_MAX_MEMBERS) {
            added.learner = c->type == RAFT_CC_ADD_LEARNER;
            added.auto_promote = added.learner && op == MEMBER_OP_ADD_AUTO_PROMOTE;
            ms->members[ms->n++] = added;
        }
    }
    pthread_mutex_unlock(&ms->mu);
    if (commit_list(s, index) != 0) return -1;
    for (uint32_t i = 0; i < cc.n_changes && s->peers; i++) {
        const raft_conf_change_item *c = &cc.changes[i];
        if (c->node == s->member_id) continue;
        if (c->type == RAFT_CC_REMOVE) {
            /* Its stream stays until the joint configuration is left: the entries that tell
             * the removed member it is out still have to reach it. */
            if (s->n_removed_peers < CONFIG_MAX_MEMBERS)
                s->removed_peers[s->n_removed_peers++] = c->node;
        } else if (have_member && c->node == added.id) {
            char addr[300];
            member_peer_addr(&added, addr, sizeof(addr));
            peer_add(s->peers, c->node, addr);
        }
    }
    bool adding = op == MEMBER_OP_ADD || op == MEMBER_OP_ADD_AUTO_PROMOTE;
    if (request_id)
        answer(s, adding ? MEMBER_OP_ADD : op, request_id, adding && have_member ? &added : NULL);
    /* A removed member stays until the joint configuration is left (a removed leader must
     * still propose that), then stops (membership_tick stops a follower that never hears of
     * it). */
    if (removed_self) s->removed_at_ms = server_now_ms();
    return 0;
}

void membership_conf_refused(void *arg, const uint8_t *ctx, size_t ctx_len, coord_err err)
{
    coord_server *s = arg;
    if (ctx_len >= 9) wait_trigger(s->waits, be64_get(ctx + 1), err, NULL);
}

int membership_apply_update(coord_server *s, uint64_t id, uint64_t index, const uint8_t *req,
                            size_t len)
{
    etcdserverpb_MemberUpdateRequest r;
    member_rec changed;
    bool found = false;
    if (pbx_decode(&etcdserverpb_MemberUpdateRequest_msg, &r, req, len) == 0) {
        membership *ms = s->membership;
        pthread_mutex_lock(&ms->mu);
        member_rec *m = find(ms, r.ID);
        if (m) {
            const pbx_bytes_t *urls = r.peerURLs.items;
            m->n_peer = 0;
            for (size_t j = 0; j < r.peerURLs.count && j < CONFIG_MAX_URLS; j++) {
                size_t ul =
                    urls[j].len < sizeof(m->peer[0]) - 1 ? urls[j].len : sizeof(m->peer[0]) - 1;
                memset(m->peer[m->n_peer], 0, sizeof(m->peer[0]));
                if (ul) memcpy(m->peer[m->n_peer], urls[j].ptr, ul);
                m->n_peer++;
            }
            changed = *m;
            found = true;
        }
        pthread_mutex_unlock(&ms->mu);
        pbx_release(&etcdserverpb_MemberUpdateRequest_msg, &r);
    }
    if (commit_list(s, index) != 0) return -1;
    if (!found) {
        wait_trigger(s->waits, id, COORD_ERR_MEMBER_NOT_FOUND, NULL);
        return 0;
    }
    if (s->peers && changed.id != s->member_id) {
        char addr[300];
        member_peer_addr(&changed, addr, sizeof(addr));
        peer_add(s->peers, changed.id, addr);
    }
    answer(s, MEMBER_OP_REMOVE, id, NULL);
    return 0;
}

void membership_tick(coord_server *s)
{
    if (s->removed_at_ms && server_now_ms() - s->removed_at_ms > 2 * s->cfg->election_ms) {
        s->removed_at_ms = 0;
        stop_removed_member();
    }
    if (node_leader(s->log) != s->member_id) return;
    uint64_t last = node_last_index(s->log);
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n = membership_copy(s, recs);
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].learner || !recs[i].auto_promote) continue;
        uint64_t match = node_match_of(s->log, recs[i].id);
        if (last == 0 || match * 10 < last * 9) continue;
        /* Asked at most once a second; the node retries while another change is in flight. */
        if (s->auto_promote_ticks++ % 10 != 0) continue;
        raft_conf_change cc = {.n_changes = 1};
        cc.changes[0] = (raft_conf_change_item){.type = RAFT_CC_ADD_VOTER, .node = recs[i].id};
        size_t clen;
        uint8_t *ctx = membership_ctx(MEMBER_OP_PROMOTE, 0, NULL, 0, &clen);
        if (!ctx) return;
        fprintf(stderr, "coord: promoting learner %016llx, caught up (%llu of %llu)\n",
                (unsigned long long)recs[i].id, (unsigned long long)match,
                (unsigned long long)last);
        node_propose_conf_change(s->log, &cc, ctx, clen);
        free(ctx);
    }
}

void membership_reload(void *arg)
{
    coord_server *s = arg;
    membership *ms = s->membership;
    member_rec before[CONFIG_MAX_MEMBERS], after[CONFIG_MAX_MEMBERS];
    size_t nb = membership_copy(s, before);
    char *v;
    size_t len;
    if (get_raftmeta(s, MEMBERS_KEY, &v, &len) != 0 || !v) {
        free(v);
        return;
    }
    size_t na = decode_list((uint8_t *)v, len, after);
    free(v);
    if (get_raftmeta(s, AUTO_KEY, &v, &len) == 0)
        for (size_t k = 0; v && k + 8 <= len; k += 8)
            for (size_t i = 0; i < na; i++)
                if (after[i].id == be64_get((uint8_t *)v + k)) after[i].auto_promote = true;
    free(v);
    pthread_mutex_lock(&ms->mu);
    memcpy(ms->members, after, na * sizeof(after[0]));
    ms->n = na;
    pthread_mutex_unlock(&ms->mu);
    if (!s->peers) return;
    for (size_t i = 0; i < na; i++) {
        if (after[i].id == s->member_id) continue;
        char addr[300];
        member_peer_addr(&after[i], addr, sizeof(addr));
        peer_add(s->peers, after[i].id, addr); /* re-adding updates the address */
    }
    for (size_t i = 0; i < nb; i++) {
        bool kept = false;
        for (size_t j = 0; j < na && !kept; j++) kept = after[j].id == before[i].id;
        if (!kept && before[i].id != s->member_id) peer_remove(s->peers, before[i].id);
    }
}
