/* harness: see harness.h. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *np = realloc(p, n * elem);
    if (!np) abort();
    *cap = n;
    return np;
}

void h_log(void *ctx, raft_id id, int level, const char *line)
{
    (void)id;
    (void)level;
    harness *h = ctx;
    if (h->trace) fprintf(h->trace, "  %s\n", line);
}

hnode *h_node(harness *h, raft_id id)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->nodes[i].id == id) return &h->nodes[i];
    return NULL;
}

static int start(harness *h, hnode *n, const raft_id *voters, size_t nv, const raft_id *learners,
                 size_t nl)
{
    raft_config cfg = h->base;
    cfg.id = n->id;
    cfg.storage = raft_memstore_storage(n->ms);
    cfg.voters = voters;
    cfg.n_voters = nv;
    cfg.learners = learners;
    cfg.n_learners = nl;
    cfg.seed = h->base.seed + n->id;
    if (h->trace) {
        cfg.log = h_log;
        cfg.log_ctx = h;
    }
    raft_entries_free(&n->applied);
    n->snap_index = 0;
    return raft_new(&cfg, &n->r);
}

int h_init(harness *h, int n_voters, int n_learners, const raft_config *base)
{
    FILE *trace = h->trace;
    bool tm = h->trace_msgs;
    *h = (harness){0};
    h->trace = trace;
    h->trace_msgs = tm;
    if (base) {
        h->base = *base;
    } else {
        raft_config_init(&h->base);
        h->base.pre_vote = false;
        h->base.check_quorum = false;
        h->base.log_level = RAFT_LOG_DEBUG;
    }
    raft_id voters[H_MAX_NODES], learners[H_MAX_NODES];
    for (int i = 0; i < n_voters; i++) voters[i] = (raft_id)(i + 1);
    for (int i = 0; i < n_learners; i++) learners[i] = (raft_id)(n_voters + i + 1);
    for (int i = 0; i < n_voters + n_learners; i++) {
        hnode *n = &h->nodes[h->n++];
        n->id = (raft_id)(i + 1);
        n->ms = raft_memstore_new();
        int rc = start(h, n, voters, (size_t)n_voters, learners, (size_t)n_learners);
        if (rc) return rc;
    }
    for (size_t i = 0; i < h->n; i++) {
        int rc = h_ready(h, h->nodes[i].id);
        if (rc) return rc;
    }
    return 0;
}

int h_add_empty_node(harness *h, raft_id id)
{
    hnode *n = &h->nodes[h->n++];
    *n = (hnode){.id = id, .ms = raft_memstore_new()};
    return start(h, n, NULL, 0, NULL, 0);
}

static void free_reads(hnode *n)
{
    for (size_t i = 0; i < n->n_reads; i++) free(n->reads[i].ctx);
    n->n_reads = 0;
}

void h_free(harness *h)
{
    for (size_t i = 0; i < h->n; i++) {
        hnode *n = &h->nodes[i];
        raft_free(n->r);
        raft_memstore_free(n->ms);
        raft_entries_free(&n->applied);
        free_reads(n);
        free(n->reads);
    }
    for (size_t i = 0; i < h->nq; i++) raft_msg_free(&h->queue[i]);
    free(h->queue);
    *h = (harness){0};
}

static void fmt_entries(const raft_msg *m, char *buf, size_t cap)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, cap - off, " entries=[");
    for (uint32_t i = 0; i < m->n_entries && off < cap; i++) {
        const raft_entry *e = &m->entries[i];
        if (e->type == RAFT_ENTRY_CONF_CHANGE)
            off += (size_t)snprintf(buf + off, cap - off, "%s%llu/%llu conf", i ? " " : "",
                                    (unsigned long long)e->term, (unsigned long long)e->index);
        else
            off += (size_t)snprintf(buf + off, cap - off, "%s%llu/%llu \"%.*s\"", i ? " " : "",
                                    (unsigned long long)e->term, (unsigned long long)e->index,
                                    (int)e->len, e->data ? (const char *)e->data : "");
    }
    if (off < cap) snprintf(buf + off, cap - off, "]");
}

void h_format_msg(const raft_msg *m, char *buf, size_t cap)
{
    size_t off = (size_t)snprintf(buf, cap, "%llu->%llu %s term=%llu", (unsigned long long)m->from,
                                  (unsigned long long)m->to, raft_msg_type_name(m->type),
                                  (unsigned long long)m->term);
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (off < cap) off += (size_t)snprintf(buf + off, cap - off, __VA_ARGS__);                 \
    } while (0)
    if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE)
        ADD(" log=%llu/%llu", (unsigned long long)m->log_term, (unsigned long long)m->index);
    else if (m->index)
        ADD(" index=%llu", (unsigned long long)m->index);
    if (m->commit) ADD(" commit=%llu", (unsigned long long)m->commit);
    if (m->reject) ADD(" rejected");
    if (m->reject && m->type == RAFT_MSG_APP_RESP)
        ADD(" hint=%llu/%llu", (unsigned long long)m->log_term, (unsigned long long)m->reject_hint);
    if (m->transfer) ADD(" transfer");
    if (m->read_seq) ADD(" read=%llu", (unsigned long long)m->read_seq);
    if (m->ctx_len) ADD(" ctx=\"%.*s\"", (int)m->ctx_len, (const char *)m->ctx);
    if (m->snapshot)
        ADD(" snapshot=%llu/%llu", (unsigned long long)m->snapshot->meta.term,
            (unsigned long long)m->snapshot->meta.index);
    if (m->n_entries && off < cap) fmt_entries(m, buf + off, cap - off);
#undef ADD
}

static void enqueue(harness *h, const raft_msg *m)
{
    h->sent++;
    if (h->trace && h->trace_msgs) {
        char line[1024];
        h_format_msg(m, line, sizeof(line));
        fprintf(h->trace, "  send %s\n", line);
    }
    if (m->from <= H_MAX_NODES && m->to <= H_MAX_NODES && h->cut[m->from][m->to]) return;
    size_t len = raft_msg_encoded_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf || raft_msg_encode(m, buf, len) != len) abort();
    h->queue = grow(h->queue, &h->capq, h->nq + 1, sizeof(*h->queue));
    if (raft_msg_decode(buf, len, &h->queue[h->nq]) != RAFT_OK) abort();
    h->nq++;
    free(buf);
}

int h_ready(harness *h, raft_id id)
{
    hnode *n = h_node(h, id);
    if (!n || !n->r) return 0;
    while (raft_has_ready(n->r)) {
        struct raft_ready rd;
        int rc = raft_ready(n->r, &rd);
        if (rc) return h->last_error = rc;
        if (rd.snapshot) {
            if ((rc = raft_memstore_apply_snapshot(n->ms, rd.snapshot))) return h->last_error = rc;
            n->snap_index = rd.snapshot->meta.index;
        }
        if (rd.n_entries && (rc = raft_memstore_append(n->ms, rd.entries, rd.n_entries)))
            return h->last_error = rc;
        if (rd.has_hard_state) raft_memstore_set_hard_state(n->ms, &rd.hard_state);
        for (size_t i = 0; i < rd.n_messages; i++) enqueue(h, &rd.messages[i]);
        for (size_t i = 0; i < rd.n_committed; i++) {
            const raft_entry *e = &rd.committed[i];
            if (h->trace && h->trace_msgs)
                fprintf(h->trace, "  %llu applied %llu/%llu %s%.*s%s\n", (unsigned long long)id,
                        (unsigned long long)e->term, (unsigned long long)e->index,
                        e->type == RAFT_ENTRY_CONF_CHANGE ? "conf" : "\"",
                        e->type == RAFT_ENTRY_CONF_CHANGE ? 0 : (int)e->len,
                        e->data ? (const char *)e->data : "",
                        e->type == RAFT_ENTRY_CONF_CHANGE ? "" : "\"");
            raft_entries_append(&n->applied, e->term, e->index, e->type, e->data, e->len);
        }
        for (size_t i = 0; i < rd.n_read_states; i++) {
            n->reads = grow(n->reads, &n->cap_reads, n->n_reads + 1, sizeof(*n->reads));
            raft_read_state rs = rd.read_states[i];
            if (h->trace && h->trace_msgs)
                fprintf(h->trace, "  %llu read index %llu for \"%.*s\"\n", (unsigned long long)id,
                        (unsigned long long)rs.index, (int)rs.ctx_len, (const char *)rs.ctx);
            rs.ctx = malloc(rs.ctx_len + 1);
            memcpy(rs.ctx, rd.read_states[i].ctx, rs.ctx_len);
            n->reads[n->n_reads++] = rs;
        }
        if ((rc = raft_advance(n->r, &rd))) return h->last_error = rc;
    }
    return 0;
}

static bool matches(const raft_msg *m, raft_id from, raft_id to)
{
    return (!from || m->from == from) && (!to || m->to == to);
}

static int deliver_one(harness *h, size_t i)
{
    raft_msg m = h->queue[i];
    memmove(&h->queue[i], &h->queue[i + 1], (h->nq - i - 1) * sizeof(raft_msg));
    h->nq--;
    hnode *n = h_node(h, m.to);
    int rc = 0;
    if (n && n->r) {
        if (h->trace && !h->trace_msgs) {
            char line[1024];
            h_format_msg(&m, line, sizeof(line));
            fprintf(h->trace, "  recv %s\n", line);
        }
        rc = raft_step(n->r, &m);
        if (rc) h->last_error = rc;
        if (!rc) rc = h_ready(h, m.to);
    }
    raft_msg_free(&m);
    return rc;
}

int h_deliver(harness *h, raft_id from, raft_id to)
{
    int count = 0;
    size_t limit = h->nq;
    for (size_t i = 0; i < h->nq && limit > 0; limit--) {
        if (!matches(&h->queue[i], from, to)) {
            i++;
            continue;
        }
        deliver_one(h, i);
        count++;
    }
    return count;
}

int h_drop(harness *h, raft_id from, raft_id to)
{
    int count = 0;
    for (size_t i = 0; i < h->nq;) {
        if (!matches(&h->queue[i], from, to)) {
            i++;
            continue;
        }
        raft_msg_free(&h->queue[i]);
        memmove(&h->queue[i], &h->queue[i + 1], (h->nq - i - 1) * sizeof(raft_msg));
        h->nq--;
        count++;
    }
    return count;
}

int h_stabilize(harness *h)
{
    int delivered = 0;
    for (int round = 0; round < 100000; round++) {
        for (size_t i = 0; i < h->n; i++) h_ready(h, h->nodes[i].id);
        if (h->nq == 0) break;
        deliver_one(h, 0);
        delivered++;
    }
    return delivered;
}

int h_tick(harness *h, raft_id id, int k)
{
    hnode *n = h_node(h, id);
    if (!n || !n->r) return RAFT_ERR_INVALID;
    for (int i = 0; i < k; i++) {
        int rc = raft_tick(n->r);
        if (rc) return rc;
        if ((rc = h_ready(h, id))) return rc;
    }
    return 0;
}

int h_campaign(harness *h, raft_id id)
{
    hnode *n = h_node(h, id);
    int rc = raft_campaign(n->r);
    if (rc) return rc;
    h_stabilize(h);
    return h->last_error;
}

int h_propose(harness *h, raft_id id, const char *data)
{
    hnode *n = h_node(h, id);
    int rc = raft_propose(n->r, data, strlen(data), NULL);
    if (rc) return rc;
    return h_ready(h, id);
}

raft_id h_leader(harness *h)
{
    raft_id lead = RAFT_NONE;
    uint64_t term = 0;
    for (size_t i = 0; i < h->n; i++) {
        raft_status s = h_status(h, h->nodes[i].id);
        if (h->nodes[i].r && s.soft.role == RAFT_LEADER && s.hard_state.term >= term) {
            lead = s.id;
            term = s.hard_state.term;
        }
    }
    return lead;
}

int h_crash(harness *h, raft_id id)
{
    hnode *n = h_node(h, id);
    raft_free(n->r);
    n->r = NULL;
    free_reads(n);
    return h_drop(h, 0, id);
}

int h_restart_applied(harness *h, raft_id id, uint64_t applied)
{
    uint64_t saved = h->base.applied;
    h->base.applied = applied;
    int rc = h_restart(h, id);
    h->base.applied = saved;
    return rc;
}

int h_restart(harness *h, raft_id id)
{
    hnode *n = h_node(h, id);
    if (n->r) h_crash(h, id);
    int rc = start(h, n, NULL, 0, NULL, 0);
    if (rc) return rc;
    return h_ready(h, id);
}

void h_isolate(harness *h, raft_id id)
{
    for (raft_id o = 0; o <= H_MAX_NODES; o++) {
        if (o == id) continue;
        h->cut[id][o] = h->cut[o][id] = true;
    }
}

void h_heal(harness *h)
{
    memset(h->cut, 0, sizeof(h->cut));
}

int h_compact(harness *h, raft_id id)
{
    hnode *n = h_node(h, id);
    raft_snapshot_meta meta;
    int rc = raft_snapshot_point(n->r, &meta);
    if (rc) return rc;
    char data[32];
    int len = snprintf(data, sizeof(data), "state@%llu", (unsigned long long)meta.index);
    if ((rc = raft_memstore_create_snapshot(n->ms, &meta, data, (size_t)len))) return rc;
    return raft_memstore_compact(n->ms, meta.index);
}

raft_msg *h_find(harness *h, raft_id from, raft_id to, int type)
{
    for (size_t i = 0; i < h->nq; i++)
        if (matches(&h->queue[i], from, to) && (!type || h->queue[i].type == type))
            return &h->queue[i];
    return NULL;
}

size_t h_count(harness *h, raft_id from, raft_id to, int type)
{
    size_t c = 0;
    for (size_t i = 0; i < h->nq; i++)
        if (matches(&h->queue[i], from, to) && (!type || h->queue[i].type == type)) c++;
    return c;
}

raft_status h_status(harness *h, raft_id id)
{
    raft_status s = {0};
    hnode *n = h_node(h, id);
    if (n && n->r) raft_status_get(n->r, &s);
    return s;
}

bool h_applied(harness *h, raft_id id, const char *data)
{
    hnode *n = h_node(h, id);
    size_t len = strlen(data);
    for (size_t i = 0; n && i < n->applied.n; i++) {
        const raft_entry *e = &n->applied.v[i];
        if (e->type == RAFT_ENTRY_NORMAL && e->len == len && memcmp(e->data, data, len) == 0)
            return true;
    }
    return false;
}
