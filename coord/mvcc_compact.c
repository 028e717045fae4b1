/* mvcc_compact: physical removal of the versions a compaction at R hid.
 *
 * A version is hidden at R when a newer version of its key exists at or below R, or when it is
 * a tombstone at or below R. Every change record names the version it replaced (prev, see
 * mvcc_internal.h), so walking the change records of (done, R], where `done` is where the
 * previous physical compaction finished, finds every newly hidden version without reading the
 * key space: a change at r <= R hides its prev (deleted blindly, no read); a delete at r <= R
 * leaves a tombstone that goes too (read first to make sure the entry at r still is that
 * tombstone: a put of the same key later in the same txn would have replaced it). Versions
 * hidden by changes at or below `done` went in an earlier run. The newest version <= R of a key
 * is never anyone's prev at or below R, so it stays unless it is a tombstone. The cost is a
 * sequential read of the change records plus one point delete per hidden version and one
 * point read per delete; change records below R then go with one DeleteRange (R's own stay: a
 * watch may start at the compacted revision).
 *
 * Point deletes leave tombstones that later seeks step over until RocksDB compacts them away
 * (ROCKSDB-NOTES.md: 2,400x slower listings after 100,000 of them). After a large run the
 * touched span is compacted at once; smaller runs rely on the compact-on-deletion collector.
 *
 * Running beside the writer and readers is safe: the writer only adds versions above the current
 * revision (> R) and reads only each key's newest version, which is never removed unless it is
 * a tombstone (then absent either way); a reader below R failed at begin with COMPACTED, and a
 * reader that began before the compaction was marked reads through its snapshot.
 *
 * Work goes in batches of COMPACT_BATCH change records; the iterator is made anew for each
 * batch so it does not pin old memtables and files for the whole run. Progress is recorded
 * only at the end (compact_done in the meta CF): a crash midway makes the next run redo
 * deletes, which is harmless.
 */
#include "mvcc_internal.h"

#include <stdlib.h>
#include <string.h>

#define COMPACT_BATCH               4096
#define COMPACT_RANGE_AFTER_DELETES 16384 /* then compact the touched span to drop tombstones */

struct compact_run {
    mvcc *m;
    int64_t rev;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *changes;
    rocksdb_writebatch_t *batch;
    mvcc_buf target;          /* encoded kv key */
    mvcc_buf lowest, highest; /* span of encoded kv keys deleted, for CompactRange */
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

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return an < bn ? -1 : an > bn;
}

static int note_span(struct compact_run *r, const uint8_t *k, size_t n)
{
    if (r->lowest.len == 0 || bytes_cmp(k, n, r->lowest.p, r->lowest.len) < 0) {
        r->lowest.len = 0;
        if (mvcc_buf_append(&r->lowest, k, n) != 0) return MVCC_ERR_NOMEM;
    }
    if (r->highest.len == 0 || bytes_cmp(k, n, r->highest.p, r->highest.len) > 0) {
        r->highest.len = 0;
        if (mvcc_buf_append(&r->highest, k, n) != 0) return MVCC_ERR_NOMEM;
    }
    return 0;
}

static int delete_version(struct compact_run *r)
{
    rocksdb_writebatch_delete_cf(r->batch, r->m->st->cf[STORAGE_CF_KV], (const char *)r->target.p,
                                 r->target.len);
    r->deletes++;
    return note_span(r, r->target.p, r->target.len);
}

/* One change record at revision rev (<= r->rev). */
static int compact_change(struct compact_run *r, int64_t rev, const uint8_t *v, size_t vlen)
{
    storage *st = r->m->st;
    const uint8_t *key = v + MVCC_CHANGE_HEADER;
    size_t n = vlen - MVCC_CHANGE_HEADER;
    int64_t prev = (int64_t)be64_get(v + 1);
    int rc;
    /* prev == rev: the same key changed twice in one txn; the first change names the older
     * version, and the entry at rev is the newer one */
    if (prev > 0 && prev < rev) {
        r->target.len = 0;
        if (mvcc_key_append_version(&r->target, key, n, prev) != 0) return MVCC_ERR_NOMEM;
        rc = delete_version(r);
        if (rc != 0) return rc;
    }
    if (v[0] != MVCC_CHANGE_DELETE) return 0;
    r->target.len = 0;
    if (mvcc_key_append_version(&r->target, key, n, rev) != 0) return MVCC_ERR_NOMEM;
    char *err = NULL;
    size_t len = 0;
    char *val = rocksdb_get_cf(st->db, r->ro, st->cf[STORAGE_CF_KV], (const char *)r->target.p,
                               r->target.len, &len, &err);
    if (err) {
        rocksdb_free(err);
        return MVCC_ERR_IO;
    }
    if (!val) return 0;
    mvcc_rec rec;
    rc = mvcc_rec_decode((const uint8_t *)val, len, &rec);
    rocksdb_free(val);
    if (rc != 0) return MVCC_ERR_IO;
    return rec.tombstone ? delete_version(r) : 0;
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

/* Walks the change records of revisions [from, r->rev]. */
static int walk_changes(struct compact_run *r, int64_t from)
{
    storage *st = r->m->st;
    uint8_t pos[MVCC_CHANGE_KEY_BYTES] = {0};
    be64_put(pos, (uint64_t)from);
    for (;;) {
        r->changes = rocksdb_create_iterator_cf(st->db, r->ro, st->cf[STORAGE_CF_CHANGES]);
        rocksdb_iter_seek(r->changes, (const char *)pos, sizeof(pos));
        int rc = 0, in_batch = 0;
        bool more = false;
        for (; rocksdb_iter_valid(r->changes); rocksdb_iter_next(r->changes)) {
            size_t klen, vlen;
            const uint8_t *k = (const uint8_t *)rocksdb_iter_key(r->changes, &klen);
            const uint8_t *v = (const uint8_t *)rocksdb_iter_value(r->changes, &vlen);
            if (klen != MVCC_CHANGE_KEY_BYTES || vlen < MVCC_CHANGE_HEADER) {
                rc = MVCC_ERR_IO;
                break;
            }
            if (memcmp(k, r->changes_upper, 8) >= 0) break;
            if (in_batch == COMPACT_BATCH) {
                memcpy(pos, k, sizeof(pos));
                more = true;
                break;
            }
            rc = compact_change(r, (int64_t)be64_get(k), v, vlen);
            if (rc != 0) break;
            in_batch++;
        }
        if (rc == 0) rc = iter_error(r->changes);
        rocksdb_iter_destroy(r->changes);
        r->changes = NULL;
        if (rc != 0 || !more) return rc;
        rc = write_batch(r);
        if (rc != 0) return rc;
    }
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
        /* drop the point tombstones now rather than let every seek through them pay */
        rocksdb_compact_range_cf(st->db, st->cf[STORAGE_CF_KV], (const char *)r.lowest.p,
                                 r.lowest.len, (const char *)r.highest.p, r.highest.len);
    }

free_run:
    rocksdb_writebatch_destroy(r.batch);
    rocksdb_readoptions_destroy(r.ro);
    mvcc_buf_free(&r.target);
    mvcc_buf_free(&r.lowest);
    mvcc_buf_free(&r.highest);
unlock:
    pthread_mutex_unlock(&m->compact_lock);
    return rc;
}
