/* raft_memstore: raft_storage in memory. ents[0] is a placeholder for the compaction point
 * (its index and term only); the live entries are ents[1..n-1], indexes offset+1.. . */
#include "raft_internal.h"

#include <stdlib.h>
#include <string.h>

struct raft_memstore {
    raft_storage st;
    raft_hard_state hs;
    raft_snapshot snap; /* data owned */
    raft_entry *ents;   /* data owned; ents[0].data is always NULL */
    size_t n;           /* >= 1 */
    size_t cap;
    uint64_t offset; /* index of ents[0] */
};

static int ms_initial_state(void *ctx, raft_hard_state *hs, raft_snapshot_meta *snap)
{
    raft_memstore *ms = ctx;
    *hs = ms->hs;
    *snap = ms->snap.meta;
    return RAFT_OK;
}

static int ms_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes, raft_entries *out)
{
    raft_memstore *ms = ctx;
    if (lo <= ms->offset) return RAFT_ERR_COMPACTED;
    if (hi > ms->offset + ms->n) return RAFT_ERR_UNAVAILABLE;
    uint64_t bytes = 0;
    for (uint64_t i = lo; i < hi; i++) {
        const raft_entry *e = &ms->ents[i - ms->offset];
        if (i > lo && max_bytes && bytes + e->len > max_bytes) break;
        int rc = raft_entries_append(out, e->term, e->index, e->type, e->data, e->len);
        if (rc) return rc;
        bytes += e->len;
    }
    return RAFT_OK;
}

static int ms_term(void *ctx, uint64_t i, uint64_t *term)
{
    raft_memstore *ms = ctx;
    if (i < ms->offset) return RAFT_ERR_COMPACTED;
    if (i >= ms->offset + ms->n) return RAFT_ERR_UNAVAILABLE;
    *term = ms->ents[i - ms->offset].term;
    return RAFT_OK;
}

static int ms_first_index(void *ctx, uint64_t *index)
{
    *index = ((raft_memstore *)ctx)->offset + 1;
    return RAFT_OK;
}

static int ms_last_index(void *ctx, uint64_t *index)
{
    raft_memstore *ms = ctx;
    *index = ms->offset + ms->n - 1;
    return RAFT_OK;
}

static int copy_snapshot(raft_snapshot *dst, const raft_snapshot_meta *meta, const void *data,
                         size_t len)
{
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy) return RAFT_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    free(dst->data);
    dst->meta = *meta;
    dst->data = copy;
    dst->len = len;
    return RAFT_OK;
}

static int ms_snapshot(void *ctx, raft_snapshot *out)
{
    raft_memstore *ms = ctx;
    *out = (raft_snapshot){0};
    return copy_snapshot(out, &ms->snap.meta, ms->snap.data, ms->snap.len);
}

raft_memstore *raft_memstore_new(void)
{
    raft_memstore *ms = calloc(1, sizeof(*ms));
    if (!ms) return NULL;
    ms->ents = calloc(8, sizeof(raft_entry));
    if (!ms->ents) {
        free(ms);
        return NULL;
    }
    ms->cap = 8;
    ms->n = 1;
    ms->st = (raft_storage){
        .ctx = ms,
        .initial_state = ms_initial_state,
        .entries = ms_entries,
        .term = ms_term,
        .first_index = ms_first_index,
        .last_index = ms_last_index,
        .snapshot = ms_snapshot,
    };
    return ms;
}

static void drop_from(raft_memstore *ms, size_t k)
{
    for (size_t i = k; i < ms->n; i++) free(ms->ents[i].data);
    ms->n = k;
}

void raft_memstore_free(raft_memstore *ms)
{
    if (!ms) return;
    drop_from(ms, 0);
    free(ms->ents);
    free(ms->snap.data);
    free(ms);
}

const raft_storage *raft_memstore_storage(raft_memstore *ms)
{
    return &ms->st;
}

int raft_memstore_append(raft_memstore *ms, const raft_entry *es, size_t n)
{
    if (n == 0) return RAFT_OK;
    uint64_t first = es[0].index;
    if (first <= ms->offset || first > ms->offset + ms->n) return RAFT_ERR_INVALID;
    size_t keep = (size_t)(first - ms->offset);
    raft_entry *v = raft_grow(ms->ents, &ms->cap, keep + n, sizeof(*v));
    if (!v) return RAFT_ERR_NOMEM;
    ms->ents = v;
    drop_from(ms, keep);
    for (size_t i = 0; i < n; i++) {
        raft_entry e = es[i];
        if (e.len) {
            e.data = malloc(e.len);
            if (!e.data) return RAFT_ERR_NOMEM;
            memcpy(e.data, es[i].data, e.len);
        } else {
            e.data = NULL;
        }
        ms->ents[ms->n++] = e;
    }
    return RAFT_OK;
}

void raft_memstore_set_hard_state(raft_memstore *ms, const raft_hard_state *hs)
{
    ms->hs = *hs;
}

int raft_memstore_apply_snapshot(raft_memstore *ms, const raft_snapshot *snap)
{
    if (snap->meta.index <= ms->snap.meta.index && ms->snap.meta.index != 0)
        return RAFT_ERR_INVALID;
    int rc = copy_snapshot(&ms->snap, &snap->meta, snap->data, snap->len);
    if (rc) return rc;
    drop_from(ms, 0);
    ms->n = 1;
    ms->offset = snap->meta.index;
    ms->ents[0] = (raft_entry){.index = snap->meta.index, .term = snap->meta.term};
    return RAFT_OK;
}

int raft_memstore_create_snapshot(raft_memstore *ms, const raft_snapshot_meta *meta,
                                  const void *data, size_t len)
{
    if (meta->index <= ms->snap.meta.index || meta->index < ms->offset ||
        meta->index >= ms->offset + ms->n)
        return RAFT_ERR_INVALID;
    if (ms->ents[meta->index - ms->offset].term != meta->term) return RAFT_ERR_INVALID;
    return copy_snapshot(&ms->snap, meta, data, len);
}

int raft_memstore_compact(raft_memstore *ms, uint64_t index)
{
    if (index <= ms->offset) return RAFT_OK;
    if (index > ms->snap.meta.index) return RAFT_ERR_INVALID;
    size_t cut = (size_t)(index - ms->offset);
    for (size_t i = 1; i <= cut; i++) free(ms->ents[i].data);
    ms->ents[0] = (raft_entry){.index = index, .term = ms->ents[cut].term};
    memmove(&ms->ents[1], &ms->ents[cut + 1], (ms->n - cut - 1) * sizeof(raft_entry));
    ms->n -= cut;
    ms->offset = index;
    return RAFT_OK;
}

raft_memstore *raft_memstore_clone(const raft_memstore *ms)
{
    raft_memstore *c = raft_memstore_new();
    if (!c) return NULL;
    c->hs = ms->hs;
    c->offset = ms->offset;
    c->ents[0] = ms->ents[0];
    if (copy_snapshot(&c->snap, &ms->snap.meta, ms->snap.data, ms->snap.len) ||
        raft_memstore_append(c, ms->ents + 1, ms->n - 1)) {
        raft_memstore_free(c);
        return NULL;
    }
    return c;
}
