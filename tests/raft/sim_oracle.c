/* sim_oracle: what the simulator checks after every step (see sim.c for the list), and the
 * seeded helpers both halves use. */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
bool chance(sim *s, double p)
{
    return (double)(rnd(s) >> 11) / 9007199254740992.0 < p;
}
uint64_t below(sim *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

void fail(sim *s, const char *fmt, ...)
{
    if (s->failed) return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    int off = snprintf(s->failure, sizeof(s->failure), "tick %" PRIu64 ": ", s->now);
    vsnprintf(s->failure + off, sizeof(s->failure) - (size_t)off, fmt, ap);
    va_end(ap);
}

void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *np = realloc(p, n * elem);
    if (!np) abort();
    memset((char *)np + *cap * elem, 0, (n - *cap) * elem);
    *cap = n;
    return np;
}

uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

uint64_t entry_hash(const raft_entry *e)
{
    uint64_t h = mix(e->type + 1, e->len);
    for (uint32_t i = 0; i < e->len; i++) h = mix(h, e->data[i]);
    return h;
}

snode *node(sim *s, raft_id id)
{
    for (int i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].id == id) return &s->nodes[i];
    return NULL;
}

void tracef(sim *s, const char *fmt, ...)
{
    if (!s->trace) return;
    va_list ap;
    va_start(ap, fmt);
    printf("[%4" PRIu64 "] ", s->now);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ------------------------------------------------------------------ oracle ------------ */

static reg_entry *reg_slot(sim *s, uint64_t index, uint64_t term)
{
    if ((s->n_reg + 1) * 2 > s->cap_reg) {
        size_t ncap = s->cap_reg ? s->cap_reg * 2 : 1024;
        reg_entry *old = s->reg;
        size_t ocap = s->cap_reg;
        s->reg = calloc(ncap, sizeof(reg_entry));
        if (!s->reg) abort();
        s->cap_reg = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!old[i].index) continue;
            size_t h = (size_t)(mix(old[i].index, old[i].term) & (ncap - 1));
            while (s->reg[h].index) h = (h + 1) & (ncap - 1);
            s->reg[h] = old[i];
        }
        free(old);
    }
    size_t h = (size_t)(mix(index, term) & (s->cap_reg - 1));
    while (s->reg[h].index && !(s->reg[h].index == index && s->reg[h].term == term))
        h = (h + 1) & (s->cap_reg - 1);
    return &s->reg[h];
}

/* Log matching: two entries with the same index and term hold the same data and follow an
 * entry of the same term (which, by induction, makes the whole prefixes identical). */
void check_new_entries(sim *s, snode *n, const raft_entry *es, size_t cnt)
{
    uint64_t prev_term = 0;
    if (cnt && es[0].index > 1) {
        const raft_storage *st = raft_memstore_storage(n->ms);
        if (st->term(st->ctx, es[0].index - 1, &prev_term) != RAFT_OK) {
            fail(s, "node %" PRIu64 " appended %" PRIu64 " with no entry before it", n->id,
                 es[0].index);
            return;
        }
    }
    for (size_t i = 0; i < cnt; i++) {
        const raft_entry *e = &es[i];
        uint64_t h = entry_hash(e);
        reg_entry *slot = reg_slot(s, e->index, e->term);
        if (!slot->index) {
            *slot = (reg_entry){e->index, e->term, h, prev_term};
            s->n_reg++;
        } else if (slot->hash != h || slot->prev_term != prev_term) {
            fail(s, "log matching: node %" PRIu64 " has a different entry at %" PRIu64 "/%" PRIu64,
                 n->id, e->term, e->index);
        }
        prev_term = e->term;
    }
}

uint64_t stored_term(snode *n, uint64_t i, bool *ok)
{
    const raft_storage *st = raft_memstore_storage(n->ms);
    uint64_t t = 0;
    *ok = st->term(st->ctx, i, &t) == RAFT_OK;
    return t;
}

/* No committed entry is ever removed by a leader that should have it. A node that never
 * learned an entry was committed may lose its copy to a stale leader (of a term before the
 * commit) -- Raft allows that, the entry lives on in the majority that committed it -- but
 * an overwrite by an entry of a term after the commit means a later leader lacked it.
 * commit_term[i] is an upper bound of the term it was committed in (the smallest term of a
 * node applying it, at that moment). */
void check_truncation(sim *s, snode *n, const raft_entry *es, size_t cnt)
{
    const raft_storage *st = raft_memstore_storage(n->ms);
    uint64_t last = 0;
    st->last_index(st->ctx, &last);
    for (uint64_t i = es[0].index; i <= last && i <= s->max_committed; i++) {
        bool ok;
        uint64_t old = stored_term(n, i, &ok);
        if (!ok || !s->cterm[i] || old != s->cterm[i]) continue;
        uint64_t nt = i - es[0].index < cnt ? es[i - es[0].index].term : UINT64_MAX;
        if (nt != old && nt > s->commit_term[i]) {
            fail(s, "node %" PRIu64 " removed committed entry %" PRIu64 " (term %" PRIu64 ")",
                 n->id, i, old);
            return;
        }
    }
}

void check_leader(sim *s, snode *n)
{
    raft_status st;
    raft_status_get(n->r, &st);
    if (st.soft.role != RAFT_LEADER) {
        n->lead_term = 0;
        return;
    }
    uint64_t term = st.hard_state.term;
    s->leader_of_term = grow(s->leader_of_term, &s->cap_terms, term + 1, sizeof(uint64_t));
    if (s->leader_of_term[term] && s->leader_of_term[term] != n->id) {
        fail(s, "election safety: %" PRIu64 " and %" PRIu64 " both lead term %" PRIu64,
             s->leader_of_term[term], n->id, term);
        return;
    }
    bool ok;
    if (!s->leader_of_term[term]) {
        s->leader_of_term[term] = n->id;
        s->stat_elections++;
        tracef(s, "node %" PRIu64 " leads term %" PRIu64, n->id, term);
        /* Leader completeness: every committed entry is in the new leader's log. */
        uint64_t first = st.first_index;
        for (uint64_t i = first; i <= s->max_committed; i++) {
            if (!s->cterm[i]) continue;
            uint64_t t = stored_term(n, i, &ok);
            if (!ok || t != s->cterm[i]) {
                fail(s,
                     "leader completeness: leader %" PRIu64 " of term %" PRIu64
                     " lacks committed entry %" PRIu64,
                     n->id, term, i);
                return;
            }
        }
    } else if (n->lead_term == term) {
        /* Leader append-only: what it had, it still has. */
        uint64_t t = stored_term(n, n->lead_last, &ok);
        if (st.last_index < n->lead_last || (ok && t != n->lead_last_term) ||
            (!ok && n->lead_last >= st.first_index))
            fail(s, "leader append-only: leader %" PRIu64 " lost entry %" PRIu64, n->id,
                 n->lead_last);
    }
    /* What it has persisted (an entry appended by raft_advance is still in flight). */
    const raft_storage *ms = raft_memstore_storage(n->ms);
    uint64_t last = 0;
    ms->last_index(ms->ctx, &last);
    n->lead_term = term;
    n->lead_last = last;
    n->lead_last_term = stored_term(n, last, &ok);
}

void sm_restore(smachine *sm, const uint8_t *data, size_t len)
{
    memset(sm, 0, sizeof(*sm));
    if (len == sizeof(*sm)) memcpy(sm, data, len);
}

void check_reads(sim *s, snode *n)
{
    for (size_t i = 0; i < s->n_reads; i++) {
        read_req *q = &s->reads[i];
        if (q->done || q->node != n->id || !q->have_index || n->sm.applied < q->index) continue;
        q->done = true;
        for (uint64_t k = 0; k < q->acked_at_start; k++) {
            uint64_t w = s->acked[k];
            if (!(n->sm.bits[w / 64] & (1ull << (w % 64)))) {
                fail(s,
                     "stale read %zu on node %" PRIu64 " at index %" PRIu64
                     ": misses write %" PRIu64 " acknowledged before it began",
                     i, n->id, q->index, w);
                return;
            }
        }
        s->stat_reads_ok++;
    }
}

void apply_entry(sim *s, snode *n, const raft_entry *e)
{
    if (e->index != n->sm.applied + 1) {
        fail(s, "node %" PRIu64 " applied %" PRIu64 " after %" PRIu64, n->id, e->index,
             n->sm.applied);
        return;
    }
    n->sm.applied = e->index;
    n->sm.hash = mix(mix(n->sm.hash, e->term), entry_hash(e));
    if (e->type == RAFT_ENTRY_NORMAL && e->len == 8) {
        uint64_t w;
        memcpy(&w, e->data, 8);
        if (w < MAX_WRITES) {
            n->sm.bits[w / 64] |= 1ull << (w % 64);
            if (!s->write_acked[w]) {
                s->write_acked[w] = 1;
                s->acked[s->n_acked++] = w;
            }
        }
    }
    /* State machine safety: every node applies the same entry at each index. */
    s->chain = grow(s->chain, &s->cap_chain, e->index + 1, sizeof(uint64_t));
    s->cterm = grow(s->cterm, &s->cap_cterm, e->index + 1, sizeof(uint64_t));
    raft_status st;
    raft_status_get(n->r, &st);
    s->commit_term = grow(s->commit_term, &s->cap_commit_term, e->index + 1, sizeof(uint64_t));
    if (!s->commit_term[e->index] || st.hard_state.term < s->commit_term[e->index])
        s->commit_term[e->index] = st.hard_state.term;
    if (!s->chain[e->index]) {
        s->chain[e->index] = n->sm.hash;
        s->cterm[e->index] = e->term;
        s->stat_commits++;
        if (e->index > s->max_committed) s->max_committed = e->index;
    } else if (s->chain[e->index] != n->sm.hash || s->cterm[e->index] != e->term) {
        fail(s,
             "state machine safety: node %" PRIu64 " applied a different entry at %" PRIu64
             " (term %" PRIu64 ", committed term %" PRIu64 ")",
             n->id, e->index, e->term, s->cterm[e->index]);
    }
}
