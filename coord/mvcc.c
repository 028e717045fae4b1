/* mvcc: transactions, ranges and writes of the multi-version store (contract in mvcc.h).
 *
 * Layout (mvcc_key.h): every version of a key is its own RocksDB entry in the kv column family,
 * keyed escape(K) ‖ 0x00 0x01 ‖ be64(MAX − revision), so the versions of a key are adjacent
 * and newest first. Why this shape:
 *  - "K as of R" is one seek to (K, MAX − R): the first entry at or after it is the newest
 *    version <= R, or another key (K had none).
 *  - A range at the current revision is mostly Next() calls: the iterator lands on each key's
 *    newest version, which is the one wanted unless the key changed after R (then one seek).
 *    Older versions are stepped over with up to two Next() calls, then one seek past the key,
 *    so uncompacted history costs at most a seek per key, never a walk through it.
 *  - Nothing is held in memory per key; a restart reads four numbers from the meta CF.
 * The revision is in the key rather than only in the value so that history, compaction and
 * "as of R" need no separate index; the cost is 10 bytes per version (terminator + revision)
 * and a key with a 0x00 byte needs one more byte per 0x00.
 * The sub-revision is not in the kv key: etcd forbids changing one key twice in a txn
 * (DuplicateKey), and should it happen anyway the later write simply replaces the earlier one
 * at the same revision (the change records still list both).
 *
 * Concurrency: one writer (write_lock), any number of readers. A reader takes the published
 * revision and a RocksDB snapshot under `lock`; the writer writes its batch first and publishes
 * the revision afterwards, so every snapshot holds at least its revision's data (newer data it
 * may also hold is invisible: every read seeks "as of" the txn's revision).
 *
 * A write txn collects its writes in a WriteBatchWithIndex; its reads go through an iterator
 * over the batch merged with the DB (read-your-writes). No iterator over the batch outlives a
 * write to it: delete_range collects the keys first and writes after.
 */
#include "mvcc_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- cursor ---------------------------------------------------------------------------- */

int mvcc_cursor_open(mvcc_txn *t, enum storage_cf cf, const uint8_t *lower, size_t lower_len,
                     const uint8_t *upper, size_t upper_len, mvcc_cursor *c)
{
    storage *st = t->m->st;
    memset(c, 0, sizeof(*c));
    if (mvcc_buf_append(&c->lower, lower, lower_len) != 0 ||
        mvcc_buf_append(&c->upper, upper, upper_len) != 0)
        goto fail_free_bufs;
    c->ro = rocksdb_readoptions_create();
    if (t->snap) rocksdb_readoptions_set_snapshot(c->ro, t->snap);
    if (lower_len)
        rocksdb_readoptions_set_iterate_lower_bound(c->ro, (const char *)c->lower.p, lower_len);
    if (upper_len)
        rocksdb_readoptions_set_iterate_upper_bound(c->ro, (const char *)c->upper.p, upper_len);
    rocksdb_iterator_t *base = rocksdb_create_iterator_cf(st->db, c->ro, st->cf[cf]);
    if (t->batch && rocksdb_writebatch_wi_count(t->batch) > 0) /* takes over base */
        c->it = rocksdb_writebatch_wi_create_iterator_with_base_cf(t->batch, base, st->cf[cf]);
    else
        c->it = base;
    return 0;

fail_free_bufs:
    mvcc_buf_free(&c->lower);
    mvcc_buf_free(&c->upper);
    return MVCC_ERR_NOMEM;
}

void mvcc_cursor_close(mvcc_cursor *c)
{
    if (c->it) rocksdb_iter_destroy(c->it);
    if (c->ro) rocksdb_readoptions_destroy(c->ro);
    mvcc_buf_free(&c->lower);
    mvcc_buf_free(&c->upper);
    mvcc_buf_free(&c->prefix);
    c->it = NULL;
    c->ro = NULL;
}

void mvcc_cursor_seek(mvcc_cursor *c, const uint8_t *k, size_t n)
{
    c->seeks++;
    rocksdb_iter_seek(c->it, (const char *)k, n);
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;
    if (r != 0) return r;
    return an < bn ? -1 : an > bn;
}

bool mvcc_cursor_valid(mvcc_cursor *c)
{
    if (!rocksdb_iter_valid(c->it)) return false;
    if (c->upper.len == 0) return true;
    size_t n;
    const uint8_t *k = mvcc_cursor_key(c, &n);
    return bytes_cmp(k, n, c->upper.p, c->upper.len) < 0;
}

const uint8_t *mvcc_cursor_key(mvcc_cursor *c, size_t *len)
{
    return (const uint8_t *)rocksdb_iter_key(c->it, len);
}

const uint8_t *mvcc_cursor_value(mvcc_cursor *c, size_t *len)
{
    return (const uint8_t *)rocksdb_iter_value(c->it, len);
}

int mvcc_cursor_error(mvcc_cursor *c)
{
    char *err = NULL;
    rocksdb_iter_get_error(c->it, &err);
    if (!err) return 0;
    rocksdb_free(err);
    return MVCC_ERR_IO;
}

/* The cursor stands on a version whose prefix is c->prefix (c->prefix.len bytes). */
static bool cursor_on_prefix(mvcc_cursor *c, size_t plen)
{
    if (!mvcc_cursor_valid(c)) return false;
    size_t n;
    const uint8_t *k = mvcc_cursor_key(c, &n);
    return mvcc_key_valid(n) && mvcc_key_prefix_len(n) == plen && memcmp(k, c->prefix.p, plen) == 0;
}

int mvcc_cursor_settle(mvcc_cursor *c, int64_t at)
{
    size_t n;
    const uint8_t *k = mvcc_cursor_key(c, &n);
    if (!mvcc_key_valid(n)) return MVCC_ERR_IO;
    if (mvcc_key_rev(k, n) <= at) return 1;
    size_t plen = mvcc_key_prefix_len(n);
    c->prefix.len = 0;
    if (mvcc_buf_reserve(&c->prefix, plen + MVCC_KEY_REV_BYTES) != 0) return MVCC_ERR_NOMEM;
    memcpy(c->prefix.p, k, plen);
    be64_put(c->prefix.p + plen, UINT64_MAX - (uint64_t)at);
    c->prefix.len = plen + MVCC_KEY_REV_BYTES;
    mvcc_cursor_seek(c, c->prefix.p, c->prefix.len);
    return cursor_on_prefix(c, plen) ? 1 : 0;
}

/* Stepping with Next() is far cheaper than a seek; a key rarely has more than one or two
 * versions left between compactions, so try that first. */
#define SKIP_NEXT_TRIES 2

int mvcc_cursor_skip_key(mvcc_cursor *c)
{
    size_t n;
    const uint8_t *k = mvcc_cursor_key(c, &n);
    if (!mvcc_key_valid(n)) return MVCC_ERR_IO;
    size_t plen = mvcc_key_prefix_len(n);
    c->prefix.len = 0;
    if (mvcc_buf_append(&c->prefix, k, plen) != 0) return MVCC_ERR_NOMEM;
    for (int i = 0; i < SKIP_NEXT_TRIES; i++) {
        rocksdb_iter_next(c->it);
        if (!cursor_on_prefix(c, plen)) return 0;
    }
    c->prefix.p[plen - 1] = 0x02; /* terminator 0x00 0x01 -> 0x00 0x02: past every version */
    mvcc_cursor_seek(c, c->prefix.p, plen);
    return 0;
}

/* ---- store ----------------------------------------------------------------------------- */

static int read_meta(storage *st, const char *key, uint64_t dflt, uint64_t *val)
{
    int found = 0;
    if (storage_get_u64(st, STORAGE_CF_META, key, val, &found) != 0) return MVCC_ERR_IO;
    if (!found) *val = dflt;
    return 0;
}

int mvcc_open(storage *st, mvcc **out)
{
    uint64_t rev, compacted, done, applied;
    if (read_meta(st, MVCC_META_REV, 1, &rev) != 0 ||
        read_meta(st, MVCC_META_COMPACTED, 0, &compacted) != 0 ||
        read_meta(st, MVCC_META_COMPACT_DONE, 0, &done) != 0 ||
        read_meta(st, MVCC_META_APPLIED, 0, &applied) != 0)
        return MVCC_ERR_IO;
    mvcc *m = calloc(1, sizeof(*m));
    if (!m) return MVCC_ERR_NOMEM;
    m->st = st;
    m->current_rev = (int64_t)rev;
    m->compacted_rev = (int64_t)compacted;
    m->compact_done = (int64_t)done;
    m->applied_index = applied;
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->write_lock, NULL);
    pthread_mutex_init(&m->compact_lock, NULL);
    *out = m;
    return 0;
}

void mvcc_close(mvcc *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->compact_lock);
    pthread_mutex_destroy(&m->write_lock);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void mvcc_pause(mvcc *m)
{
    /* The writer's order (write_lock, then lock) and physical compaction's (compact_lock, then
     * lock): a commit or a compaction in flight finishes first, and no compaction deletes from
     * the contents being put in place. */
    pthread_mutex_lock(&m->write_lock);
    pthread_mutex_lock(&m->compact_lock);
    pthread_mutex_lock(&m->lock);
}

int mvcc_resume(mvcc *m)
{
    uint64_t rev, compacted, done, applied;
    int rc = MVCC_OK;
    if (read_meta(m->st, MVCC_META_REV, 1, &rev) != 0 ||
        read_meta(m->st, MVCC_META_COMPACTED, 0, &compacted) != 0 ||
        read_meta(m->st, MVCC_META_COMPACT_DONE, 0, &done) != 0 ||
        read_meta(m->st, MVCC_META_APPLIED, 0, &applied) != 0) {
        rc = MVCC_ERR_IO;
    } else {
        m->current_rev = (int64_t)rev;
        m->compacted_rev = (int64_t)compacted;
        m->compact_done = (int64_t)done;
        m->applied_index = applied;
    }
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&m->compact_lock);
    pthread_mutex_unlock(&m->write_lock);
    return rc;
}

int64_t mvcc_current_rev(mvcc *m)
{
    pthread_mutex_lock(&m->lock);
    int64_t v = m->current_rev;
    pthread_mutex_unlock(&m->lock);
    return v;
}

int64_t mvcc_compacted_rev(mvcc *m)
{
    pthread_mutex_lock(&m->lock);
    int64_t v = m->compacted_rev;
    pthread_mutex_unlock(&m->lock);
    return v;
}

int64_t mvcc_compact_done_rev(mvcc *m)
{
    pthread_mutex_lock(&m->lock);
    int64_t v = m->compact_done;
    pthread_mutex_unlock(&m->lock);
    return v;
}

uint64_t mvcc_applied_index(mvcc *m)
{
    pthread_mutex_lock(&m->lock);
    uint64_t v = m->applied_index;
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* ---- transactions ---------------------------------------------------------------------- */

int mvcc_read_begin(mvcc *m, mvcc_txn **out)
{
    mvcc_txn *t = calloc(1, sizeof(*t));
    if (!t) return MVCC_ERR_NOMEM;
    t->m = m;
    t->ro = rocksdb_readoptions_create();
    pthread_mutex_lock(&m->lock);
    t->rev = m->current_rev;
    t->compacted = m->compacted_rev;
    t->snap = rocksdb_create_snapshot(m->st->db);
    pthread_mutex_unlock(&m->lock);
    rocksdb_readoptions_set_snapshot(t->ro, t->snap);
    *out = t;
    return 0;
}

int mvcc_write_begin(mvcc *m, mvcc_txn **out)
{
    mvcc_txn *t = calloc(1, sizeof(*t));
    if (!t) return MVCC_ERR_NOMEM;
    pthread_mutex_lock(&m->write_lock);
    t->m = m;
    t->write = true;
    t->ro = rocksdb_readoptions_create();
    t->batch = rocksdb_writebatch_wi_create(0, 1);
    pthread_mutex_lock(&m->lock);
    t->rev = m->current_rev;
    t->compacted = m->compacted_rev;
    pthread_mutex_unlock(&m->lock);
    *out = t;
    return 0;
}

int64_t mvcc_txn_rev(mvcc_txn *t)
{
    return t->rev;
}

void mvcc_txn_end(mvcc_txn *t)
{
    if (!t) return;
    mvcc *m = t->m;
    if (t->point_it) rocksdb_iter_destroy(t->point_it);
    if (t->batch) rocksdb_writebatch_wi_destroy(t->batch);
    if (t->snap) rocksdb_release_snapshot(m->st->db, t->snap);
    rocksdb_readoptions_destroy(t->ro);
    mvcc_buf_free(&t->point_key);
    mvcc_buf_free(&t->point_val);
    mvcc_buf_free(&t->scratch);
    mvcc_buf_free(&t->scratch2);
    mvcc_buf_free(&t->rec);
    mvcc_buf_free(&t->user_key);
    bool write = t->write;
    free(t);
    if (write) pthread_mutex_unlock(&m->write_lock);
}

/* The revision a write txn's own changes carry once committed (or would, if it had any). */
static int64_t txn_visible_rev(mvcc_txn *t)
{
    return t->write && t->sub > 0 ? t->rev + 1 : t->rev;
}

int mvcc_txn_read_rev(mvcc_txn *t, int64_t rev, int64_t *at)
{
    int64_t cur = txn_visible_rev(t);
    if (rev <= 0) {
        *at = cur;
        return 0;
    }
    if (rev > cur) return MVCC_ERR_FUTURE_REV;
    if (rev < t->compacted) return MVCC_ERR_COMPACTED;
    *at = rev;
    return 0;
}

/* Finds the newest version of key with revision <= at, as the txn sees it, and copies it into
 * t->point_key / t->point_val (rec->value points there). */
static int txn_version_le(mvcc_txn *t, const uint8_t *key, size_t n, int64_t at, int64_t *mod_rev,
                          mvcc_rec *rec, bool *found)
{
    storage *st = t->m->st;
    *found = false;
    t->scratch.len = 0;
    if (t->write && t->sub > 0 && at > t->rev) {
        if (mvcc_key_append_version(&t->scratch, key, n, t->rev + 1) != 0) return MVCC_ERR_NOMEM;
        char *err = NULL;
        size_t vlen = 0;
        char *v = rocksdb_writebatch_wi_get_from_batch_cf(
            t->batch, st->options, st->cf[STORAGE_CF_KV], (const char *)t->scratch.p,
            t->scratch.len, &vlen, &err);
        if (err) {
            rocksdb_free(err);
            return MVCC_ERR_IO;
        }
        if (v) {
            t->point_val.len = 0;
            int rc = mvcc_buf_append(&t->point_val, v, vlen);
            rocksdb_free(v);
            if (rc != 0) return MVCC_ERR_NOMEM;
            if (mvcc_rec_decode(t->point_val.p, t->point_val.len, rec) != 0) return MVCC_ERR_IO;
            *mod_rev = t->rev + 1;
            *found = true;
            return 0;
        }
        t->scratch.len = 0;
        at = t->rev;
    }
    if (mvcc_key_append_version(&t->scratch, key, n, at) != 0) return MVCC_ERR_NOMEM;
    if (!t->point_it)
        t->point_it = rocksdb_create_iterator_cf(st->db, t->ro, st->cf[STORAGE_CF_KV]);
    rocksdb_iter_seek(t->point_it, (const char *)t->scratch.p, t->scratch.len);
    if (!rocksdb_iter_valid(t->point_it)) {
        char *err = NULL;
        rocksdb_iter_get_error(t->point_it, &err);
        if (err) {
            rocksdb_free(err);
            return MVCC_ERR_IO;
        }
        return 0;
    }
    size_t klen, vlen;
    const uint8_t *k = (const uint8_t *)rocksdb_iter_key(t->point_it, &klen);
    size_t plen = mvcc_key_prefix_len(t->scratch.len);
    if (klen != t->scratch.len || memcmp(k, t->scratch.p, plen) != 0) return 0;
    const uint8_t *v = (const uint8_t *)rocksdb_iter_value(t->point_it, &vlen);
    t->point_val.len = 0;
    if (mvcc_buf_append(&t->point_val, v, vlen) != 0) return MVCC_ERR_NOMEM;
    if (mvcc_rec_decode(t->point_val.p, t->point_val.len, rec) != 0) return MVCC_ERR_IO;
    *mod_rev = mvcc_key_rev(k, klen);
    *found = true;
    return 0;
}

static void kv_from_rec(mvcc_kv *kv, const uint8_t *key, size_t n, int64_t mod_rev,
                        const mvcc_rec *r)
{
    kv->key = key;
    kv->key_len = n;
    kv->value = r->value;
    kv->value_len = r->value_len;
    kv->create_revision = r->create_revision;
    kv->mod_revision = mod_rev;
    kv->version = r->version;
    kv->lease = r->lease;
}

int mvcc_txn_get(mvcc_txn *t, const uint8_t *key, size_t key_len, mvcc_kv *kv, bool *found)
{
    int64_t mod_rev = 0;
    mvcc_rec rec;
    int rc = txn_version_le(t, key, key_len, t->write ? t->rev + 1 : t->rev, &mod_rev, &rec, found);
    if (rc != 0) return rc;
    if (*found && rec.tombstone) *found = false;
    if (!*found) return 0;
    t->point_key.len = 0;
    if (mvcc_buf_append(&t->point_key, key, key_len) != 0) return MVCC_ERR_NOMEM;
    kv_from_rec(kv, t->point_key.p, key_len, mod_rev, &rec);
    return 0;
}

/* Walks the live keys of the encoded range [lower, upper) as of `at`, starting with a seek to
 * `first` (which must be at or before the newest version <= at of the first key wanted). */
static int walk_range(mvcc_txn *t, const uint8_t *lower, size_t lower_len, const uint8_t *upper,
                      size_t upper_len, const uint8_t *first, size_t first_len, int64_t at,
                      mvcc_visit_fn fn, void *arg)
{
    mvcc_cursor c;
    int rc = mvcc_cursor_open(t, STORAGE_CF_KV, lower, lower_len, upper, upper_len, &c);
    if (rc != 0) return rc;
    mvcc_cursor_seek(&c, first, first_len);
    while (mvcc_cursor_valid(&c)) {
        rc = mvcc_cursor_settle(&c, at);
        if (rc < 0) goto done;
        if (rc == 0) continue; /* no version <= at; the cursor is on the next key */
        size_t klen, vlen;
        const uint8_t *k = mvcc_cursor_key(&c, &klen);
        const uint8_t *v = mvcc_cursor_value(&c, &vlen);
        mvcc_rec rec;
        if (mvcc_rec_decode(v, vlen, &rec) != 0) {
            rc = MVCC_ERR_IO;
            goto done;
        }
        if (!rec.tombstone) {
            const uint8_t *user;
            size_t user_len;
            if (mvcc_key_user(&t->user_key, k, klen, &user, &user_len) != 0) {
                rc = MVCC_ERR_NOMEM;
                goto done;
            }
            mvcc_kv kv;
            kv_from_rec(&kv, user, user_len, mvcc_key_rev(k, klen), &rec);
            rc = fn(arg, &kv);
            if (rc < 0) goto done;
            if (rc > 0) break;
        }
        rc = mvcc_cursor_skip_key(&c);
        if (rc < 0) goto done;
    }
    rc = mvcc_cursor_error(&c);
done:
    mvcc_cursor_close(&c);
    return rc;
}

static int range_at(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                    size_t end_len, int64_t at, mvcc_visit_fn fn, void *arg)
{
    mvcc_buf lower = {0}, upper = {0}, first = {0};
    int rc = MVCC_ERR_NOMEM;
    if (mvcc_key_append_escaped(&lower, key, key_len) != 0) goto done;
    if (end_len == 0) {
        if (mvcc_key_append_after_versions(&upper, key, key_len) != 0 ||
            mvcc_key_append_version(&first, key, key_len, at) != 0)
            goto done;
        rc = walk_range(t, lower.p, lower.len, upper.p, upper.len, first.p, first.len, at, fn, arg);
    } else if (end_len == 1 && end[0] == 0) {
        rc = walk_range(t, lower.p, lower.len, NULL, 0, lower.p, lower.len, at, fn, arg);
    } else if (bytes_cmp(end, end_len, key, key_len) <= 0) {
        rc = 0;
    } else {
        if (mvcc_key_append_escaped(&upper, end, end_len) != 0) goto done;
        rc = walk_range(t, lower.p, lower.len, upper.p, upper.len, lower.p, lower.len, at, fn, arg);
    }
done:
    mvcc_buf_free(&lower);
    mvcc_buf_free(&upper);
    mvcc_buf_free(&first);
    return rc;
}

int mvcc_txn_range(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                   size_t end_len, int64_t rev, mvcc_visit_fn fn, void *arg)
{
    int64_t at;
    int rc = mvcc_txn_read_rev(t, rev, &at);
    if (rc != 0) return rc;
    return range_at(t, key, key_len, end, end_len, at, fn, arg);
}

/* ---- writes ---------------------------------------------------------------------------- */

static int put_change(mvcc_txn *t, int kind, const uint8_t *key, size_t n, int64_t prev_rev)
{
    storage *st = t->m->st;
    uint8_t ck[MVCC_CHANGE_KEY_BYTES];
    be64_put(ck, (uint64_t)(t->rev + 1));
    for (int i = 0; i < 4; i++) ck[8 + i] = (uint8_t)(t->sub >> (24 - 8 * i));
    uint8_t head[MVCC_CHANGE_HEADER];
    head[0] = (uint8_t)kind;
    be64_put(head + 1, (uint64_t)prev_rev);
    t->scratch2.len = 0;
    if (mvcc_buf_append(&t->scratch2, head, sizeof(head)) != 0 ||
        mvcc_buf_append(&t->scratch2, key, n) != 0)
        return MVCC_ERR_NOMEM;
    rocksdb_writebatch_wi_put_cf(t->batch, st->cf[STORAGE_CF_CHANGES], (const char *)ck, sizeof(ck),
                                 (const char *)t->scratch2.p, t->scratch2.len);
    t->sub++;
    return 0;
}

static int put_version(mvcc_txn *t, const uint8_t *key, size_t n, const mvcc_rec *rec,
                       int64_t prev_rev)
{
    storage *st = t->m->st;
    if (mvcc_rec_encode(&t->rec, rec) != 0) return MVCC_ERR_NOMEM;
    t->scratch.len = 0;
    if (mvcc_key_append_version(&t->scratch, key, n, t->rev + 1) != 0) return MVCC_ERR_NOMEM;
    rocksdb_writebatch_wi_put_cf(t->batch, st->cf[STORAGE_CF_KV], (const char *)t->scratch.p,
                                 t->scratch.len, (const char *)t->rec.p, t->rec.len);
    return put_change(t, rec->tombstone ? MVCC_CHANGE_DELETE : MVCC_CHANGE_PUT, key, n, prev_rev);
}

int mvcc_txn_put(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *value,
                 size_t value_len, int64_t lease, mvcc_visit_fn prev, void *prev_arg)
{
    if (!t->write || t->committed) return MVCC_ERR_INVALID;
    int64_t rev = t->rev + 1;
    int64_t mod_rev = 0;
    mvcc_rec old;
    bool found;
    int rc = txn_version_le(t, key, key_len, rev, &mod_rev, &old, &found);
    if (rc != 0) return rc;
    bool live = found && !old.tombstone;
    if (live && prev) {
        mvcc_kv kv;
        kv_from_rec(&kv, key, key_len, mod_rev, &old);
        rc = prev(prev_arg, &kv);
        if (rc < 0) return rc;
    }
    mvcc_rec rec = {
        .create_revision = live ? old.create_revision : rev,
        .version = live ? old.version + 1 : 1,
        .lease = lease,
        .value = value,
        .value_len = value_len,
    };
    return put_version(t, key, key_len, &rec, found ? mod_rev : 0);
}

/* delete_range first collects the keys to delete (len ‖ mod revision ‖ bytes each), then writes
 * their tombstones: an iterator over the write batch must not see the batch change under it. */
struct delete_collect {
    mvcc_buf keys;
    mvcc_visit_fn prev;
    void *prev_arg;
    int64_t count;
};

static int collect_deleted(void *arg, const mvcc_kv *kv)
{
    struct delete_collect *dc = arg;
    if (dc->prev) {
        int rc = dc->prev(dc->prev_arg, kv);
        if (rc < 0) return rc;
    }
    uint64_t n = kv->key_len;
    int64_t mod = kv->mod_revision;
    if (mvcc_buf_append(&dc->keys, &n, sizeof(n)) != 0 ||
        mvcc_buf_append(&dc->keys, &mod, sizeof(mod)) != 0 ||
        mvcc_buf_append(&dc->keys, kv->key, kv->key_len) != 0)
        return MVCC_ERR_NOMEM;
    dc->count++;
    return 0;
}

int mvcc_txn_delete_range(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                          size_t end_len, mvcc_visit_fn prev, void *prev_arg, int64_t *deleted)
{
    *deleted = 0;
    if (!t->write || t->committed) return MVCC_ERR_INVALID;
    struct delete_collect dc = {.prev = prev, .prev_arg = prev_arg};
    int rc = range_at(t, key, key_len, end, end_len, t->rev + 1, collect_deleted, &dc);
    if (rc != 0) goto done;
    mvcc_rec tomb = {.tombstone = true};
    for (size_t off = 0; off < dc.keys.len;) {
        uint64_t n;
        int64_t mod;
        memcpy(&n, dc.keys.p + off, sizeof(n));
        off += sizeof(n);
        memcpy(&mod, dc.keys.p + off, sizeof(mod));
        off += sizeof(mod);
        rc = put_version(t, dc.keys.p + off, (size_t)n, &tomb, mod);
        if (rc != 0) goto done;
        off += (size_t)n;
    }
    *deleted = dc.count;
done:
    mvcc_buf_free(&dc.keys);
    return rc;
}

int mvcc_txn_compact(mvcc_txn *t, int64_t rev)
{
    if (!t->write || t->committed) return MVCC_ERR_INVALID;
    t->compact_rev = rev;
    return 0;
}

/* A WriteBatch's serialised form (also the WAL record) is fixed64 sequence ‖ fixed32 count
 * (little-endian) ‖ records; two batches join by adding the counts and appending the second's
 * records. The C API has no WriteBatch::Append, so commit joins `extra` this way to keep one
 * atomic write. */
#define WB_HEADER 12

static uint32_t le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_joined(mvcc_txn *t, rocksdb_writebatch_t *extra)
{
    storage *st = t->m->st;
    size_t n1, n2;
    const uint8_t *d1 = (const uint8_t *)rocksdb_writebatch_wi_data(t->batch, &n1);
    const uint8_t *d2 = (const uint8_t *)rocksdb_writebatch_data(extra, &n2);
    if (n1 < WB_HEADER || n2 < WB_HEADER) return MVCC_ERR_IO;
    uint8_t *joined = malloc(n1 + n2 - WB_HEADER);
    if (!joined) return MVCC_ERR_NOMEM;
    memcpy(joined, d1, n1);
    memcpy(joined + n1, d2 + WB_HEADER, n2 - WB_HEADER);
    uint32_t count = le32_get(d1 + 8) + le32_get(d2 + 8);
    for (int i = 0; i < 4; i++) joined[8 + i] = (uint8_t)(count >> (8 * i));
    rocksdb_writebatch_t *wb =
        rocksdb_writebatch_create_from((const char *)joined, n1 + n2 - WB_HEADER);
    free(joined);
    char *err = NULL;
    rocksdb_write(st->db, st->nosync_wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err) {
        rocksdb_free(err);
        return MVCC_ERR_IO;
    }
    return 0;
}

static void batch_put_meta(mvcc_txn *t, const char *key, uint64_t v)
{
    storage *st = t->m->st;
    uint8_t b[8];
    be64_put(b, v);
    rocksdb_writebatch_wi_put_cf(t->batch, st->cf[STORAGE_CF_META], key, strlen(key),
                                 (const char *)b, sizeof(b));
}

int mvcc_txn_commit(mvcc_txn *t, uint64_t applied_index, rocksdb_writebatch_t *extra,
                    int64_t *rev_after)
{
    if (!t->write) {
        if (rev_after) *rev_after = t->rev;
        return 0;
    }
    if (t->committed) return MVCC_ERR_INVALID;
    mvcc *m = t->m;
    int64_t new_rev = txn_visible_rev(t);
    if (new_rev != t->rev) batch_put_meta(t, MVCC_META_REV, (uint64_t)new_rev);
    batch_put_meta(t, MVCC_META_APPLIED, applied_index);
    if (t->compact_rev > 0) batch_put_meta(t, MVCC_META_COMPACTED, (uint64_t)t->compact_rev);
    int rc;
    if (extra && rocksdb_writebatch_count(extra) > 0) {
        rc = write_joined(t, extra);
    } else {
        char *err = NULL;
        rocksdb_write_writebatch_wi(m->st->db, m->st->nosync_wo, t->batch, &err);
        rc = 0;
        if (err) {
            rocksdb_free(err);
            rc = MVCC_ERR_IO;
        }
    }
    if (rc != 0) return rc;
    pthread_mutex_lock(&m->lock);
    m->current_rev = new_rev;
    m->applied_index = applied_index;
    if (t->compact_rev > m->compacted_rev) m->compacted_rev = t->compact_rev;
    pthread_mutex_unlock(&m->lock);
    t->committed = true;
    if (rev_after) *rev_after = new_rev;
    return 0;
}

/* ---- changes --------------------------------------------------------------------------- */

int mvcc_changes(mvcc_txn *t, int64_t from_rev, int64_t to_rev, mvcc_change_fn fn, void *arg)
{
    if (from_rev < 1) from_rev = 1;
    if (from_rev < t->compacted) return MVCC_ERR_COMPACTED;
    int64_t cur = txn_visible_rev(t);
    if (to_rev > cur) to_rev = cur;
    if (to_rev < from_rev) return 0;
    uint8_t lower[8], upper[8];
    be64_put(lower, (uint64_t)from_rev);
    be64_put(upper, (uint64_t)to_rev + 1);
    mvcc_cursor c;
    int rc = mvcc_cursor_open(t, STORAGE_CF_CHANGES, lower, 8, upper, 8, &c);
    if (rc != 0) return rc;
    mvcc_cursor_seek(&c, lower, 8);
    for (; mvcc_cursor_valid(&c); rocksdb_iter_next(c.it)) {
        size_t klen, vlen;
        const uint8_t *k = mvcc_cursor_key(&c, &klen);
        const uint8_t *v = mvcc_cursor_value(&c, &vlen);
        if (klen != MVCC_CHANGE_KEY_BYTES || vlen < MVCC_CHANGE_HEADER) {
            rc = MVCC_ERR_IO;
            goto done;
        }
        int64_t rev = (int64_t)be64_get(k);
        const uint8_t *key = v + MVCC_CHANGE_HEADER;
        size_t key_len = vlen - MVCC_CHANGE_HEADER;
        mvcc_kv kv = {.key = key, .key_len = key_len, .mod_revision = rev};
        if (v[0] == MVCC_CHANGE_DELETE) {
            rc = fn(arg, &kv, true);
        } else {
            mvcc_rec rec;
            bool found;
            int64_t mod_rev = 0;
            rc = txn_version_le(t, key, key_len, rev, &mod_rev, &rec, &found);
            if (rc != 0) goto done;
            /* A put later replaced in the same revision by a delete: the delete's own change
             * record reports it. */
            if (found && mod_rev == rev && rec.tombstone) continue;
            if (!found || mod_rev != rev) {
                rc = MVCC_ERR_IO; /* a change record whose version is gone */
                goto done;
            }
            kv_from_rec(&kv, key, key_len, rev, &rec);
            rc = fn(arg, &kv, false);
        }
        if (rc < 0) goto done;
        if (rc > 0) break;
    }
    rc = mvcc_cursor_error(&c);
done:
    mvcc_cursor_close(&c);
    return rc;
}
