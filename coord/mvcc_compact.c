/* mvcc_compact: physical removal of the versions a compaction at R hid.
 *
 * Which keys can have hidden versions? Only those changed in (done, R], where `done` is the
 * revision the previous physical compaction finished: every key has already lost what was hidden
 * at `done`, and a version becomes hidden at R only when a newer version <= R exists (written in
 * (done, R]) or when it is a tombstone <= R (also written in that window, or handled before).
 * So the walk reads the change records of (done, R], not the key space, and costs about one seek
 * per change (consecutive changes of one key are skipped).
 *
 * Per key: seek to (key, R) finds the newest version <= R. It stays unless it is a tombstone;
 * everything after it (older) goes. The first few go as point deletes; a long history is cut
 * with one DeleteRange, since thousands of point tombstones make later seeks crawl until RocksDB
 * compacts them away (ROCKSDB-NOTES.md). The change records below R go with one DeleteRange
 * (R's own stay: a watch may start at the compacted revision).
 *
 * Running beside the writer and readers is safe: the writer only adds versions above the current
 * revision (> R) and only reads each key's newest version, which is never removed unless it is a
 * tombstone (then absent either way); a reader below R failed at begin with COMPACTED, and a
 * reader that began before the compaction was marked reads through its snapshot.
 *
 * Work goes in batches of COMPACT_BATCH keys; the iterators are made anew for each batch so they
 * do not pin old memtables and files for the whole run. Progress is recorded only at the end
 * (compact_done in the meta CF): a crash midway makes the next run redo deletes, which is
 * harmless.
 */
#include "mvcc_internal.h"

#include <stdlib.h>
#include <string.h>

#define COMPACT_BATCH               1024
#define POINT_DELETES_PER_KEY       8 /* beyond this many hidden versions of a key: one DeleteRange */
#define COMPACT_RANGE_AFTER_DELETES 16384 /* then compact the touched span to drop tombstones */

struct compact_run {
    mvcc *m;
    int64_t rev;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *changes;
    rocksdb_iterator_t *kv;
    rocksdb_writebatch_t *batch;
    mvcc_buf target;          /* encoded seek target */
    mvcc_buf last_key;        /* user key of the previous change: consecutive repeats skipped */
    mvcc_buf lowest, highest; /* span of encoded prefixes with deletes, for CompactRange */
    uint8_t changes_upper[8];
    uint64_t deletes;
};

static int iter_error(rocksdb_iterator_t *it)
{
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (!err) return 0;
    rocksdb_free(err);
    return MVCC_ERR_IO;
}

static void open_iterators(struct compact_run *r)
{
    storage *st = r->m->st;
    r->changes = rocksdb_create_iterator_cf(st->db, r->ro, st->cf[STORAGE_CF_CHANGES]);
    r->kv = rocksdb_create_iterator_cf(st->db, r->ro, st->cf[STORAGE_CF_KV]);
}

static void close_iterators(struct compact_run *r)
{
    if (r->changes) rocksdb_iter_destroy(r->changes);
    if (r->kv) rocksdb_iter_destroy(r->kv);
    r->changes = r->kv = NULL;
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return an < bn ? -1 : an > bn;
}

static int note_span(struct compact_run *r, const uint8_t *prefix, size_t plen)
{
    if (r->lowest.len == 0 || bytes_cmp(prefix, plen, r->lowest.p, r->lowest.len) < 0) {
        r->lowest.len = 0;
        if (mvcc_buf_append(&r->lowest, prefix, plen) != 0) return MVCC_ERR_NOMEM;
    }
    if (r->highest.len == 0 || bytes_cmp(prefix, plen, r->highest.p, r->highest.len) > 0) {
        r->highest.len = 0;
        if (mvcc_buf_append(&r->highest, prefix, plen) != 0) return MVCC_ERR_NOMEM;
    }
    return 0;
}

static bool on_prefix(rocksdb_iterator_t *it, const uint8_t *prefix, size_t plen)
{
    if (!rocksdb_iter_valid(it)) return false;
    size_t n;
    const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &n);
    return mvcc_key_valid(n) && mvcc_key_prefix_len(n) == plen && memcmp(k, prefix, plen) == 0;
}

/* Removes the versions of one key hidden at r->rev. */
static int compact_key(struct compact_run *r, const uint8_t *key, size_t n)
{
    storage *st = r->m->st;
    rocksdb_column_family_handle_t *cf = st->cf[STORAGE_CF_KV];
    r->target.len = 0;
    if (mvcc_key_append_version(&r->target, key, n, r->rev) != 0) return MVCC_ERR_NOMEM;
    size_t plen = mvcc_key_prefix_len(r->target.len);
    rocksdb_iter_seek(r->kv, (const char *)r->target.p, r->target.len);
    if (!on_prefix(r->kv, r->target.p, plen)) return iter_error(r->kv);
    size_t vlen;
    const uint8_t *v = (const uint8_t *)rocksdb_iter_value(r->kv, &vlen);
    mvcc_rec rec;
    if (mvcc_rec_decode(v, vlen, &rec) != 0) return MVCC_ERR_IO;
    if (!rec.tombstone) rocksdb_iter_next(r->kv); /* the newest version <= rev stays */
    bool any = false;
    for (int i = 0; on_prefix(r->kv, r->target.p, plen); i++) {
        size_t klen;
        const char *k = rocksdb_iter_key(r->kv, &klen);
        any = true;
        if (i == POINT_DELETES_PER_KEY) {
            /* the rest of this key's history, in one range tombstone */
            r->target.p[plen - 1] = 0x02;
            rocksdb_writebatch_delete_range_cf(r->batch, cf, k, klen, (const char *)r->target.p,
                                               plen);
            r->target.p[plen - 1] = 0x01;
            r->deletes++;
            break;
        }
        rocksdb_writebatch_delete_cf(r->batch, cf, k, klen);
        r->deletes++;
        rocksdb_iter_next(r->kv);
    }
    int rc = iter_error(r->kv);
    if (rc == 0 && any) rc = note_span(r, r->target.p, plen);
    return rc;
}

static int write_batch(struct compact_run *r)
{
    char *err = NULL;
    rocksdb_write(r->m->st->db, r->m->st->nosync_wo, r->batch, &err);
    rocksdb_writebatch_clear(r->batch);
    if (!err) return 0;
    rocksdb_free(err);
    return MVCC_ERR_IO;
}

/* Walks the change records from `from` (an encoded change key) to r->rev. */
static int walk_changes(struct compact_run *r, int64_t from)
{
    uint8_t pos[MVCC_CHANGE_KEY_BYTES] = {0};
    be64_put(pos, (uint64_t)from);
    size_t pos_len = sizeof(pos);
    int rc = 0;
    for (;;) {
        open_iterators(r);
        rocksdb_iter_seek(r->changes, (const char *)pos, pos_len);
        int in_batch = 0;
        for (; rocksdb_iter_valid(r->changes) && in_batch < COMPACT_BATCH;
             rocksdb_iter_next(r->changes)) {
            size_t klen, vlen;
            const uint8_t *k = (const uint8_t *)rocksdb_iter_key(r->changes, &klen);
            const uint8_t *v = (const uint8_t *)rocksdb_iter_value(r->changes, &vlen);
            if (klen != MVCC_CHANGE_KEY_BYTES || vlen < 1) {
                rc = MVCC_ERR_IO;
                goto done;
            }
            if (memcmp(k, r->changes_upper, 8) >= 0) break;
            if (r->last_key.len == vlen - 1 && memcmp(r->last_key.p, v + 1, vlen - 1) == 0)
                continue;
            r->last_key.len = 0;
            if (mvcc_buf_append(&r->last_key, v + 1, vlen - 1) != 0) {
                rc = MVCC_ERR_NOMEM;
                goto done;
            }
            rc = compact_key(r, v + 1, vlen - 1);
            if (rc != 0) goto done;
            in_batch++;
        }
        rc = iter_error(r->changes);
        if (rc != 0) goto done;
        bool more = false;
        if (rocksdb_iter_valid(r->changes)) {
            size_t klen;
            const char *k = rocksdb_iter_key(r->changes, &klen);
            more = klen == MVCC_CHANGE_KEY_BYTES && memcmp(k, r->changes_upper, 8) < 0;
            if (more) memcpy(pos, k, MVCC_CHANGE_KEY_BYTES);
        }
        close_iterators(r);
        if (!more) return 0;
        rc = write_batch(r);
        if (rc != 0) return rc;
    }
done:
    close_iterators(r);
    return rc;
}

int mvcc_compact_physical(mvcc *m, int64_t rev)
{
    storage *st = m->st;
    pthread_mutex_lock(&m->compact_lock);
    pthread_mutex_lock(&m->lock);
    int64_t compacted = m->compacted_rev, done = m->compact_done;
    pthread_mutex_unlock(&m->lock);
    int rc = 0;
    if (rev > compacted) {
        rc = MVCC_ERR_FUTURE_REV;
        goto unlock;
    }
    if (rev <= done) goto unlock;

    struct compact_run r = {.m = m, .rev = rev};
    be64_put(r.changes_upper, (uint64_t)rev + 1);
    r.ro = rocksdb_readoptions_create();
    r.batch = rocksdb_writebatch_create();
    rc = walk_changes(&r, done + 1);
    if (rc != 0) goto free_run;

    uint8_t zero[8] = {0}, below[8];
    be64_put(below, (uint64_t)rev);
    rocksdb_writebatch_delete_range_cf(r.batch, st->cf[STORAGE_CF_CHANGES], (const char *)zero,
                                       sizeof(zero), (const char *)below, sizeof(below));
    storage_batch_put_u64(r.batch, st, STORAGE_CF_META, MVCC_META_COMPACT_DONE, (uint64_t)rev);
    rc = write_batch(&r);
    if (rc != 0) goto free_run;
    pthread_mutex_lock(&m->lock);
    m->compact_done = rev;
    pthread_mutex_unlock(&m->lock);

    if (r.deletes >= COMPACT_RANGE_AFTER_DELETES) {
        /* drop the point tombstones now rather than let every seek through them pay; the
         * span ends after every version of the highest key (terminator 00 01 -> 00 02) */
        r.highest.p[r.highest.len - 1] = 0x02;
        rocksdb_compact_range_cf(st->db, st->cf[STORAGE_CF_KV], (const char *)r.lowest.p,
                                 r.lowest.len, (const char *)r.highest.p, r.highest.len);
    }

free_run:
    rocksdb_writebatch_destroy(r.batch);
    rocksdb_readoptions_destroy(r.ro);
    mvcc_buf_free(&r.target);
    mvcc_buf_free(&r.last_key);
    mvcc_buf_free(&r.lowest);
    mvcc_buf_free(&r.highest);
unlock:
    pthread_mutex_unlock(&m->compact_lock);
    return rc;
}
