/* raft_progress: the leader's flow control toward one member (probe / replicate / snapshot)
 * and its window of unacknowledged appends, bounded by count and bytes. */
#include "raft_internal.h"

#include <stdlib.h>

void pr_reset(raft_progress *pr, raft_id id, uint64_t next, bool learner)
{
    uint64_t *ii = pr->infl_index, *ib = pr->infl_bytes;
    uint32_t cap = pr->infl_cap;
    *pr = (raft_progress){.id = id, .next = next, .learner = learner, .state = PR_PROBE};
    pr->infl_index = ii;
    pr->infl_bytes = ib;
    pr->infl_cap = cap;
}

void pr_free(raft_progress *pr)
{
    free(pr->infl_index);
    free(pr->infl_bytes);
    pr->infl_index = pr->infl_bytes = NULL;
    pr->infl_cap = pr->infl_count = pr->infl_start = 0;
}

void pr_infl_reset(raft_progress *pr)
{
    pr->infl_start = pr->infl_count = 0;
    pr->infl_total_bytes = 0;
}

void pr_become_probe(raft_progress *pr)
{
    /* After a snapshot the member holds at least the snapshot, so probing resumes after
     * it rather than at match + 1 (which could be far behind and compacted). */
    if (pr->state == PR_SNAPSHOT) {
        uint64_t ps = pr->pending_snapshot;
        pr->next = (pr->match + 1 > ps + 1) ? pr->match + 1 : ps + 1;
    } else {
        pr->next = pr->match + 1;
    }
    pr->state = PR_PROBE;
    pr->pending_snapshot = 0;
    pr->probe_sent = false;
    pr_infl_reset(pr);
}

void pr_become_replicate(raft_progress *pr)
{
    pr->state = PR_REPLICATE;
    pr->next = pr->match + 1;
    pr->pending_snapshot = 0;
    pr->probe_sent = false;
    pr_infl_reset(pr);
}

void pr_become_snapshot(raft_progress *pr, uint64_t index)
{
    pr_infl_reset(pr);
    pr->state = PR_SNAPSHOT;
    pr->pending_snapshot = index;
    pr->probe_sent = false;
}

bool pr_maybe_update(raft_progress *pr, uint64_t n)
{
    bool updated = false;
    if (pr->match < n) {
        pr->match = n;
        updated = true;
        pr->probe_sent = false;
    }
    if (pr->next < n + 1) pr->next = n + 1;
    return updated;
}

bool pr_maybe_decr_to(raft_progress *pr, uint64_t rejected, uint64_t match_hint)
{
    if (pr->state == PR_REPLICATE) {
        /* A rejection of an index at or below match is stale: it was sent before an
         * append that has since been acknowledged. */
        if (rejected <= pr->match) return false;
        pr->next = pr->match + 1;
        return true;
    }
    /* In probe only the latest probe (at next - 1) counts; older rejections are stale. */
    if (pr->next == 0 || pr->next - 1 != rejected) return false;
    uint64_t next = rejected < match_hint + 1 ? rejected : match_hint + 1;
    if (next < pr->match + 1) next = pr->match + 1;
    if (next < 1) next = 1;
    pr->next = next;
    pr->probe_sent = false;
    return true;
}

bool pr_is_paused(const raft_progress *pr, uint32_t max_msgs, uint64_t max_bytes)
{
    switch (pr->state) {
    case PR_PROBE:
        return pr->probe_sent;
    case PR_REPLICATE:
        return pr->infl_count >= max_msgs || (max_bytes && pr->infl_total_bytes >= max_bytes);
    default:
        return true;
    }
}

int pr_infl_add(raft_progress *pr, uint32_t max_msgs, uint64_t index, uint64_t bytes)
{
    if (pr->infl_count >= pr->infl_cap && pr->infl_cap < max_msgs) {
        /* Grow the ring (doubling, up to the window), unrolling it so the oldest entry sits
         * at 0: a large window costs memory only when it is used. */
        uint32_t ncap = pr->infl_cap ? pr->infl_cap * 2 : 16;
        if (ncap > max_msgs || ncap < pr->infl_cap) ncap = max_msgs;
        uint64_t *ni = malloc(sizeof(uint64_t) * ncap);
        uint64_t *nb = malloc(sizeof(uint64_t) * ncap);
        if (!ni || !nb) {
            free(ni);
            free(nb);
            return RAFT_ERR_NOMEM;
        }
        for (uint32_t k = 0; k < pr->infl_count; k++) {
            uint32_t at = (pr->infl_start + k) % pr->infl_cap;
            ni[k] = pr->infl_index[at];
            nb[k] = pr->infl_bytes[at];
        }
        free(pr->infl_index);
        free(pr->infl_bytes);
        pr->infl_index = ni;
        pr->infl_bytes = nb;
        pr->infl_cap = ncap;
        pr->infl_start = 0;
    }
    if (pr->infl_count >= pr->infl_cap) return RAFT_ERR_CORRUPT;
    uint32_t at = (pr->infl_start + pr->infl_count) % pr->infl_cap;
    pr->infl_index[at] = index;
    pr->infl_bytes[at] = bytes;
    pr->infl_count++;
    pr->infl_total_bytes += bytes;
    return RAFT_OK;
}

void pr_infl_free_le(raft_progress *pr, uint64_t index)
{
    while (pr->infl_count > 0 && pr->infl_index[pr->infl_start] <= index) pr_infl_free_first(pr);
}

void pr_infl_free_first(raft_progress *pr)
{
    if (pr->infl_count == 0) return;
    pr->infl_total_bytes -= pr->infl_bytes[pr->infl_start];
    pr->infl_start = (pr->infl_start + 1) % pr->infl_cap;
    pr->infl_count--;
}
