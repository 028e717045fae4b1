/* raft_conf: configurations (joint or simple, with learners), quorum arithmetic over them,
 * and switching the node to a new configuration. */
#include "raft_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has(const raft_id *ids, uint32_t n, raft_id id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void add(raft_id *ids, uint32_t *n, raft_id id)
{
    if (!has(ids, *n, id)) ids[(*n)++] = id;
}

static void del(raft_id *ids, uint32_t *n, raft_id id)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (ids[i] != id) continue;
        memmove(&ids[i], &ids[i + 1], (*n - i - 1) * sizeof(*ids));
        (*n)--;
        return;
    }
}

static bool same_set(const raft_id *a, uint32_t na, const raft_id *b, uint32_t nb)
{
    if (na != nb) return false;
    for (uint32_t i = 0; i < na; i++)
        if (!has(b, nb, a[i])) return false;
    return true;
}

bool conf_is_voter(const raft_conf_state *c, raft_id id)
{
    return has(c->voters, c->n_voters, id) || has(c->voters_outgoing, c->n_voters_outgoing, id);
}

bool conf_is_learner(const raft_conf_state *c, raft_id id)
{
    return has(c->learners, c->n_learners, id);
}

bool conf_is_joint(const raft_conf_state *c)
{
    return c->n_voters_outgoing > 0;
}

/* Every member of c once: voters, outgoing voters, learners. Returns the count. */
static uint32_t members(const raft_conf_state *c, raft_id *out, uint32_t cap)
{
    raft_id all[3 * RAFT_MAX_NODES];
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n_voters; i++) add(all, &n, c->voters[i]);
    for (uint32_t i = 0; i < c->n_voters_outgoing; i++) add(all, &n, c->voters_outgoing[i]);
    for (uint32_t i = 0; i < c->n_learners; i++) add(all, &n, c->learners[i]);
    for (uint32_t i = 0; i < n && i < cap; i++) out[i] = all[i];
    return n;
}

int conf_apply_change(const raft_conf_state *c, const raft_conf_change *cc, raft_conf_state *out)
{
    if (cc->n_changes > RAFT_MAX_NODES) return RAFT_ERR_INVALID;
    if (cc->n_changes == 0) {
        /* Leaving C_old,new for C_new. */
        if (!conf_is_joint(c)) return RAFT_ERR_INVALID;
        *out = *c;
        out->n_voters_outgoing = 0;
        return RAFT_OK;
    }
    /* "Once a given server adds the new configuration entry to its log, it uses that
     * configuration for all future decisions"; one change at a time means no new change
     * may start from a joint configuration. */
    if (conf_is_joint(c)) return RAFT_ERR_INVALID;
    raft_conf_state n = *c;
    for (uint32_t i = 0; i < cc->n_changes; i++) {
        raft_id id = cc->changes[i].node;
        if (id == RAFT_NONE) return RAFT_ERR_INVALID;
        switch (cc->changes[i].type) {
        case RAFT_CC_ADD_VOTER:
            del(n.learners, &n.n_learners, id);
            if (!has(n.voters, n.n_voters, id)) {
                if (n.n_voters >= RAFT_MAX_NODES) return RAFT_ERR_INVALID;
                n.voters[n.n_voters++] = id;
            }
            break;
        case RAFT_CC_ADD_LEARNER:
            /* Demoting a voter would make it a learner and an outgoing voter at once. */
            if (has(c->voters, c->n_voters, id)) return RAFT_ERR_INVALID;
            if (!has(n.learners, n.n_learners, id)) {
                if (n.n_learners >= RAFT_MAX_NODES) return RAFT_ERR_INVALID;
                n.learners[n.n_learners++] = id;
            }
            break;
        case RAFT_CC_REMOVE:
            del(n.voters, &n.n_voters, id);
            del(n.learners, &n.n_learners, id);
            break;
        default:
            return RAFT_ERR_INVALID;
        }
    }
    if (n.n_voters == 0) return RAFT_ERR_INVALID;
    if (!same_set(c->voters, c->n_voters, n.voters, n.n_voters) && c->n_voters > 0) {
        memcpy(n.voters_outgoing, c->voters, sizeof(c->voters));
        n.n_voters_outgoing = c->n_voters;
    }
    raft_id all[3 * RAFT_MAX_NODES];
    if (members(&n, all, 3 * RAFT_MAX_NODES) > RAFT_MAX_NODES) return RAFT_ERR_INVALID;
    *out = n;
    return RAFT_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static uint64_t majority_value(const raft_id *ids, uint32_t n,
                               uint64_t (*value)(const raft *, raft_id), const raft *r)
{
    if (n == 0) return UINT64_MAX; /* an empty half of a joint config agrees to anything */
    uint64_t v[RAFT_MAX_NODES];
    for (uint32_t i = 0; i < n; i++) v[i] = value(r, ids[i]);
    qsort(v, n, sizeof(v[0]), cmp_desc);
    return v[n / 2]; /* reached by n/2 + 1 members */
}

uint64_t conf_committed(const raft_conf_state *c, uint64_t (*value)(const raft *, raft_id),
                        const raft *r)
{
    uint64_t a = majority_value(c->voters, c->n_voters, value, r);
    uint64_t b = majority_value(c->voters_outgoing, c->n_voters_outgoing, value, r);
    return a < b ? a : b;
}

static int majority_vote(const raft_id *ids, uint32_t n, int (*vote)(const raft *, raft_id),
                         const raft *r)
{
    if (n == 0) return VOTE_WON;
    uint32_t granted = 0, missing = 0;
    for (uint32_t i = 0; i < n; i++) {
        int v = vote(r, ids[i]);
        if (v > 0)
            granted++;
        else if (v == 0)
            missing++;
    }
    uint32_t q = n / 2 + 1;
    if (granted >= q) return VOTE_WON;
    if (granted + missing >= q) return VOTE_PENDING;
    return VOTE_LOST;
}

int conf_vote_result(const raft_conf_state *c, int (*vote)(const raft *, raft_id), const raft *r)
{
    int a = majority_vote(c->voters, c->n_voters, vote, r);
    int b = majority_vote(c->voters_outgoing, c->n_voters_outgoing, vote, r);
    if (a == VOTE_LOST || b == VOTE_LOST) return VOTE_LOST;
    if (a == VOTE_WON && b == VOTE_WON) return VOTE_WON;
    return VOTE_PENDING;
}

raft_progress *conf_progress(raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return &r->prs[i];
    return NULL;
}

int conf_sync_progress(raft *r)
{
    raft_id all[3 * RAFT_MAX_NODES];
    uint32_t n = members(&r->conf, all, 3 * RAFT_MAX_NODES);
    if (n > RAFT_MAX_NODES) return RAFT_ERR_CORRUPT;
    for (size_t i = 0; i < r->n_prs;) {
        if (has(all, n, r->prs[i].id)) {
            r->prs[i].learner = conf_is_learner(&r->conf, r->prs[i].id);
            i++;
            continue;
        }
        pr_free(&r->prs[i]);
        r->prs[i] = r->prs[--r->n_prs];
        r->prs[r->n_prs] = (raft_progress){0};
    }
    uint64_t last = 0;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    for (uint32_t i = 0; i < n; i++) {
        if (conf_progress(r, all[i])) continue;
        raft_progress *pr = &r->prs[r->n_prs++];
        *pr = (raft_progress){0};
        pr_reset(pr, all[i], last + 1, conf_is_learner(&r->conf, all[i]));
        /* A new member gets a full timeout to answer before check-quorum counts it out. */
        pr->recent_active = true;
        if (all[i] == r->id) pr->match = log_stable_last(&r->log);
    }
    return RAFT_OK;
}

int conf_switch(raft *r, const raft_conf_state *conf)
{
    char desc[256];
    r->conf = *conf;
    int rc = conf_sync_progress(r);
    if (rc) return rc;
    r->learner = conf_is_learner(conf, r->id);
    conf_format(conf, desc, sizeof(desc));
    rlog(r, RAFT_LOG_INFO, "%llu switched to configuration %s", (unsigned long long)r->id, desc);
    if (r->role != RAFT_LEADER) return RAFT_OK;
    if (!conf_is_voter(conf, r->id)) {
        rlog(r, RAFT_LOG_INFO, "%llu is no longer a voter: stepping down",
             (unsigned long long)r->id);
        become_follower(r, r->term, RAFT_NONE);
        return RAFT_OK;
    }
    if (r->transferee != RAFT_NONE && !conf_is_voter(conf, r->transferee)) abort_transfer(r);
    /* The quorum changed: entries and reads may now be confirmed by fewer acks. */
    bool advanced = false;
    if ((rc = maybe_commit(r, &advanced))) return rc;
    if (advanced && (rc = broadcast_append(r))) return rc;
    return read_release_acked(r);
}

static size_t fmt_ids(char *buf, size_t cap, const raft_id *ids, uint32_t n)
{
    size_t off = 0;
    int w = snprintf(buf, cap, "(");
    off += w > 0 ? (size_t)w : 0;
    for (uint32_t i = 0; i < n && off < cap; i++) {
        w = snprintf(buf + off, cap - off, i ? " %llu" : "%llu", (unsigned long long)ids[i]);
        off += w > 0 ? (size_t)w : 0;
    }
    if (off < cap) {
        w = snprintf(buf + off, cap - off, ")");
        off += w > 0 ? (size_t)w : 0;
    }
    return off;
}

void conf_format(const raft_conf_state *c, char *buf, size_t cap)
{
    if (cap == 0) return;
    buf[0] = 0;
    size_t off = (size_t)snprintf(buf, cap, "voters=");
    if (off < cap) off += fmt_ids(buf + off, cap - off, c->voters, c->n_voters);
    if (conf_is_joint(c) && off + 2 < cap) {
        off += (size_t)snprintf(buf + off, cap - off, "&&");
        if (off < cap)
            off += fmt_ids(buf + off, cap - off, c->voters_outgoing, c->n_voters_outgoing);
    }
    if (c->n_learners && off + 10 < cap) {
        off += (size_t)snprintf(buf + off, cap - off, " learners=");
        if (off < cap) fmt_ids(buf + off, cap - off, c->learners, c->n_learners);
    }
}
