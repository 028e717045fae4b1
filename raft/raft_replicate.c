/* raft_replicate: the leader's appends, heartbeats and snapshots, the follower's handling
 * of them, and commitment. */
#include "raft_internal.h"

#include <stdlib.h>

#define ID(x) ((unsigned long long)(x))

static int commit_to(raft *r, uint64_t index)
{
    if (index <= r->log.committed) return RAFT_OK;
    uint64_t last = 0;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    if (index > last) {
        rlog(r, RAFT_LOG_ERROR, "%llu told to commit %llu past its last index %llu", ID(r->id),
             ID(index), ID(last));
        return RAFT_ERR_CORRUPT;
    }
    r->log.committed = index;
    return RAFT_OK;
}

static int send_snapshot(raft *r, raft_progress *pr, bool *sent)
{
    if (!pr->recent_active) {
        rlog(r, RAFT_LOG_DEBUG, "%llu not sending snapshot to %llu: not recently active", ID(r->id),
             ID(pr->id));
        return RAFT_OK;
    }
    raft_snapshot snap = {0};
    int rc = r->log.st->snapshot(r->log.st->ctx, &snap);
    if (rc == RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE) {
        rlog(r, RAFT_LOG_DEBUG, "%llu snapshot for %llu temporarily unavailable", ID(r->id),
             ID(pr->id));
        return RAFT_OK;
    }
    if (rc) return rc;
    if (snap.meta.index == 0) {
        raft_snapshot_free(&snap);
        return RAFT_ERR_STORAGE; /* the log was compacted without a snapshot */
    }
    raft_msg *m = send_msg(r, pr->id, RAFT_MSG_SNAP);
    if (!m || msg_attach(m, NULL, 0, &snap, NULL, 0)) {
        if (m) r->n_msgs--;
        raft_snapshot_free(&snap);
        return RAFT_ERR_NOMEM;
    }
    rlog(r, RAFT_LOG_INFO,
         "%llu sent snapshot [index: %llu, term: %llu] to %llu (next %llu "
         "is compacted); paused until it is acknowledged",
         ID(r->id), ID(snap.meta.index), ID(snap.meta.term), ID(pr->id), ID(pr->next));
    pr_become_snapshot(pr, snap.meta.index);
    raft_snapshot_free(&snap);
    *sent = true;
    return RAFT_OK;
}

int send_append(raft *r, raft_progress *pr, bool send_if_empty, bool *sent)
{
    *sent = false;
    if (pr->id == r->id || pr_is_paused(pr, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes))
        return RAFT_OK;
    uint64_t last = 0;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    if (pr->next > last + 1) pr->next = last + 1;
    uint64_t prev = pr->next - 1, prev_term = 0;
    raft_entries ents = {0};
    int rct = log_term(&r->log, prev, &prev_term);
    int rce = RAFT_OK;
    if (rct == RAFT_OK && pr->next <= last)
        rce = log_entries(&r->log, pr->next, last + 1, r->cfg.max_msg_bytes, &ents);
    if (rct == RAFT_ERR_COMPACTED || rce == RAFT_ERR_COMPACTED) {
        raft_entries_free(&ents);
        return send_snapshot(r, pr, sent);
    }
    if (rct || rce) {
        raft_entries_free(&ents);
        return rct ? rct : rce;
    }
    if (ents.n == 0 && !send_if_empty) return RAFT_OK;
    raft_msg *m = send_msg(r, pr->id, RAFT_MSG_APP);
    if (!m || msg_attach(m, ents.v, (uint32_t)ents.n, NULL, NULL, 0)) {
        if (m) r->n_msgs--;
        raft_entries_free(&ents);
        return RAFT_ERR_NOMEM;
    }
    m->index = prev;
    m->log_term = prev_term;
    m->commit = r->log.committed;
    *sent = true;
    if (ents.n > 0 && pr->state == PR_REPLICATE) {
        /* Pipelining: assume delivery and move on; a rejection falls back to probing. */
        uint64_t bytes = 0, lasti = ents.v[ents.n - 1].index;
        for (size_t i = 0; i < ents.n; i++) bytes += ents.v[i].len;
        pr->next = lasti + 1;
        rc = pr_infl_add(pr, r->cfg.max_inflight_msgs, lasti, bytes);
    } else if (pr->state == PR_PROBE) {
        /* Probing: one append at a time until the answer says where the logs meet. */
        pr->probe_sent = true;
    }
    raft_entries_free(&ents);
    return rc;
}

int broadcast_append(raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        bool sent;
        int rc = send_append(r, &r->prs[i], true, &sent);
        if (rc) return rc;
    }
    return RAFT_OK;
}

int flush_appends(raft *r)
{
    r->append_pending = false;
    if (r->role != RAFT_LEADER) return RAFT_OK;
    for (size_t i = 0; i < r->n_prs; i++) {
        bool sent;
        int rc = send_append(r, &r->prs[i], false, &sent);
        if (rc) return rc;
    }
    return RAFT_OK;
}

int broadcast_heartbeat(raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_progress *pr = &r->prs[i];
        if (pr->id == r->id) continue;
        raft_msg *m = send_msg(r, pr->id, RAFT_MSG_HEARTBEAT);
        if (!m) return RAFT_ERR_NOMEM;
        /* Only what the follower is known to hold: its log past match may still conflict,
         * so a larger commit could make it commit an entry it must later remove. */
        m->commit = pr->match < r->log.committed ? pr->match : r->log.committed;
        m->read_seq = r->read_seq;
    }
    return RAFT_OK;
}

static uint64_t match_of(const raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return r->prs[i].match;
    return 0;
}

int maybe_commit(raft *r, bool *advanced)
{
    *advanced = false;
    uint64_t mci = conf_committed(&r->conf, match_of, r);
    if (mci == UINT64_MAX || mci <= r->log.committed) return RAFT_OK;
    uint64_t t = log_term_or_zero(&r->log, mci);
    /* "A leader [may] conclude that an entry from a previous term is committed only [by]
     * replicating an entry from its current term" (Figure 8): count replicas of
     * current-term entries only; older ones commit with them. */
    if (t != r->term && !(r->cfg.faults & RAFT_FAULT_COMMIT_OLD_TERM)) {
        rlog(r, RAFT_LOG_DEBUG,
             "%llu not committing %llu: its term %llu is not the current "
             "term %llu",
             ID(r->id), ID(mci), ID(t), ID(r->term));
        return RAFT_OK;
    }
    int rc = commit_to(r, mci);
    if (rc) return rc;
    *advanced = true;
    rlog(r, RAFT_LOG_DEBUG, "%llu committed up to %llu", ID(r->id), ID(mci));
    return read_on_commit_in_term(r);
}

static int reply_append(raft *r, raft_id to, uint64_t index)
{
    raft_msg *m = send_msg(r, to, RAFT_MSG_APP_RESP);
    if (!m) return RAFT_ERR_NOMEM;
    m->index = index;
    return RAFT_OK;
}

int handle_append(raft *r, const raft_msg *m)
{
    if (m->index < r->log.committed) {
        /* Everything up to our commit is settled; tell the leader where we are. */
        return reply_append(r, m->from, r->log.committed);
    }
    int rc;
    if (log_match_term(&r->log, m->index, m->log_term)) {
        uint64_t lastnew = m->index + m->n_entries;
        /* "If an existing entry conflicts with a new one (same index but different terms),
         * delete the existing entry and all that follow it": only from the first conflict,
         * so a stale or duplicated append never shortens the log. */
        uint64_t ci = log_find_conflict(&r->log, m->entries, m->n_entries);
        if ((r->cfg.faults & RAFT_FAULT_TRUNCATE_ON_STALE) && m->n_entries &&
            m->index + 1 > r->log.committed)
            ci = m->index + 1;
        if (ci != 0) {
            if (ci <= r->log.committed) {
                rlog(r, RAFT_LOG_ERROR,
                     "%llu: entry %llu conflicts with committed entry "
                     "(commit %llu)",
                     ID(r->id), ID(ci), ID(r->log.committed));
                return RAFT_ERR_CORRUPT;
            }
            const raft_entry *from = &m->entries[ci - m->index - 1];
            rc = log_append(&r->log, from, m->n_entries - (size_t)(ci - m->index - 1));
            if (rc) return rc;
        }
        /* "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of
         * last new entry)." */
        uint64_t c = m->commit < lastnew ? m->commit : lastnew;
        if ((rc = commit_to(r, c))) return rc;
        return reply_append(r, m->from, lastnew);
    }
    /* Reply false if the log doesn't contain an entry at prevLogIndex whose term matches
     * prevLogTerm; the hint lets the leader skip a whole term of mismatching entries. */
    uint64_t last = 0;
    if ((rc = log_last_index(&r->log, &last))) return rc;
    uint64_t hint = m->index < last ? m->index : last;
    hint = log_find_conflict_by_term(&r->log, hint, m->log_term);
    rlog(r, RAFT_LOG_DEBUG,
         "%llu [logterm: %llu, index: %llu] rejected MsgApp [logterm: %llu, "
         "index: %llu] from %llu; hint %llu",
         ID(r->id), ID(log_term_or_zero(&r->log, m->index)), ID(m->index), ID(m->log_term),
         ID(m->index), ID(m->from), ID(hint));
    raft_msg *out = send_msg(r, m->from, RAFT_MSG_APP_RESP);
    if (!out) return RAFT_ERR_NOMEM;
    out->index = m->index;
    out->reject = true;
    out->reject_hint = hint;
    out->log_term = log_term_or_zero(&r->log, hint);
    return RAFT_OK;
}

int handle_heartbeat(raft *r, const raft_msg *m)
{
    int rc = commit_to(r, m->commit);
    if (rc) return rc;
    raft_msg *out = send_msg(r, m->from, RAFT_MSG_HEARTBEAT_RESP);
    if (!out) return RAFT_ERR_NOMEM;
    out->read_seq = m->read_seq;
    return RAFT_OK;
}

int handle_snapshot(raft *r, const raft_msg *m)
{
    const raft_snapshot *s = m->snapshot;
    if (!s) return RAFT_OK;
    const raft_snapshot_meta *meta = &s->meta;
    if (meta->index <= r->log.committed) {
        rlog(r, RAFT_LOG_INFO,
             "%llu ignored snapshot [index: %llu, term: %llu]: not past commit "
             "%llu",
             ID(r->id), ID(meta->index), ID(meta->term), ID(r->log.committed));
        return reply_append(r, m->from, r->log.committed);
    }
    int rc;
    if (log_match_term(&r->log, meta->index, meta->term)) {
        /* We already hold everything the snapshot covers: just commit it. */
        rlog(r, RAFT_LOG_INFO, "%llu fast-forwarded commit to snapshot [index: %llu, term: %llu]",
             ID(r->id), ID(meta->index), ID(meta->term));
        if ((rc = commit_to(r, meta->index))) return rc;
        return reply_append(r, m->from, r->log.committed);
    }
    rlog(r, RAFT_LOG_INFO, "%llu restoring snapshot [index: %llu, term: %llu]", ID(r->id),
         ID(meta->index), ID(meta->term));
    if ((rc = log_restore(&r->log, s))) return rc;
    if ((rc = conf_switch(r, &meta->conf))) return rc;
    return reply_append(r, m->from, meta->index);
}

int handle_append_resp(raft *r, const raft_msg *m)
{
    raft_progress *pr = conf_progress(r, m->from);
    if (!pr) return RAFT_OK;
    pr->recent_active = true;
    int rc;
    bool sent;
    if (m->reject) {
        uint64_t next_probe = m->reject_hint;
        if (m->log_term > 0)
            next_probe = log_find_conflict_by_term(&r->log, m->reject_hint, m->log_term);
        if (!pr_maybe_decr_to(pr, m->index, next_probe)) {
            rlog(r, RAFT_LOG_DEBUG, "%llu ignored stale rejection of %llu from %llu", ID(r->id),
                 ID(m->index), ID(m->from));
            return RAFT_OK;
        }
        rlog(r, RAFT_LOG_DEBUG,
             "%llu received rejection of %llu from %llu (hint %llu/%llu): "
             "probing from %llu",
             ID(r->id), ID(m->index), ID(m->from), ID(m->reject_hint), ID(m->log_term),
             ID(pr->next));
        if (pr->state == PR_REPLICATE) pr_become_probe(pr);
        return send_append(r, pr, true, &sent);
    }
    bool was_paused = pr_is_paused(pr, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes);
    if (!pr_maybe_update(pr, m->index)) return RAFT_OK;
    if (pr->state == PR_PROBE) {
        pr_become_replicate(pr);
    } else if (pr->state == PR_SNAPSHOT && pr->match >= pr->pending_snapshot) {
        rlog(r, RAFT_LOG_INFO,
             "%llu: %llu caught up past snapshot %llu (match %llu): "
             "replicating again",
             ID(r->id), ID(pr->id), ID(pr->pending_snapshot), ID(pr->match));
        pr_become_probe(pr);
        pr_become_replicate(pr);
    } else if (pr->state == PR_REPLICATE) {
        pr_infl_free_le(pr, m->index);
    }
    bool advanced;
    if ((rc = maybe_commit(r, &advanced))) return rc;
    if (r->role != RAFT_LEADER) return RAFT_OK;
    if (advanced) {
        if ((rc = broadcast_append(r))) return rc;
    } else if (was_paused) {
        /* It may have missed the commit index while paused: tell it, even with no entries. */
        if ((rc = send_append(r, pr, true, &sent))) return rc;
    }
    /* Fill the window: several size-limited appends may now fit. */
    for (int k = 0; k < 64; k++) {
        if ((rc = send_append(r, pr, false, &sent))) return rc;
        if (!sent) break;
    }
    uint64_t last = 0;
    if ((rc = log_last_index(&r->log, &last))) return rc;
    if (m->from == r->transferee && pr->match == last) {
        rlog(r, RAFT_LOG_INFO, "%llu sent MsgTimeoutNow to %llu: it caught up at %llu", ID(r->id),
             ID(m->from), ID(last));
        if (!send_msg(r, m->from, RAFT_MSG_TIMEOUT_NOW)) return RAFT_ERR_NOMEM;
    }
    return RAFT_OK;
}

int handle_heartbeat_resp(raft *r, const raft_msg *m)
{
    raft_progress *pr = conf_progress(r, m->from);
    if (!pr) return RAFT_OK;
    pr->recent_active = true;
    pr->probe_sent = false;
    /* A full window may hide lost appends; let one more through to find out. */
    if (pr->state == PR_REPLICATE &&
        pr_is_paused(pr, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes))
        pr_infl_free_first(pr);
    uint64_t last = 0;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    if (pr->match < last) {
        bool sent;
        if ((rc = send_append(r, pr, true, &sent))) return rc;
    }
    if (m->read_seq > pr->read_ack) {
        pr->read_ack = m->read_seq;
        return read_release_acked(r);
    }
    return RAFT_OK;
}
