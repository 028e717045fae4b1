/* snapshot_store: checkpoints as snapshots, and installing them. Contract in snapshot_store.h. */
#include "snapshot_store.h"

#include "mvcc.h"
#include "raft_store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MARKER_KEY[] = "snapshot_install";
static const uint8_t NAME_MAGIC[4] = {'C', 'S', 'N', 'P'};
enum { NAME_VERSION = 1, DEFAULT_BATCH_BYTES = 4 << 20 };

/* What a snapshot carries: whole column families of the state machine, and the state machine's
 * keys that live in raftmeta beside the member's own (an exact key k is the range [k, k"\0")).
 * A key added to raftmeta by the state machine must be listed here to travel. */
typedef struct part {
    enum storage_cf cf;
    const char *lo, *hi; /* NULL: the whole column family */
    size_t lo_len, hi_len;
} part;

static const part PARTS[] = {
    {STORAGE_CF_KV, NULL, NULL, 0, 0},
    {STORAGE_CF_CHANGES, NULL, NULL, 0, 0},
    {STORAGE_CF_META, NULL, NULL, 0, 0},
    {STORAGE_CF_LEASE, NULL, NULL, 0, 0},
    {STORAGE_CF_RAFTMETA, "members", "members\0", 7, 8}, /* membership.h: the member list */
    {STORAGE_CF_RAFTMETA, "attr/", "attr0", 5, 5},       /* members.h: published attributes */
};

static int fail(char **err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(err, fmt, ap) < 0) *err = NULL;
        va_end(ap);
    }
    return -1;
}

/* ---- names ---- */

void snapshot_name_encode(const snapshot_name *n, uint8_t out[SNAPSHOT_DATA_LEN])
{
    memcpy(out, NAME_MAGIC, 4);
    out[4] = NAME_VERSION;
    be64_put(out + 5, n->index);
    be64_put(out + 13, n->token);
}

int snapshot_name_decode(const uint8_t *data, size_t len, snapshot_name *out)
{
    if (!data || len != SNAPSHOT_DATA_LEN || memcmp(data, NAME_MAGIC, 4) != 0 ||
        data[4] != NAME_VERSION)
        return -1;
    out->index = be64_get(data + 5);
    out->token = be64_get(data + 13);
    return 0;
}

void snapshot_name_format(const snapshot_name *n, char out[SNAPSHOT_NAME_MAX])
{
    snprintf(out, SNAPSHOT_NAME_MAX, "%" PRIu64 "-%016" PRIx64, n->index, n->token);
}

/* ---- taking ---- */

int snapshot_read_meta(const char *dir, raft_snapshot_meta *meta, char **err)
{
    storage *cs;
    char *oerr = NULL;
    if (storage_open_read_only(dir, &cs, &oerr) != 0) {
        fail(err, "opening the checkpoint %s: %s", dir, oerr ? oerr : "?");
        free(oerr);
        return -1;
    }
    int rc = -1;
    mvcc *kv;
    if (mvcc_open(cs, &kv) != MVCC_OK) {
        fail(err, "reading the applied index of %s", dir);
        goto done_close_storage;
    }
    uint64_t applied = mvcc_applied_index(kv);
    mvcc_close(kv);
    raft_store *rs;
    if (raft_store_open(cs, &rs) != 0) {
        fail(err, "reading the raft log of %s", dir);
        goto done_close_storage;
    }
    /* A Raft core started on the checkpoint as on a restart: it takes the snapshot point's
     * configuration and replays the configuration changes of its log up to `applied` — the
     * same code, the same answer, rather than a second copy of the membership rules. It only
     * reads; it is freed at once. Its own ID does not enter the metadata. */
    raft_config cfg;
    raft_config_init(&cfg);
    cfg.id = UINT64_MAX;
    cfg.storage = raft_store_view(rs);
    cfg.applied = applied;
    raft *r;
    int rrc = raft_new(&cfg, &r);
    if (rrc != RAFT_OK) {
        fail(err, "the raft state of %s does not hold its applied index %" PRIu64 ": %s", dir,
             applied, raft_strerror(rrc));
        goto done_close_raft_store;
    }
    rrc = raft_snapshot_point(r, meta);
    raft_free(r);
    if (rrc != RAFT_OK) {
        fail(err, "no term for index %" PRIu64 " in %s: %s", applied, dir, raft_strerror(rrc));
        goto done_close_raft_store;
    }
    rc = 0;
done_close_raft_store:
    raft_store_close(rs);
done_close_storage:
    storage_close(cs);
    return rc;
}

int snapshot_checkpoint(storage *live, const char *dir, raft_snapshot_meta *meta, char **err)
{
    char *e = NULL;
    rocksdb_checkpoint_t *ck = rocksdb_checkpoint_object_create(live->db, &e);
    if (e) {
        fail(err, "checkpoint: %s", e);
        free(e);
        return -1;
    }
    /* log_size_for_flush 0: memtables are flushed first, so the WAL copied is short. */
    rocksdb_checkpoint_create(ck, dir, 0, &e);
    rocksdb_checkpoint_object_destroy(ck);
    if (e) {
        fail(err, "checkpoint into %s: %s", dir, e);
        free(e);
        return -1;
    }
    return snapshot_read_meta(dir, meta, err);
}

/* ---- the marker: be64 index, be64 term, conf, u8 relative, be16 length, directory ---- */

static size_t conf_put(const raft_conf_state *c, uint8_t *p)
{
    uint8_t *start = p;
    const uint32_t counts[3] = {c->n_voters, c->n_voters_outgoing, c->n_learners};
    const raft_id *lists[3] = {c->voters, c->voters_outgoing, c->learners};
    for (int k = 0; k < 3; k++) {
        *p++ = (uint8_t)counts[k];
        for (uint32_t i = 0; i < counts[k]; i++, p += 8) be64_put(p, lists[k][i]);
    }
    return (size_t)(p - start);
}

static const uint8_t *conf_get(const uint8_t *p, const uint8_t *end, raft_conf_state *c)
{
    memset(c, 0, sizeof(*c));
    uint32_t *counts[3] = {&c->n_voters, &c->n_voters_outgoing, &c->n_learners};
    raft_id *lists[3] = {c->voters, c->voters_outgoing, c->learners};
    for (int k = 0; k < 3; k++) {
        if (p >= end) return NULL;
        uint32_t n = *p++;
        if (n > RAFT_MAX_NODES || (size_t)(end - p) < n * 8u) return NULL;
        *counts[k] = n;
        for (uint32_t i = 0; i < n; i++, p += 8) lists[k][i] = be64_get(p);
    }
    return p;
}

/* The directory is kept relative to the database's when it lies inside it, so a data dir
 * given as a relative path, or moved whole, still finds it. */
static int marker_put(storage *live, const raft_snapshot_meta *meta, const char *dir, char **err)
{
    size_t dlen = strlen(live->dir);
    bool relative = strncmp(dir, live->dir, dlen) == 0 && dir[dlen] == '/';
    const char *stored = relative ? dir + dlen + 1 : dir;
    size_t slen = strlen(stored);
    if (slen > UINT16_MAX) return fail(err, "snapshot directory name too long");
    uint8_t *v = malloc(16 + 3 + 3 * RAFT_MAX_NODES * 8 + 3 + slen);
    if (!v) return fail(err, "out of memory");
    be64_put(v, meta->index);
    be64_put(v + 8, meta->term);
    size_t n = 16 + conf_put(&meta->conf, v + 16);
    v[n++] = relative;
    v[n++] = (uint8_t)(slen >> 8);
    v[n++] = (uint8_t)slen;
    memcpy(v + n, stored, slen);
    n += slen;
    char *e = NULL;
    rocksdb_put_cf(live->db, live->sync_wo, live->cf[STORAGE_CF_RAFTMETA], MARKER_KEY,
                   strlen(MARKER_KEY), (const char *)v, n, &e);
    free(v);
    if (e) {
        fail(err, "writing the install marker: %s", e);
        free(e);
        return -1;
    }
    return 0;
}

/* *found = 0 when there is no marker; else meta and a malloc'd *dir. */
static int marker_get(storage *live, raft_snapshot_meta *meta, char **dir, int *found, char **err)
{
    *found = 0;
    char *e = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(live->db, live->ro, live->cf[STORAGE_CF_RAFTMETA], MARKER_KEY,
                             strlen(MARKER_KEY), &len, &e);
    if (e) {
        fail(err, "reading the install marker: %s", e);
        free(e);
        return -1;
    }
    if (!v) return 0;
    const uint8_t *p = (const uint8_t *)v, *end = p + len;
    int rc = -1;
    if (len < 16) goto done_free;
    memset(meta, 0, sizeof(*meta));
    meta->index = be64_get(p);
    meta->term = be64_get(p + 8);
    p = conf_get(p + 16, end, &meta->conf);
    if (!p || end - p < 3) goto done_free;
    bool relative = p[0] != 0;
    size_t slen = ((size_t)p[1] << 8) | p[2];
    p += 3;
    if ((size_t)(end - p) != slen) goto done_free;
    size_t dlen = relative ? strlen(live->dir) + 1 : 0;
    *dir = malloc(dlen + slen + 1);
    if (!*dir) {
        free(v);
        return fail(err, "out of memory");
    }
    if (relative) {
        strcpy(*dir, live->dir);
        (*dir)[dlen - 1] = '/';
    }
    memcpy(*dir + dlen, p, slen);
    (*dir)[dlen + slen] = '\0';
    *found = 1;
    rc = 0;
done_free:
    free(v);
    if (rc != 0) fail(err, "the snapshot install marker is corrupt");
    return rc;
}

/* ---- copying ---- */

typedef struct copier {
    storage *live, *src;
    const snapshot_install_opts *o;
    size_t batch_bytes;
    rocksdb_writebatch_t *b;
    size_t pending; /* bytes of keys and values in b */
    snapshot_install_stats stats;
    char **err;
} copier;

static int flush_batch(copier *c)
{
    char *e = NULL;
    rocksdb_write(c->live->db, c->live->nosync_wo, c->b, &e);
    rocksdb_writebatch_clear(c->b);
    c->pending = 0;
    if (e) {
        fail(c->err, "writing the snapshot: %s", e);
        free(e);
        return -1;
    }
    c->stats.batches++;
    if (c->o && c->o->after_batch && c->o->after_batch(c->o->arg, c->stats.batches) != 0)
        return fail(c->err, "stopped after batch %zu", c->stats.batches);
    return 0;
}

/* Deletes the part from the live database (into the batch). A whole column family has no
 * upper bound a key could not pass, so its range ends at its own last key, deleted alone. */
static int delete_live(copier *c, const part *pt)
{
    rocksdb_column_family_handle_t *cf = c->live->cf[pt->cf];
    if (pt->lo) {
        rocksdb_writebatch_delete_range_cf(c->b, cf, pt->lo, pt->lo_len, pt->hi, pt->hi_len);
        return 0;
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(c->live->db, c->live->ro, cf);
    rocksdb_iter_seek_to_last(it);
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen > 0) rocksdb_writebatch_delete_range_cf(c->b, cf, "", 0, k, klen);
        rocksdb_writebatch_delete_cf(c->b, cf, k, klen);
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (e) {
        fail(c->err, "reading the live state: %s", e);
        free(e);
        return -1;
    }
    return 0;
}

static int copy_part(copier *c, const part *pt)
{
    if (delete_live(c, pt) != 0) return -1;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (pt->lo) {
        rocksdb_readoptions_set_iterate_lower_bound(ro, pt->lo, pt->lo_len);
        rocksdb_readoptions_set_iterate_upper_bound(ro, pt->hi, pt->hi_len);
    }
    /* The checkpoint is read once, front to back: keep its blocks out of the shared cache. */
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(c->src->db, ro, c->src->cf[pt->cf]);
    int rc = 0;
    rocksdb_column_family_handle_t *dst = c->live->cf[pt->cf];
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        rocksdb_writebatch_put_cf(c->b, dst, k, kl, v, vl);
        c->pending += kl + vl;
        c->stats.keys++;
        c->stats.bytes += kl + vl;
        if (c->pending >= c->batch_bytes && (rc = flush_batch(c)) != 0) break;
    }
    char *e = NULL;
    if (rc == 0) rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (e) {
        fail(c->err, "reading the checkpoint: %s", e);
        free(e);
        return -1;
    }
    return rc;
}

/* Steps 2 and 3 of the install, from an open checkpoint. */
static int copy_and_finish(storage *live, storage *src, rocksdb_writebatch_t *raft_batch,
                           const snapshot_install_opts *o, snapshot_install_stats *stats,
                           char **err)
{
    copier c = {.live = live, .src = src, .o = o, .err = err};
    c.batch_bytes = o && o->batch_bytes ? o->batch_bytes : DEFAULT_BATCH_BYTES;
    c.b = rocksdb_writebatch_create();
    int rc = 0;
    for (size_t i = 0; i < sizeof(PARTS) / sizeof(PARTS[0]) && rc == 0; i++)
        rc = copy_part(&c, &PARTS[i]);
    if (rc == 0 && rocksdb_writebatch_count(c.b) > 0) rc = flush_batch(&c);
    rocksdb_writebatch_destroy(c.b);
    if (rc != 0) return -1;

    rocksdb_writebatch_delete_cf(raft_batch, live->cf[STORAGE_CF_RAFTMETA], MARKER_KEY,
                                 strlen(MARKER_KEY));
    char *e = NULL;
    rocksdb_write(live->db, live->sync_wo, raft_batch, &e);
    if (e) {
        fail(err, "completing the snapshot install: %s", e);
        free(e);
        return -1;
    }
    if (stats) *stats = c.stats;
    /* The whole new state went through the memtables: flush them now, which frees their memory
     * (tens of MiB at 100,000 keys) and the WAL that covers them. Best effort: the data is
     * durable either way. */
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (size_t i = 0; i < sizeof(PARTS) / sizeof(PARTS[0]); i++) {
        if (i > 0 && PARTS[i].cf == PARTS[i - 1].cf) continue;
        rocksdb_flush_cf(live->db, fo, live->cf[PARTS[i].cf], &e);
        free(e);
        e = NULL;
    }
    rocksdb_flushoptions_destroy(fo);
    return 0;
}

static int open_checked(const char *dir, uint64_t index, storage **src, char **err)
{
    char *oerr = NULL;
    if (storage_open_read_only(dir, src, &oerr) != 0) {
        fail(err, "opening the snapshot %s: %s", dir, oerr ? oerr : "?");
        free(oerr);
        return -1;
    }
    mvcc *kv;
    if (mvcc_open(*src, &kv) != MVCC_OK) {
        storage_close(*src);
        return fail(err, "reading the applied index of the snapshot %s", dir);
    }
    uint64_t applied = mvcc_applied_index(kv);
    mvcc_close(kv);
    if (applied != index) {
        storage_close(*src);
        return fail(err, "the snapshot %s holds index %" PRIu64 ", not %" PRIu64, dir, applied,
                    index);
    }
    return 0;
}

int snapshot_install(storage *live, const char *dir, const raft_snapshot_meta *meta,
                     rocksdb_writebatch_t *raft_batch, const snapshot_install_opts *o,
                     snapshot_install_stats *stats, char **err)
{
    storage *src;
    if (open_checked(dir, meta->index, &src, err) != 0) return -1;
    int rc = marker_put(live, meta, dir, err);
    if (rc == 0) rc = copy_and_finish(live, src, raft_batch, o, stats, err);
    storage_close(src);
    return rc;
}

int snapshot_recover(storage *live, const snapshot_install_opts *o, snapshot_recovery *out,
                     char **err)
{
    memset(out, 0, sizeof(*out));
    char *dir = NULL;
    int found;
    if (marker_get(live, &out->meta, &dir, &found, err) != 0) return -1;
    if (!found) return 0;
    storage *src;
    if (open_checked(dir, out->meta.index, &src, err) != 0) {
        free(dir);
        return -1;
    }
    int rc = -1;
    raft_store *rs;
    if (raft_store_open(live, &rs) != 0) {
        fail(err, "reading the raft state");
        goto done_close_src;
    }
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    if (raft_store_stage_snapshot(rs, b, &out->meta) != 0)
        fail(err, "preparing the log reset");
    else
        rc = copy_and_finish(live, src, b, o, &out->stats, err);
    rocksdb_writebatch_destroy(b);
    raft_store_close(rs);
done_close_src:
    storage_close(src);
    if (rc == 0) {
        out->redone = true;
        out->dir = dir;
    } else {
        free(dir);
    }
    return rc;
}
