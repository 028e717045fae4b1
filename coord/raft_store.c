#include "raft_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct raft_store {
    raft_storage view;
    storage *st;
    raft_hard_state hs;
    raft_snapshot_meta snap;
    uint64_t compact_index, compact_term; /* first_index - 1 and its term */
    uint64_t last_index;                  /* compact_index when the log is empty */
    /* What the last stage will make true once written. */
    uint64_t staged_last;
    raft_hard_state staged_hs;
    bool staged_has_hs;
    raft_store_snapshot_fn snapshot_fn;
    void *snapshot_arg;
};

static const char HS_KEY[] = "hs";
static const char SNAP_KEY[] = "snap";
static const char COMPACT_KEY[] = "compact";

enum { ENTRY_HDR = 9 };

static int get_meta(raft_store *rs, const char *key, char **val, size_t *len)
{
    char *err = NULL;
    *val = rocksdb_get_cf(rs->st->db, rs->st->ro, rs->st->cf[STORAGE_CF_RAFTMETA], key, strlen(key),
                          len, &err);
    if (err) {
        fprintf(stderr, "coord: reading raft %s: %s\n", key, err);
        free(err);
        return -1;
    }
    return 0;
}

/* conf state: u32 counts then be64 ids, voters, outgoing voters, learners. */
static size_t conf_encode(const raft_conf_state *c, uint8_t *out)
{
    uint8_t *p = out;
    const uint32_t counts[3] = {c->n_voters, c->n_voters_outgoing, c->n_learners};
    const raft_id *lists[3] = {c->voters, c->voters_outgoing, c->learners};
    for (int k = 0; k < 3; k++) {
        *p++ = (uint8_t)counts[k];
        for (uint32_t i = 0; i < counts[k]; i++, p += 8) be64_put(p, lists[k][i]);
    }
    return (size_t)(p - out);
}

static int conf_decode(const uint8_t *p, size_t len, raft_conf_state *c)
{
    memset(c, 0, sizeof(*c));
    uint32_t *counts[3] = {&c->n_voters, &c->n_voters_outgoing, &c->n_learners};
    raft_id *lists[3] = {c->voters, c->voters_outgoing, c->learners};
    const uint8_t *end = p + len;
    for (int k = 0; k < 3; k++) {
        if (p >= end) return -1;
        uint32_t n = *p++;
        if (n > RAFT_MAX_NODES || (size_t)(end - p) < n * 8u) return -1;
        *counts[k] = n;
        for (uint32_t i = 0; i < n; i++, p += 8) lists[k][i] = be64_get(p);
    }
    return 0;
}

static int load(raft_store *rs)
{
    char *v;
    size_t len;
    if (get_meta(rs, HS_KEY, &v, &len)) return -1;
    if (v && len == 24) {
        rs->hs.term = be64_get((uint8_t *)v);
        rs->hs.vote = be64_get((uint8_t *)v + 8);
        rs->hs.commit = be64_get((uint8_t *)v + 16);
    }
    free(v);
    if (get_meta(rs, SNAP_KEY, &v, &len)) return -1;
    if (v && len >= 16) {
        rs->snap.index = be64_get((uint8_t *)v);
        rs->snap.term = be64_get((uint8_t *)v + 8);
        if (conf_decode((uint8_t *)v + 16, len - 16, &rs->snap.conf) != 0) {
            free(v);
            fprintf(stderr, "coord: the raft snapshot point is corrupt\n");
            return -1;
        }
    }
    free(v);
    if (get_meta(rs, COMPACT_KEY, &v, &len)) return -1;
    if (v && len == 16) {
        rs->compact_index = be64_get((uint8_t *)v);
        rs->compact_term = be64_get((uint8_t *)v + 8);
    }
    free(v);
    rs->last_index = rs->compact_index;
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(rs->st->db, rs->st->ro, rs->st->cf[STORAGE_CF_RAFTLOG]);
    rocksdb_iter_seek_to_last(it);
    if (rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == 8) rs->last_index = be64_get((const uint8_t *)k);
    }
    rocksdb_iter_destroy(it);
    if (rs->last_index < rs->compact_index) rs->last_index = rs->compact_index;
    return 0;
}

static int st_initial_state(void *ctx, raft_hard_state *hs, raft_snapshot_meta *snap)
{
    raft_store *rs = ctx;
    *hs = rs->hs;
    *snap = rs->snap;
    return RAFT_OK;
}

static int st_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes, raft_entries *out)
{
    raft_store *rs = ctx;
    if (lo <= rs->compact_index) return RAFT_ERR_COMPACTED;
    if (hi > rs->last_index + 1) return RAFT_ERR_UNAVAILABLE;
    if (lo >= hi) return RAFT_OK;
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(rs->st->db, rs->st->ro, rs->st->cf[STORAGE_CF_RAFTLOG]);
    uint8_t k[8];
    be64_put(k, lo);
    uint64_t want = lo, bytes = 0;
    int rc = RAFT_OK;
    for (rocksdb_iter_seek(it, (const char *)k, 8); want < hi; rocksdb_iter_next(it), want++) {
        size_t kl, vl;
        if (!rocksdb_iter_valid(it)) {
            rc = RAFT_ERR_STORAGE;
            break;
        }
        const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (kl != 8 || be64_get(key) != want || vl < ENTRY_HDR) {
            fprintf(stderr, "coord: raft log entry %llu is missing or corrupt\n",
                    (unsigned long long)want);
            rc = RAFT_ERR_STORAGE;
            break;
        }
        uint64_t dlen = vl - ENTRY_HDR;
        if (want > lo && max_bytes && bytes + dlen > max_bytes) break;
        rc = raft_entries_append(out, be64_get(val), want, val[8], val + ENTRY_HDR, dlen);
        if (rc) break;
        bytes += dlen;
    }
    rocksdb_iter_destroy(it);
    return rc;
}

static int st_term(void *ctx, uint64_t i, uint64_t *term)
{
    raft_store *rs = ctx;
    if (i < rs->compact_index) return RAFT_ERR_COMPACTED;
    if (i > rs->last_index) return RAFT_ERR_UNAVAILABLE;
    if (i == rs->compact_index) {
        *term = rs->compact_term;
        return RAFT_OK;
    }
    uint8_t k[8];
    be64_put(k, i);
    size_t vl;
    char *err = NULL;
    char *v = rocksdb_get_cf(rs->st->db, rs->st->ro, rs->st->cf[STORAGE_CF_RAFTLOG],
                             (const char *)k, 8, &vl, &err);
    if (err || !v || vl < ENTRY_HDR) {
        free(err);
        free(v);
        return RAFT_ERR_STORAGE;
    }
    *term = be64_get((uint8_t *)v);
    free(v);
    return RAFT_OK;
}

static int st_first_index(void *ctx, uint64_t *index)
{
    *index = ((raft_store *)ctx)->compact_index + 1;
    return RAFT_OK;
}

static int st_last_index(void *ctx, uint64_t *index)
{
    *index = ((raft_store *)ctx)->last_index;
    return RAFT_OK;
}

static int st_snapshot(void *ctx, raft_snapshot *out)
{
    raft_store *rs = ctx;
    if (!rs->snapshot_fn || rs->snap.index == 0) return RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE;
    memset(out, 0, sizeof(*out));
    out->meta = rs->snap;
    return rs->snapshot_fn(rs->snapshot_arg, &rs->snap, out);
}

void raft_store_set_snapshot_source(raft_store *rs, raft_store_snapshot_fn fn, void *arg)
{
    rs->snapshot_fn = fn;
    rs->snapshot_arg = arg;
}

int raft_store_open(storage *st, raft_store **out)
{
    raft_store *rs = calloc(1, sizeof(*rs));
    if (!rs) return -1;
    rs->st = st;
    if (load(rs) != 0) {
        free(rs);
        return -1;
    }
    rs->view = (raft_storage){.ctx = rs,
                              .initial_state = st_initial_state,
                              .entries = st_entries,
                              .term = st_term,
                              .first_index = st_first_index,
                              .last_index = st_last_index,
                              .snapshot = st_snapshot};
    rs->staged_last = rs->last_index;
    *out = rs;
    return 0;
}

void raft_store_close(raft_store *rs)
{
    free(rs);
}

const raft_storage *raft_store_view(raft_store *rs)
{
    return &rs->view;
}

int raft_store_stage(raft_store *rs, rocksdb_writebatch_t *b, const struct raft_ready *rd)
{
    rocksdb_column_family_handle_t *cf = rs->st->cf[STORAGE_CF_RAFTLOG];
    rs->staged_last = rs->last_index;
    if (rd->n_entries) {
        uint64_t first = rd->entries[0].index;
        for (size_t i = 0; i < rd->n_entries; i++) {
            const raft_entry *e = &rd->entries[i];
            uint8_t k[8];
            be64_put(k, e->index);
            uint8_t hdr[ENTRY_HDR];
            be64_put(hdr, e->term);
            hdr[8] = e->type;
            /* Two slices, one value: no copy of the entry's data. */
            const char *parts[2] = {(const char *)hdr, (const char *)e->data};
            size_t lens[2] = {ENTRY_HDR, e->len};
            rocksdb_writebatch_putv_cf(b, cf, 1, (const char *const[]){(const char *)k},
                                       (const size_t[]){8}, e->len ? 2 : 1, parts, lens);
        }
        uint64_t new_last = rd->entries[rd->n_entries - 1].index;
        /* A conflicting suffix the leader replaced: everything after the new last goes. */
        if (rs->last_index > new_last) {
            uint8_t lo[8], hi[8];
            be64_put(lo, new_last + 1);
            be64_put(hi, rs->last_index + 1);
            rocksdb_writebatch_delete_range_cf(b, cf, (const char *)lo, 8, (const char *)hi, 8);
        }
        (void)first;
        rs->staged_last = new_last;
    }
    rs->staged_has_hs = rd->has_hard_state;
    if (rd->has_hard_state) {
        uint8_t v[24];
        be64_put(v, rd->hard_state.term);
        be64_put(v + 8, rd->hard_state.vote);
        be64_put(v + 16, rd->hard_state.commit);
        rocksdb_writebatch_put_cf(b, rs->st->cf[STORAGE_CF_RAFTMETA], HS_KEY, strlen(HS_KEY),
                                  (const char *)v, sizeof(v));
        rs->staged_hs = rd->hard_state;
    }
    return 0;
}

void raft_store_staged_written(raft_store *rs)
{
    rs->last_index = rs->staged_last;
    if (rs->staged_has_hs) rs->hs = rs->staged_hs;
    rs->staged_has_hs = false;
}

int raft_store_compact(raft_store *rs, rocksdb_writebatch_t *b, const raft_snapshot_meta *meta,
                       uint64_t keep)
{
    uint8_t v[16 + 3 + 3 * RAFT_MAX_NODES * 8];
    be64_put(v, meta->index);
    be64_put(v + 8, meta->term);
    size_t n = 16 + conf_encode(&meta->conf, v + 16);
    rocksdb_writebatch_put_cf(b, rs->st->cf[STORAGE_CF_RAFTMETA], SNAP_KEY, strlen(SNAP_KEY),
                              (const char *)v, n);
    rs->snap = *meta;
    if (meta->index <= keep || meta->index - keep <= rs->compact_index) return 0;
    uint64_t point = meta->index - keep;
    uint64_t term;
    if (st_term(rs, point, &term) != RAFT_OK) return -1;
    uint8_t lo[8], hi[8], c[16];
    be64_put(lo, 0);
    be64_put(hi, point + 1);
    rocksdb_writebatch_delete_range_cf(b, rs->st->cf[STORAGE_CF_RAFTLOG], (const char *)lo, 8,
                                       (const char *)hi, 8);
    be64_put(c, point);
    be64_put(c + 8, term);
    rocksdb_writebatch_put_cf(b, rs->st->cf[STORAGE_CF_RAFTMETA], COMPACT_KEY, strlen(COMPACT_KEY),
                              (const char *)c, sizeof(c));
    rs->compact_index = point;
    rs->compact_term = term;
    return 0;
}

int raft_store_stage_snapshot(raft_store *rs, rocksdb_writebatch_t *b,
                              const raft_snapshot_meta *meta)
{
    uint8_t v[16 + 3 + 3 * RAFT_MAX_NODES * 8];
    be64_put(v, meta->index);
    be64_put(v + 8, meta->term);
    size_t n = 16 + conf_encode(&meta->conf, v + 16);
    rocksdb_writebatch_put_cf(b, rs->st->cf[STORAGE_CF_RAFTMETA], SNAP_KEY, strlen(SNAP_KEY),
                              (const char *)v, n);
    /* The whole log goes: the snapshot replaces it, and the compaction point is the
     * snapshot's last entry. */
    uint8_t lo[8], hi[8], c[16];
    be64_put(lo, 0);
    be64_put(hi, UINT64_MAX);
    rocksdb_writebatch_delete_range_cf(b, rs->st->cf[STORAGE_CF_RAFTLOG], (const char *)lo, 8,
                                       (const char *)hi, 8);
    be64_put(c, meta->index);
    be64_put(c + 8, meta->term);
    rocksdb_writebatch_put_cf(b, rs->st->cf[STORAGE_CF_RAFTMETA], COMPACT_KEY, strlen(COMPACT_KEY),
                              (const char *)c, sizeof(c));
    rs->snap = *meta;
    rs->compact_index = meta->index;
    rs->compact_term = meta->term;
    rs->last_index = meta->index;
    rs->staged_last = meta->index;
    return 0;
}

uint64_t raft_store_first_index(raft_store *rs)
{
    return rs->compact_index + 1;
}

uint64_t raft_store_last_index(raft_store *rs)
{
    return rs->last_index;
}
