/* raft_log: the log as the core sees it -- storage's durable entries, overridden by the
 * unstable tail of entries not yet persisted, or replaced by a snapshot being installed. */
#include "raft_internal.h"

#include <stdlib.h>
#include <string.h>

int log_init(raft_log *l, const raft_storage *st)
{
    *l = (raft_log){.st = st};
    uint64_t last;
    int rc = st->last_index(st->ctx, &last);
    if (rc) return rc;
    l->offset = last + 1;
    return RAFT_OK;
}

static void free_unstable(raft_log *l, size_t from)
{
    for (size_t i = from; i < l->n; i++) free(l->ents[i].data);
    l->n = from;
}

void log_free(raft_log *l)
{
    free_unstable(l, 0);
    free(l->ents);
    if (l->snap) raft_snapshot_free(l->snap);
    free(l->snap);
    *l = (raft_log){0};
}

int log_first_index(const raft_log *l, uint64_t *out)
{
    if (l->snap) {
        *out = l->snap->meta.index + 1;
        return RAFT_OK;
    }
    return l->st->first_index(l->st->ctx, out);
}

int log_last_index(const raft_log *l, uint64_t *out)
{
    if (l->n > 0) {
        *out = l->offset + l->n - 1;
        return RAFT_OK;
    }
    if (l->snap) {
        *out = l->snap->meta.index;
        return RAFT_OK;
    }
    return l->st->last_index(l->st->ctx, out);
}

uint64_t log_stable_last(const raft_log *l)
{
    return l->offset - 1;
}

int log_term(const raft_log *l, uint64_t i, uint64_t *term)
{
    if (l->n > 0 && i >= l->offset) {
        if (i >= l->offset + l->n) return RAFT_ERR_UNAVAILABLE;
        *term = l->ents[i - l->offset].term;
        return RAFT_OK;
    }
    if (l->snap) {
        if (i == l->snap->meta.index) {
            *term = l->snap->meta.term;
            return RAFT_OK;
        }
        return i < l->snap->meta.index ? RAFT_ERR_COMPACTED : RAFT_ERR_UNAVAILABLE;
    }
    if (i >= l->offset) return RAFT_ERR_UNAVAILABLE;
    return l->st->term(l->st->ctx, i, term);
}

uint64_t log_term_or_zero(const raft_log *l, uint64_t i)
{
    uint64_t t;
    return log_term(l, i, &t) == RAFT_OK ? t : 0;
}

bool log_match_term(const raft_log *l, uint64_t i, uint64_t term)
{
    uint64_t t;
    return log_term(l, i, &t) == RAFT_OK && t == term;
}

int log_entries(const raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes, raft_entries *out)
{
    uint64_t first, last;
    int rc = log_first_index(l, &first);
    if (rc) return rc;
    if (lo < first) return RAFT_ERR_COMPACTED;
    if ((rc = log_last_index(l, &last))) return rc;
    if (hi > last + 1) return RAFT_ERR_UNAVAILABLE;
    if (lo >= hi) return RAFT_OK;
    size_t start = out->n;
    if (lo < l->offset) {
        uint64_t shi = hi < l->offset ? hi : l->offset;
        rc = l->st->entries(l->st->ctx, lo, shi, max_bytes, out);
        if (rc) return rc;
        uint64_t got = out->n - start;
        if (got == 0) return RAFT_ERR_STORAGE;
        if (got < shi - lo) return RAFT_OK; /* storage stopped at max_bytes */
        lo = shi;
    }
    uint64_t bytes = 0;
    for (size_t k = start; k < out->n; k++) bytes += out->v[k].len;
    for (uint64_t i = lo; i < hi; i++) {
        const raft_entry *e = &l->ents[i - l->offset];
        if (out->n > start && max_bytes && bytes + e->len > max_bytes) break;
        rc = raft_entries_append(out, e->term, e->index, e->type, e->data, e->len);
        if (rc) return rc;
        bytes += e->len;
    }
    return RAFT_OK;
}

int log_append(raft_log *l, const raft_entry *es, size_t n)
{
    if (n == 0) return RAFT_OK;
    uint64_t first = es[0].index;
    if (first <= l->committed) return RAFT_ERR_CORRUPT;
    if (first >= l->offset + l->n + 1) return RAFT_ERR_CORRUPT; /* would leave a gap */
    raft_entry *v =
        raft_grow(l->ents, &l->cap, (first >= l->offset ? first - l->offset : 0) + n, sizeof(*v));
    if (!v) return RAFT_ERR_NOMEM;
    l->ents = v;
    /* Copy the data first so a failed allocation leaves the log as it was. */
    uint8_t **copies = calloc(n, sizeof(*copies));
    if (!copies) return RAFT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!es[i].len) continue;
        copies[i] = malloc(es[i].len);
        if (!copies[i]) {
            for (size_t k = 0; k < i; k++) free(copies[k]);
            free(copies);
            return RAFT_ERR_NOMEM;
        }
        memcpy(copies[i], es[i].data, es[i].len);
    }
    if (first < l->offset) {
        /* Overwrites entries storage already holds: the unstable tail starts over here and
         * the application truncates its log from first when it persists it. */
        free_unstable(l, 0);
        l->offset = first;
    } else {
        free_unstable(l, first - l->offset);
    }
    for (size_t i = 0; i < n; i++) {
        l->ents[l->n] = es[i];
        l->ents[l->n].data = copies[i];
        l->n++;
    }
    free(copies);
    return RAFT_OK;
}

uint64_t log_find_conflict(const raft_log *l, const raft_entry *es, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!log_match_term(l, es[i].index, es[i].term)) return es[i].index;
    return 0;
}

uint64_t log_find_conflict_by_term(const raft_log *l, uint64_t index, uint64_t term)
{
    for (;;) {
        uint64_t t;
        if (log_term(l, index, &t) != RAFT_OK) {
            /* Past the end we know nothing; below the start, the compaction point is the
             * best we can offer. */
            uint64_t last;
            if (log_last_index(l, &last) == RAFT_OK && index > last) {
                index = last;
                continue;
            }
            return index;
        }
        if (t <= term || index == 0) return index;
        index--;
    }
}

bool log_is_up_to_date(const raft_log *l, uint64_t last_index, uint64_t last_term)
{
    /* "If the logs have last entries with different terms, then the log with the later term
     * is more up-to-date. If the logs end with the same term, then whichever log is longer
     * is more up-to-date." */
    uint64_t my_last = 0;
    log_last_index(l, &my_last);
    uint64_t my_term = log_term_or_zero(l, my_last);
    return last_term > my_term || (last_term == my_term && last_index >= my_last);
}

int log_restore(raft_log *l, const raft_snapshot *snap)
{
    raft_snapshot *copy = malloc(sizeof(*copy));
    if (!copy) return RAFT_ERR_NOMEM;
    *copy = *snap;
    copy->data = NULL;
    if (snap->len) {
        copy->data = malloc(snap->len);
        if (!copy->data) {
            free(copy);
            return RAFT_ERR_NOMEM;
        }
        memcpy(copy->data, snap->data, snap->len);
    }
    if (l->snap) raft_snapshot_free(l->snap);
    free(l->snap);
    free_unstable(l, 0);
    l->snap = copy;
    l->offset = snap->meta.index + 1;
    l->committed = snap->meta.index;
    return RAFT_OK;
}

void log_stable_all(raft_log *l)
{
    if (l->snap) {
        raft_snapshot_free(l->snap);
        free(l->snap);
        l->snap = NULL;
    }
    l->offset += l->n;
    free_unstable(l, 0);
}
