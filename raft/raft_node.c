/* raft_node: the public calls -- construction and restart from storage, proposals, and the
 * ready/advance hand-off with the application. */
#include "raft_internal.h"

#include <stdlib.h>
#include <string.h>

#define ID(x) ((unsigned long long)(x))

static bool valid_config(const raft_config *c)
{
    return c->id != RAFT_NONE && c->storage && c->heartbeat_tick > 0 &&
           c->election_tick > c->heartbeat_tick && c->max_inflight_msgs > 0 &&
           c->n_voters <= RAFT_MAX_NODES && c->n_learners <= RAFT_MAX_NODES &&
           c->n_voters + c->n_learners <= RAFT_MAX_NODES;
}

static int bootstrap(raft *r, const raft_config *cfg)
{
    raft_conf_change cc = {0};
    for (size_t i = 0; i < cfg->n_voters; i++)
        cc.changes[cc.n_changes++] = (raft_conf_change_item){RAFT_CC_ADD_VOTER, cfg->voters[i]};
    for (size_t i = 0; i < cfg->n_learners; i++)
        cc.changes[cc.n_changes++] = (raft_conf_change_item){RAFT_CC_ADD_LEARNER, cfg->learners[i]};
    raft_conf_state empty = {0};
    int rc = conf_apply_change(&empty, &cc, &r->conf);
    if (rc) return rc;
    size_t len = 0;
    uint8_t *data = raft_conf_change_encode(&cc, NULL, 0, &len);
    if (!data) return RAFT_ERR_NOMEM;
    raft_entry e = {
        .term = 1, .index = 1, .type = RAFT_ENTRY_CONF_CHANGE, .len = (uint32_t)len, .data = data};
    rc = log_append(&r->log, &e, 1);
    free(data);
    if (rc) return rc;
    if (r->term < 1) r->term = 1;
    r->log.committed = 1;
    return RAFT_OK;
}

/* Re-applies the configuration changes in (from, to]: the configuration the application had
 * when it stopped is its snapshot's, plus every change it had applied since. */
static int replay_conf(raft *r, uint64_t from, uint64_t to)
{
    uint64_t lo = from + 1;
    while (lo <= to) {
        raft_entries es = {0};
        int rc = log_entries(&r->log, lo, to + 1, 1u << 20, &es);
        if (rc) {
            raft_entries_free(&es);
            return rc;
        }
        for (size_t i = 0; i < es.n; i++) {
            if (es.v[i].type != RAFT_ENTRY_CONF_CHANGE) continue;
            raft_conf_change cc;
            raft_conf_state next;
            if (raft_conf_change_decode(es.v[i].data, es.v[i].len, &cc, NULL, NULL) == RAFT_OK &&
                conf_apply_change(&r->conf, &cc, &next) == RAFT_OK)
                r->conf = next;
        }
        lo = es.v[es.n - 1].index + 1;
        raft_entries_free(&es);
    }
    return RAFT_OK;
}

int raft_new(const raft_config *cfg, raft **out)
{
    *out = NULL;
    if (!cfg || !valid_config(cfg)) return RAFT_ERR_INVALID;
    raft *r = calloc(1, sizeof(*r));
    if (!r) return RAFT_ERR_NOMEM;
    r->id = cfg->id;
    r->cfg = *cfg;
    r->cfg.voters = r->cfg.learners = NULL;
    r->cfg.n_voters = r->cfg.n_learners = 0;
    r->rng = cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ull);
    const raft_storage *st = cfg->storage;
    int rc = log_init(&r->log, st);
    if (rc) goto fail_free_raft;
    raft_hard_state hs = {0};
    raft_snapshot_meta snap = {0};
    if ((rc = st->initial_state(st->ctx, &hs, &snap))) goto fail_free_log;
    uint64_t last = 0;
    if ((rc = st->last_index(st->ctx, &last))) goto fail_free_log;
    r->term = hs.term;
    r->vote = hs.vote;
    r->log.committed = hs.commit > snap.index ? hs.commit : snap.index;
    if (r->log.committed > last) {
        rc = RAFT_ERR_CORRUPT;
        goto fail_free_log;
    }
    if (last == 0 && snap.index == 0 && cfg->n_voters > 0) {
        if ((rc = bootstrap(r, cfg))) goto fail_free_log;
    } else {
        r->conf = snap.conf;
    }
    uint64_t applied = cfg->applied > snap.index ? cfg->applied : snap.index;
    if (applied > r->log.committed) {
        rc = RAFT_ERR_INVALID;
        goto fail_free_log;
    }
    if ((rc = replay_conf(r, snap.index, applied))) goto fail_free_log;
    r->log.applied = applied;
    if ((rc = conf_sync_progress(r))) goto fail_free_log;
    r->learner = conf_is_learner(&r->conf, r->id);
    uint64_t term = r->term;
    raft_id vote = r->vote;
    become_follower(r, term, RAFT_NONE);
    r->vote = vote;
    r->prev_hard = hs;
    r->prev_soft = (raft_soft_state){RAFT_NONE, RAFT_FOLLOWER};
    char desc[256];
    conf_format(&r->conf, desc, sizeof(desc));
    rlog(r, RAFT_LOG_INFO,
         "%llu started [term: %llu, commit: %llu, applied: %llu, last: %llu] "
         "%s",
         ID(r->id), ID(r->term), ID(r->log.committed), ID(applied), ID(last), desc);
    *out = r;
    return RAFT_OK;

fail_free_log:
    log_free(&r->log);
fail_free_raft:
    free(r);
    return rc;
}

static void free_outbox(raft *r)
{
    for (size_t i = 0; i < r->n_msgs; i++) free(r->msgs[i].mem);
    r->n_msgs = 0;
    for (size_t i = 0; i < r->n_read_states; i++) free(r->read_states[i].ctx);
    r->n_read_states = 0;
}

void raft_free(raft *r)
{
    if (!r) return;
    free_outbox(r);
    free(r->msgs);
    free(r->read_states);
    reads_clear(r);
    free(r->reads);
    for (size_t i = 0; i < r->n_prs; i++) pr_free(&r->prs[i]);
    raft_entries_free(&r->rd_committed);
    log_free(&r->log);
    free(r);
}

/* Every call that changes state goes through here: no calls between ready and advance, and
 * none at all once an invariant was found broken. */
static int guard(raft *r)
{
    if (r->fatal) return RAFT_ERR_CORRUPT;
    if (r->in_ready) return RAFT_ERR_BUSY;
    return RAFT_OK;
}

static int result(raft *r, int rc)
{
    if (rc == RAFT_ERR_CORRUPT || rc == RAFT_ERR_STORAGE) r->fatal = true;
    return rc;
}

int raft_tick(raft *r)
{
    int rc = guard(r);
    return rc ? rc : result(r, tick(r));
}

int raft_step(raft *r, const raft_msg *m)
{
    int rc = guard(r);
    if (rc) return rc;
    if (!m || m->type < RAFT_MSG_APP || m->type > RAFT_MSG_TYPE_MAX) return RAFT_OK;
    return result(r, step_message(r, m));
}

int raft_campaign(raft *r)
{
    int rc = guard(r);
    if (rc) return rc;
    if (r->role == RAFT_LEADER) return RAFT_OK;
    return result(r, campaign(r, r->cfg.pre_vote, false));
}

int raft_propose(raft *r, const void *data, size_t len, uint64_t *index)
{
    int rc = guard(r);
    if (rc) return rc;
    if (index) *index = 0;
    if (len > UINT32_MAX) return RAFT_ERR_TOO_LARGE;
    raft_entry e = {.type = RAFT_ENTRY_NORMAL, .len = (uint32_t)len, .data = (uint8_t *)data};
    if (r->role == RAFT_LEADER) return result(r, propose_entries(r, &e, 1, index));
    if (r->lead == RAFT_NONE) {
        rlog(r, RAFT_LOG_INFO, "%llu dropped proposal: no leader at term %llu", ID(r->id),
             ID(r->term));
        return RAFT_ERR_DROPPED;
    }
    raft_msg in = {.n_entries = 1, .entries = &e};
    return result(r, forward(r, &in, RAFT_MSG_PROP));
}

int raft_propose_conf_change(raft *r, const raft_conf_change *cc, const void *ctx, size_t ctx_len,
                             uint64_t *index)
{
    int rc = guard(r);
    if (rc) return rc;
    if (index) *index = 0;
    if (r->role != RAFT_LEADER) return RAFT_ERR_DROPPED;
    /* One change at a time, and never before this leader's no-op is applied: a new leader
     * may not yet know of a change its predecessor committed. */
    if (r->pending_conf_index > r->log.applied) {
        rlog(r, RAFT_LOG_INFO,
             "%llu rejected conf change: change at %llu not yet applied "
             "(applied %llu)",
             ID(r->id), ID(r->pending_conf_index), ID(r->log.applied));
        return RAFT_ERR_CONF_PENDING;
    }
    raft_conf_state next;
    if ((rc = conf_apply_change(&r->conf, cc, &next))) return rc;
    size_t len = 0;
    uint8_t *data = raft_conf_change_encode(cc, ctx, ctx_len, &len);
    if (!data) return RAFT_ERR_NOMEM;
    raft_entry e = {.type = RAFT_ENTRY_CONF_CHANGE, .len = (uint32_t)len, .data = data};
    uint64_t idx = 0;
    rc = propose_entries(r, &e, 1, &idx);
    free(data);
    if (rc) return result(r, rc);
    r->pending_conf_index = idx;
    if (index) *index = idx;
    return RAFT_OK;
}

int raft_read_index(raft *r, const void *ctx, size_t ctx_len)
{
    int rc = guard(r);
    if (rc) return rc;
    if (ctx_len > UINT32_MAX) return RAFT_ERR_TOO_LARGE;
    if (r->role == RAFT_LEADER) return result(r, read_request(r, r->id, ctx, (uint32_t)ctx_len));
    if (r->lead == RAFT_NONE) return RAFT_ERR_DROPPED;
    raft_msg in = {.ctx = (uint8_t *)ctx, .ctx_len = (uint32_t)ctx_len};
    return result(r, forward(r, &in, RAFT_MSG_READ_INDEX));
}

int raft_transfer_leader(raft *r, raft_id target)
{
    int rc = guard(r);
    if (rc) return rc;
    if (r->role == RAFT_LEADER) return result(r, transfer_leader(r, target));
    if (r->lead == RAFT_NONE) return RAFT_ERR_DROPPED;
    raft_msg in = {.index = target};
    return result(r, forward(r, &in, RAFT_MSG_TRANSFER));
}

void raft_report_unreachable(raft *r, raft_id target)
{
    if (guard(r) || r->role != RAFT_LEADER) return;
    raft_progress *pr = conf_progress(r, target);
    if (pr && pr->state == PR_REPLICATE) pr_become_probe(pr);
}

void raft_report_snapshot(raft *r, raft_id target, bool ok)
{
    if (guard(r) || r->role != RAFT_LEADER) return;
    raft_progress *pr = conf_progress(r, target);
    if (!pr || pr->state != PR_SNAPSHOT) return;
    rlog(r, RAFT_LOG_INFO, "%llu: snapshot to %llu %s", ID(r->id), ID(target),
         ok ? "delivered; waiting for its ack" : "failed; probing after the next heartbeat");
    if (!ok) pr->pending_snapshot = 0;
    pr_become_probe(pr);
    /* Either way wait: for the ack of the snapshot, or for a heartbeat before retrying. */
    pr->probe_sent = true;
}

/* [lo, hi) of committed entries the application has not been given yet. */
static int committed_range(const raft *r, uint64_t *lo, uint64_t *hi)
{
    uint64_t last;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    uint64_t from = r->log.applied;
    if (r->log.snap && r->log.snap->meta.index > from) from = r->log.snap->meta.index;
    uint64_t to = r->log.committed < last ? r->log.committed : last;
    *lo = from + 1;
    *hi = to + 1;
    return RAFT_OK;
}

static raft_hard_state hard_state(const raft *r)
{
    return (raft_hard_state){r->term, r->vote, r->log.committed};
}

bool raft_has_ready(const raft *r)
{
    if (r->fatal || r->in_ready) return false;
    raft_soft_state s = {r->lead, r->role};
    raft_hard_state h = hard_state(r);
    if (s.leader != r->prev_soft.leader || s.role != r->prev_soft.role) return true;
    if (memcmp(&h, &r->prev_hard, sizeof(h)) != 0) return true;
    if (r->log.n || r->log.snap || r->n_msgs || r->n_read_states) return true;
    uint64_t lo, hi;
    return committed_range(r, &lo, &hi) == RAFT_OK && lo < hi;
}

int raft_ready(raft *r, struct raft_ready *rd)
{
    int rc = guard(r);
    if (rc) return rc;
    *rd = (struct raft_ready){0};
    if (r->append_pending && (rc = flush_appends(r))) return result(r, rc);
    uint64_t lo, hi;
    if ((rc = committed_range(r, &lo, &hi))) return result(r, rc);
    raft_entries_free(&r->rd_committed);
    if (lo < hi &&
        (rc = log_entries(&r->log, lo, hi, r->cfg.max_committed_bytes, &r->rd_committed)))
        return result(r, rc);
    rd->soft = (raft_soft_state){r->lead, r->role};
    rd->has_soft_state =
        rd->soft.leader != r->prev_soft.leader || rd->soft.role != r->prev_soft.role;
    rd->hard_state = hard_state(r);
    rd->has_hard_state = memcmp(&rd->hard_state, &r->prev_hard, sizeof(rd->hard_state)) != 0;
    rd->snapshot = r->log.snap;
    rd->entries = r->log.ents;
    rd->n_entries = r->log.n;
    rd->must_sync = rd->n_entries > 0 || rd->snapshot || rd->hard_state.term != r->prev_hard.term ||
                    rd->hard_state.vote != r->prev_hard.vote;
    rd->committed = r->rd_committed.v;
    rd->n_committed = r->rd_committed.n;
    rd->messages = r->msgs;
    rd->n_messages = r->n_msgs;
    rd->read_states = r->read_states;
    rd->n_read_states = r->n_read_states;
    r->prev_soft = rd->soft;
    r->prev_hard = rd->hard_state;
    /* From here on, heartbeats of the current round are on their way: a new read needs a
     * new round that starts after it. */
    r->read_round_unsent = false;
    r->in_ready = true;
    return RAFT_OK;
}

static int apply_conf_entry(raft *r, const raft_entry *e)
{
    raft_conf_change cc;
    raft_conf_state next;
    if (raft_conf_change_decode(e->data, e->len, &cc, NULL, NULL) != RAFT_OK ||
        conf_apply_change(&r->conf, &cc, &next) != RAFT_OK) {
        /* Checked when proposed against the same configuration, so only a change that
         * repeats what is already in force (a re-applied bootstrap) lands here. */
        rlog(r, RAFT_LOG_DEBUG, "%llu ignored conf change at %llu: not applicable", ID(r->id),
             ID(e->index));
        return RAFT_OK;
    }
    return conf_switch(r, &next);
}

int raft_advance(raft *r, const struct raft_ready *rd)
{
    if (r->fatal) return RAFT_ERR_CORRUPT;
    if (!r->in_ready || !rd) return RAFT_ERR_INVALID;
    r->in_ready = false;
    free_outbox(r);
    if (rd->snapshot && rd->snapshot->meta.index > r->log.applied)
        r->log.applied = rd->snapshot->meta.index;
    log_stable_all(&r->log);
    int rc = RAFT_OK;
    for (size_t i = 0; i < r->rd_committed.n && rc == RAFT_OK; i++) {
        const raft_entry *e = &r->rd_committed.v[i];
        r->log.applied = e->index;
        if (e->type == RAFT_ENTRY_CONF_CHANGE) rc = apply_conf_entry(r, e);
    }
    raft_entries_free(&r->rd_committed);
    if (rc) return result(r, rc);
    if (r->role != RAFT_LEADER) return RAFT_OK;
    raft_progress *self = conf_progress(r, r->id);
    if (self && pr_maybe_update(self, log_stable_last(&r->log))) {
        bool advanced;
        if ((rc = maybe_commit(r, &advanced))) return result(r, rc);
        if (advanced && (rc = broadcast_append(r))) return result(r, rc);
    }
    if (conf_is_joint(&r->conf) && r->log.applied >= r->pending_conf_index) {
        /* Joint consensus is a passage, not a place: once C_old,new is applied the leader
         * proposes C_new. */
        rlog(r, RAFT_LOG_INFO, "%llu leaving joint configuration", ID(r->id));
        raft_conf_change leave = {0};
        rc = raft_propose_conf_change(r, &leave, NULL, 0, NULL);
        if (rc == RAFT_ERR_DROPPED) rc = RAFT_OK; /* a transfer is under way; retried later */
        if (rc) return result(r, rc);
    }
    return RAFT_OK;
}

int raft_snapshot_point(const raft *r, raft_snapshot_meta *meta)
{
    if (r->in_ready) return RAFT_ERR_BUSY;
    uint64_t t;
    int rc = log_term(&r->log, r->log.applied, &t);
    if (rc) return rc;
    *meta = (raft_snapshot_meta){.index = r->log.applied, .term = t, .conf = r->conf};
    return RAFT_OK;
}

void raft_status_get(const raft *r, raft_status *out)
{
    *out = (raft_status){0};
    out->id = r->id;
    out->hard_state = hard_state(r);
    out->soft = (raft_soft_state){r->lead, r->role};
    out->applied = r->log.applied;
    log_first_index(&r->log, &out->first_index);
    log_last_index(&r->log, &out->last_index);
    out->conf = r->conf;
    out->transferee = r->transferee;
    if (r->role != RAFT_LEADER) return;
    for (size_t i = 0; i < r->n_prs; i++) {
        const raft_progress *pr = &r->prs[i];
        out->progress[out->n_progress++] = (raft_progress_status){
            .id = pr->id,
            .match = pr->match,
            .next = pr->next,
            .state = pr->state,
            .learner = pr->learner,
            .recent_active = pr->recent_active,
            .inflight = pr->infl_count,
        };
    }
}
