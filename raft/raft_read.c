/* raft_read: ReadIndex (dissertation 6.4). The leader records its commit index for a read,
 * confirms it is still leader with a round of heartbeats acknowledged by a quorum, and then
 * answers with that index. Reads that arrive while a round's heartbeats are still in the
 * outbox join that round, so many reads share one round trip. */
#include "raft_internal.h"

#include <stdlib.h>
#include <string.h>

#define ID(x) ((unsigned long long)(x))

void reads_clear(raft *r)
{
    for (size_t i = 0; i < r->n_reads; i++) free(r->reads[i].ctx);
    r->n_reads = 0;
    r->read_seq = 0;
    r->read_round_unsent = false;
}

int read_state_add(raft *r, uint64_t index, const uint8_t *ctx, uint32_t ctx_len)
{
    raft_read_state *v =
        raft_grow(r->read_states, &r->cap_read_states, r->n_read_states + 1, sizeof(*v));
    if (!v) return RAFT_ERR_NOMEM;
    r->read_states = v;
    uint8_t *c = NULL;
    if (ctx_len) {
        c = malloc(ctx_len);
        if (!c) return RAFT_ERR_NOMEM;
        memcpy(c, ctx, ctx_len);
    }
    v[r->n_read_states++] = (raft_read_state){.index = index, .ctx_len = ctx_len, .ctx = c};
    return RAFT_OK;
}

static int answer(raft *r, raft_id from, uint64_t index, const uint8_t *ctx, uint32_t ctx_len)
{
    if (from == r->id) return read_state_add(r, index, ctx, ctx_len);
    raft_msg *m = send_msg(r, from, RAFT_MSG_READ_INDEX_RESP);
    if (!m) return RAFT_ERR_NOMEM;
    m->index = index;
    if (msg_attach(m, NULL, 0, NULL, ctx, ctx_len)) {
        r->n_msgs--;
        return RAFT_ERR_NOMEM;
    }
    return RAFT_OK;
}

static uint64_t read_ack_of(const raft *r, raft_id id)
{
    if (id == r->id) return UINT64_MAX;
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return r->prs[i].read_ack;
    return 0;
}

static bool committed_in_term(const raft *r)
{
    return log_term_or_zero(&r->log, r->log.committed) == r->term;
}

/* Gives every read still waiting for a round the current commit index and a round. */
static int start_round(raft *r)
{
    bool any = false;
    for (size_t i = 0; i < r->n_reads; i++) {
        if (r->reads[i].seq != 0) continue;
        if (!r->read_round_unsent) {
            r->read_seq++;
            r->read_round_unsent = true;
            int rc = broadcast_heartbeat(r);
            if (rc) return rc;
        }
        r->reads[i].seq = r->read_seq;
        r->reads[i].index = r->log.committed;
        any = true;
    }
    /* With a quorum of one (this node), the round is already confirmed. */
    return any ? read_release_acked(r) : RAFT_OK;
}

int read_request(raft *r, raft_id from, const uint8_t *ctx, uint32_t ctx_len)
{
    if (r->cfg.faults & RAFT_FAULT_READ_BEFORE_NOOP)
        return answer(r, from, r->log.committed, ctx, ctx_len);
    raft_read_req *v = raft_grow(r->reads, &r->cap_reads, r->n_reads + 1, sizeof(*v));
    if (!v) return RAFT_ERR_NOMEM;
    r->reads = v;
    uint8_t *c = NULL;
    if (ctx_len) {
        c = malloc(ctx_len);
        if (!c) return RAFT_ERR_NOMEM;
        memcpy(c, ctx, ctx_len);
    }
    v[r->n_reads++] = (raft_read_req){.from = from, .ctx = c, .ctx_len = ctx_len};
    if (!committed_in_term(r)) {
        /* The commit index of a new leader may lag what its predecessor committed until
         * its own no-op commits; answering now could miss acknowledged writes. */
        rlog(r, RAFT_LOG_DEBUG,
             "%llu queued read from %llu: nothing committed in term %llu "
             "yet",
             ID(r->id), ID(from), ID(r->term));
        return RAFT_OK;
    }
    return start_round(r);
}

int read_on_commit_in_term(raft *r)
{
    if (r->role != RAFT_LEADER || !committed_in_term(r) || r->n_reads == 0) return RAFT_OK;
    return start_round(r);
}

int read_release_acked(raft *r)
{
    if (r->role != RAFT_LEADER || r->n_reads == 0) return RAFT_OK;
    uint64_t acked = conf_committed(&r->conf, read_ack_of, r);
    size_t done = 0;
    while (done < r->n_reads && r->reads[done].seq != 0 && r->reads[done].seq <= acked) {
        raft_read_req *q = &r->reads[done];
        rlog(r, RAFT_LOG_DEBUG, "%llu confirmed read for %llu at index %llu (round %llu)",
             ID(r->id), ID(q->from), ID(q->index), ID(q->seq));
        int rc = answer(r, q->from, q->index, q->ctx, q->ctx_len);
        if (rc) {
            memmove(r->reads, r->reads + done, (r->n_reads - done) * sizeof(*r->reads));
            r->n_reads -= done;
            return rc;
        }
        free(q->ctx);
        done++;
    }
    memmove(r->reads, r->reads + done, (r->n_reads - done) * sizeof(*r->reads));
    r->n_reads -= done;
    return RAFT_OK;
}
