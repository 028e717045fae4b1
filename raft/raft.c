/* raft: roles, terms and elections, and the dispatch of every incoming message. The rules
 * quoted are from the Raft paper's Figure 2 and the dissertation (chapters 3, 4, 6, 9). */
#include "raft_internal.h"

#include <stdlib.h>
#include <string.h>

#define ID(x) ((unsigned long long)(x))

raft_msg *send_msg(raft *r, raft_id to, int type)
{
    raft_msg *v = raft_grow(r->msgs, &r->cap_msgs, r->n_msgs + 1, sizeof(*v));
    if (!v) return NULL;
    r->msgs = v;
    raft_msg *m = &v[r->n_msgs++];
    *m = (raft_msg){.type = (uint8_t)type, .from = r->id, .to = to, .term = r->term};
    return m;
}

static void randomize_timeout(raft *r)
{
    int e = r->cfg.election_tick;
    r->randomized_timeout = e + (int)(rng_next(&r->rng) % (uint64_t)e);
}

void abort_transfer(raft *r)
{
    r->transferee = RAFT_NONE;
}

bool promotable(const raft *r)
{
    /* A learner, a removed member, or one still installing a snapshot (whose configuration
     * is not yet its own) never starts an election. */
    return conf_is_voter(&r->conf, r->id) && r->log.snap == NULL;
}

static void reset(raft *r, uint64_t term)
{
    if (term != r->term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->lead = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    randomize_timeout(r);
    abort_transfer(r);
    r->n_votes = 0;
    uint64_t last = 0;
    log_last_index(&r->log, &last);
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_progress *pr = &r->prs[i];
        pr_reset(pr, pr->id, last + 1, pr->learner);
        if (pr->id == r->id) pr->match = log_stable_last(&r->log);
    }
    r->pending_conf_index = 0;
    r->append_pending = false;
    reads_clear(r);
}

void become_follower(raft *r, uint64_t term, raft_id lead)
{
    reset(r, term);
    r->role = RAFT_FOLLOWER;
    r->lead = lead;
    rlog(r, RAFT_LOG_INFO, "%llu became follower at term %llu", ID(r->id), ID(r->term));
}

static void become_pre_candidate(raft *r)
{
    /* A pre-candidate forgets its leader (it has timed out on it), but keeps its term and
     * vote: nothing durable changes until a real election. */
    r->role = RAFT_PRE_CANDIDATE;
    r->lead = RAFT_NONE;
    r->n_votes = 0;
    rlog(r, RAFT_LOG_INFO, "%llu became pre-candidate at term %llu", ID(r->id), ID(r->term));
}

static void become_candidate(raft *r)
{
    /* "On conversion to candidate: increment currentTerm, vote for self." */
    reset(r, r->term + 1);
    r->vote = r->id;
    r->role = RAFT_CANDIDATE;
    rlog(r, RAFT_LOG_INFO, "%llu became candidate at term %llu", ID(r->id), ID(r->term));
}

int append_local(raft *r, const raft_entry *es, size_t n, uint64_t *last_out)
{
    uint64_t last;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    raft_entry tmp[64];
    raft_entry *v = n <= 64 ? tmp : malloc(n * sizeof(*v));
    if (!v) return RAFT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = es[i];
        v[i].term = r->term;
        v[i].index = last + 1 + i;
    }
    rc = log_append(&r->log, v, n);
    if (v != tmp) free(v);
    if (rc) return rc;
    if (last_out) *last_out = last + n;
    /* The leader's own copy counts toward commit only once raft_advance says it is
     * durable (see raft_node.c), never here. */
    return RAFT_OK;
}

int become_leader(raft *r)
{
    reset(r, r->term);
    r->role = RAFT_LEADER;
    r->lead = r->id;
    raft_progress *self = conf_progress(r, r->id);
    if (self) {
        pr_become_replicate(self);
        self->match = log_stable_last(&r->log);
        self->next = self->match + 1;
        self->recent_active = true;
    }
    /* "Each leader commit[s] a blank no-op entry into the log at the start of its term":
     * it is what lets the leader learn which entries are committed, and it must commit
     * before ReadIndex answers or a configuration change is accepted. */
    raft_entry noop = {.type = RAFT_ENTRY_NORMAL};
    uint64_t idx = 0;
    int rc = append_local(r, &noop, 1, &idx);
    if (rc) return rc;
    r->pending_conf_index = idx;
    rlog(r, RAFT_LOG_INFO, "%llu became leader at term %llu (no-op at %llu)", ID(r->id),
         ID(r->term), ID(idx));
    return broadcast_append(r);
}

static int vote_of(const raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_votes; i++)
        if (r->vote_ids[i] == id) return r->vote_vals[i];
    return 0;
}

static void record_vote(raft *r, raft_id id, bool granted)
{
    for (size_t i = 0; i < r->n_votes; i++)
        if (r->vote_ids[i] == id) return; /* the first answer counts */
    if (r->n_votes >= RAFT_MAX_NODES) return;
    r->vote_ids[r->n_votes] = id;
    r->vote_vals[r->n_votes] = granted ? 1 : -1;
    r->n_votes++;
}

int campaign(raft *r, bool pre_vote, bool transfer)
{
    if (!promotable(r)) {
        rlog(r, RAFT_LOG_INFO,
             "%llu cannot campaign at term %llu: not a voter or installing "
             "a snapshot",
             ID(r->id), ID(r->term));
        return RAFT_OK;
    }
    uint64_t vote_term;
    int type;
    if (pre_vote) {
        become_pre_candidate(r);
        vote_term = r->term + 1;
        type = RAFT_MSG_PRE_VOTE;
    } else {
        become_candidate(r);
        vote_term = r->term;
        type = RAFT_MSG_VOTE;
    }
    record_vote(r, r->id, true);
    if (conf_vote_result(&r->conf, vote_of, r) == VOTE_WON)
        return pre_vote ? campaign(r, false, transfer) : become_leader(r);
    uint64_t last = 0;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    uint64_t last_term = log_term_or_zero(&r->log, last);
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_id to = r->prs[i].id;
        if (to == r->id || !conf_is_voter(&r->conf, to)) continue;
        rlog(r, RAFT_LOG_INFO, "%llu [logterm: %llu, index: %llu] sent %s to %llu at term %llu",
             ID(r->id), ID(last_term), ID(last), raft_msg_type_name(type), ID(to), ID(vote_term));
        raft_msg *m = send_msg(r, to, type);
        if (!m) return RAFT_ERR_NOMEM;
        m->term = vote_term;
        m->index = last;
        m->log_term = last_term;
        m->transfer = transfer;
    }
    return RAFT_OK;
}

static int handle_vote(raft *r, const raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    /* "If votedFor is null or candidateId, and candidate's log is at least as up-to-date
     * as receiver's log, grant vote." A pre-vote for a later term is granted on the log
     * alone: it changes nothing here. */
    bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->lead == RAFT_NONE) ||
                    (pre && m->term > r->term);
    bool up_to_date = log_is_up_to_date(&r->log, m->index, m->log_term) ||
                      (r->cfg.faults & RAFT_FAULT_VOTE_IGNORES_LOG);
    int resp = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    if (can_vote && up_to_date) {
        rlog(r, RAFT_LOG_INFO, "%llu cast %s for %llu [logterm: %llu, index: %llu] at term %llu",
             ID(r->id), raft_msg_type_name(m->type), ID(m->from), ID(m->log_term), ID(m->index),
             ID(r->term));
        raft_msg *out = send_msg(r, m->from, resp);
        if (!out) return RAFT_ERR_NOMEM;
        /* The answer carries the term asked about, so a pre-candidate counts it. */
        out->term = m->term;
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
        return RAFT_OK;
    }
    rlog(r, RAFT_LOG_INFO,
         "%llu rejected %s from %llu [logterm: %llu, index: %llu] at term "
         "%llu: %s",
         ID(r->id), raft_msg_type_name(m->type), ID(m->from), ID(m->log_term), ID(m->index),
         ID(r->term), can_vote ? "log not up-to-date" : "already voted or has a leader");
    raft_msg *out = send_msg(r, m->from, resp);
    if (!out) return RAFT_ERR_NOMEM;
    out->reject = true;
    return RAFT_OK;
}

static int handle_transfer(raft *r, raft_id target)
{
    raft_progress *pr = conf_progress(r, target);
    if (!pr || pr->learner) {
        rlog(r, RAFT_LOG_INFO, "%llu ignored transfer to %llu: not a voter", ID(r->id), ID(target));
        return RAFT_OK;
    }
    if (target == r->id) {
        rlog(r, RAFT_LOG_INFO, "%llu ignored transfer to itself: already leader", ID(r->id));
        return RAFT_OK;
    }
    if (r->transferee == target) return RAFT_OK;
    if (r->transferee != RAFT_NONE) abort_transfer(r);
    r->transferee = target;
    /* The transfer must finish within one election timeout or it is abandoned. */
    r->election_elapsed = 0;
    uint64_t last = 0;
    int rc = log_last_index(&r->log, &last);
    if (rc) return rc;
    if (pr->match == last) {
        rlog(r, RAFT_LOG_INFO, "%llu sent MsgTimeoutNow to %llu: its log is up to date", ID(r->id),
             ID(target));
        return send_msg(r, target, RAFT_MSG_TIMEOUT_NOW) ? RAFT_OK : RAFT_ERR_NOMEM;
    }
    rlog(r, RAFT_LOG_INFO,
         "%llu transferring leadership to %llu: catching it up first "
         "(match %llu, last %llu)",
         ID(r->id), ID(target), ID(pr->match), ID(last));
    bool sent;
    return send_append(r, pr, true, &sent);
}

int msg_attach(raft_msg *m, const raft_entry *es, uint32_t n, const raft_snapshot *snap,
               const uint8_t *ctx, uint32_t ctx_len)
{
    /* One block per message: [entries][snapshot][ctx][entry data][snapshot data], so the
     * outbox frees a message with one free(m->mem). */
    size_t bytes = ctx_len + (snap ? snap->len : 0);
    for (uint32_t i = 0; i < n; i++) bytes += es[i].len;
    size_t head = n * sizeof(raft_entry) + (snap ? sizeof(raft_snapshot) : 0);
    uint8_t *mem = malloc(head + bytes + 1);
    if (!mem) return RAFT_ERR_NOMEM;
    uint8_t *data = mem + head;
    raft_entry *v = (raft_entry *)mem;
    if (ctx_len) {
        memcpy(data, ctx, ctx_len);
        m->ctx = data;
        m->ctx_len = ctx_len;
        data += ctx_len;
    }
    for (uint32_t i = 0; i < n; i++) {
        v[i] = es[i];
        v[i].data = NULL;
        if (es[i].len) {
            memcpy(data, es[i].data, es[i].len);
            v[i].data = data;
            data += es[i].len;
        }
    }
    if (n) {
        m->entries = v;
        m->n_entries = n;
    }
    if (snap) {
        raft_snapshot *s = (raft_snapshot *)(mem + n * sizeof(raft_entry));
        *s = *snap;
        s->data = NULL;
        if (snap->len) {
            memcpy(data, snap->data, snap->len);
            s->data = data;
        }
        m->snapshot = s;
    }
    m->mem = mem;
    return RAFT_OK;
}

int forward(raft *r, const raft_msg *in, int type)
{
    raft_msg *m = send_msg(r, r->lead, type);
    if (!m) return RAFT_ERR_NOMEM;
    /* Forwarded requests carry no term: they are requests to whoever leads, not claims. */
    m->term = 0;
    m->index = in->index;
    if (msg_attach(m, in->entries, in->n_entries, NULL, in->ctx, in->ctx_len)) {
        r->n_msgs--;
        return RAFT_ERR_NOMEM;
    }
    return RAFT_OK;
}

int propose_entries(raft *r, const raft_entry *es, uint32_t n, uint64_t *last)
{
    if (r->transferee != RAFT_NONE) {
        rlog(r, RAFT_LOG_INFO, "%llu dropped proposal: transferring leadership to %llu", ID(r->id),
             ID(r->transferee));
        return RAFT_ERR_DROPPED;
    }
    if (!conf_progress(r, r->id)) return RAFT_ERR_DROPPED;
    int rc = append_local(r, es, n, last);
    if (rc) return rc;
    /* Sent at the next raft_ready: every proposal until then shares one append per
     * follower (batching), instead of one message per proposal. */
    r->append_pending = true;
    return RAFT_OK;
}

static int step_leader(raft *r, const raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_PROP:
        /* Membership changes only enter through raft_propose_conf_change on the leader. */
        for (uint32_t i = 0; i < m->n_entries; i++)
            if (m->entries[i].type != RAFT_ENTRY_NORMAL) return RAFT_OK;
        if (m->n_entries == 0) return RAFT_OK;
        {
            int rc = propose_entries(r, m->entries, m->n_entries, NULL);
            return rc == RAFT_ERR_DROPPED ? RAFT_OK : rc;
        }
    case RAFT_MSG_READ_INDEX:
        return read_request(r, m->from, m->ctx, m->ctx_len);
    case RAFT_MSG_TRANSFER:
        return handle_transfer(r, m->index);
    case RAFT_MSG_APP_RESP:
        return handle_append_resp(r, m);
    case RAFT_MSG_HEARTBEAT_RESP:
        return handle_heartbeat_resp(r, m);
    default:
        return RAFT_OK;
    }
}

static int step_candidate(raft *r, const raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_APP:
        become_follower(r, m->term, m->from);
        return handle_append(r, m);
    case RAFT_MSG_HEARTBEAT:
        become_follower(r, m->term, m->from);
        return handle_heartbeat(r, m);
    case RAFT_MSG_SNAP:
        become_follower(r, m->term, m->from);
        return handle_snapshot(r, m);
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PRE_VOTE_RESP: {
        bool pre = r->role == RAFT_PRE_CANDIDATE;
        if (pre != (m->type == RAFT_MSG_PRE_VOTE_RESP)) return RAFT_OK;
        record_vote(r, m->from, !m->reject);
        int res = conf_vote_result(&r->conf, vote_of, r);
        rlog(r, RAFT_LOG_INFO, "%llu received %s %s from %llu at term %llu", ID(r->id),
             raft_msg_type_name(m->type), m->reject ? "rejection" : "grant", ID(m->from),
             ID(r->term));
        if (res == VOTE_WON) return pre ? campaign(r, false, false) : become_leader(r);
        if (res == VOTE_LOST) become_follower(r, r->term, RAFT_NONE);
        return RAFT_OK;
    }
    default:
        return RAFT_OK; /* proposals and reads have no leader to go to */
    }
}

static int step_follower(raft *r, const raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_PROP:
    case RAFT_MSG_TRANSFER:
    case RAFT_MSG_READ_INDEX:
        if (r->lead == RAFT_NONE) {
            rlog(r, RAFT_LOG_INFO, "%llu dropped %s from %llu: no leader at term %llu", ID(r->id),
                 raft_msg_type_name(m->type), ID(m->from), ID(r->term));
            return RAFT_OK;
        }
        return forward(r, m, m->type);
    case RAFT_MSG_APP:
        r->election_elapsed = 0;
        r->lead = m->from;
        return handle_append(r, m);
    case RAFT_MSG_HEARTBEAT:
        r->election_elapsed = 0;
        r->lead = m->from;
        return handle_heartbeat(r, m);
    case RAFT_MSG_SNAP:
        r->election_elapsed = 0;
        r->lead = m->from;
        return handle_snapshot(r, m);
    case RAFT_MSG_TIMEOUT_NOW:
        if (!promotable(r)) return RAFT_OK;
        rlog(r, RAFT_LOG_INFO, "%llu received MsgTimeoutNow from %llu: campaigning at once",
             ID(r->id), ID(m->from));
        /* A transfer skips pre-vote: the leader itself asked for this election. */
        return campaign(r, false, true);
    case RAFT_MSG_READ_INDEX_RESP:
        if (m->reject) return RAFT_OK;
        return read_state_add(r, m->index, m->ctx, m->ctx_len);
    default:
        return RAFT_OK;
    }
}

int step_message(raft *r, const raft_msg *m)
{
    if (m->to != r->id || m->from == RAFT_NONE || m->from == r->id) return RAFT_OK;
    bool termless =
        m->type == RAFT_MSG_PROP || m->type == RAFT_MSG_READ_INDEX || m->type == RAFT_MSG_TRANSFER;
    if (!termless && m->term > r->term) {
        if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE) {
            /* With check-quorum a follower that heard from its leader within the minimum
             * election timeout ignores elections: a partitioned or removed member cannot
             * depose a healthy leader. A transfer's campaign is the leader's own wish. */
            bool in_lease = r->cfg.check_quorum && r->lead != RAFT_NONE &&
                            r->election_elapsed < r->cfg.election_tick;
            if (!m->transfer && in_lease) {
                rlog(r, RAFT_LOG_INFO,
                     "%llu ignored %s from %llu at term %llu: lease not "
                     "expired (leader %llu heard %d ticks ago)",
                     ID(r->id), raft_msg_type_name(m->type), ID(m->from), ID(m->term), ID(r->lead),
                     r->election_elapsed);
                return RAFT_OK;
            }
        }
        if (m->type == RAFT_MSG_PRE_VOTE) {
            /* Never change term on a pre-vote. */
        } else if (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject) {
            /* A granted pre-vote is at the term we would campaign at. */
        } else {
            rlog(r, RAFT_LOG_INFO, "%llu received %s from %llu with higher term %llu > %llu",
                 ID(r->id), raft_msg_type_name(m->type), ID(m->from), ID(m->term), ID(r->term));
            /* "If RPC request or response contains term T > currentTerm: set currentTerm
             * = T, convert to follower." */
            bool from_leader = m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
                               m->type == RAFT_MSG_SNAP;
            become_follower(r, m->term, from_leader ? m->from : RAFT_NONE);
        }
    } else if (!termless && m->term < r->term) {
        if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
            (m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_APP)) {
            /* A stale leader (say, back from a partition) would otherwise never learn the
             * new term if we ignore it, and with check-quorum or pre-vote it might never
             * be told by an election either. */
            rlog(r, RAFT_LOG_INFO, "%llu answered stale %s from %llu at term %llu with term %llu",
                 ID(r->id), raft_msg_type_name(m->type), ID(m->from), ID(m->term), ID(r->term));
            return send_msg(r, m->from, RAFT_MSG_APP_RESP) ? RAFT_OK : RAFT_ERR_NOMEM;
        }
        if (m->type == RAFT_MSG_PRE_VOTE) {
            /* Reject with our term so a pre-candidate stuck at a lower term catches up
             * instead of retrying forever (the pre-vote + check-quorum deadlock). */
            rlog(r, RAFT_LOG_INFO, "%llu rejected MsgPreVote from %llu at lower term %llu",
                 ID(r->id), ID(m->from), ID(m->term));
            raft_msg *out = send_msg(r, m->from, RAFT_MSG_PRE_VOTE_RESP);
            if (!out) return RAFT_ERR_NOMEM;
            out->reject = true;
            return RAFT_OK;
        }
        rlog(r, RAFT_LOG_DEBUG, "%llu ignored %s from %llu at lower term %llu", ID(r->id),
             raft_msg_type_name(m->type), ID(m->from), ID(m->term));
        return RAFT_OK;
    }
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE) return handle_vote(r, m);
    switch (r->role) {
    case RAFT_LEADER:
        return step_leader(r, m);
    case RAFT_FOLLOWER:
        return step_follower(r, m);
    default:
        return step_candidate(r, m);
    }
}

static int quorum_active_vote(const raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return r->prs[i].recent_active ? 1 : -1;
    return -1;
}

int tick(raft *r)
{
    if (r->role != RAFT_LEADER) {
        r->election_elapsed++;
        if (promotable(r) && r->election_elapsed >= r->randomized_timeout) {
            r->election_elapsed = 0;
            rlog(r, RAFT_LOG_INFO, "%llu election timeout at term %llu", ID(r->id), ID(r->term));
            return campaign(r, r->cfg.pre_vote, false);
        }
        return RAFT_OK;
    }
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->cfg.election_tick) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum) {
            raft_progress *self = conf_progress(r, r->id);
            if (self) self->recent_active = true;
            if (conf_vote_result(&r->conf, quorum_active_vote, r) != VOTE_WON) {
                rlog(r, RAFT_LOG_INFO,
                     "%llu stepped down at term %llu: no quorum active "
                     "within an election timeout",
                     ID(r->id), ID(r->term));
                become_follower(r, r->term, RAFT_NONE);
                return RAFT_OK;
            }
            for (size_t i = 0; i < r->n_prs; i++)
                if (r->prs[i].id != r->id) r->prs[i].recent_active = false;
        }
        if (r->transferee != RAFT_NONE) {
            rlog(r, RAFT_LOG_INFO,
                 "%llu abandoned transfer to %llu: it took an election "
                 "timeout",
                 ID(r->id), ID(r->transferee));
            abort_transfer(r);
        }
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_tick) {
        r->heartbeat_elapsed = 0;
        return broadcast_heartbeat(r);
    }
    return RAFT_OK;
}

int transfer_leader(raft *r, raft_id target)
{
    return handle_transfer(r, target);
}
