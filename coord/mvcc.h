/* mvcc: etcd's multi-version key space on RocksDB, with its index in RocksDB (nothing grows in
 * memory with the data set; a restart rebuilds nothing).
 *
 * Rules (etcd's): a fresh store is at revision 1; every write transaction that changes at least
 * one key raises the revision by exactly one, and all its changes share it; a delete that
 * deletes nothing raises nothing. Per key: create_revision (revision of the put that created
 * it since its last delete), mod_revision, version (1 on creation, +1 per put, 0 = absent).
 * A delete leaves a tombstone at its revision. Compaction at R keeps the state as of R.
 *
 * Threads: one writer at a time (the apply step); any number of readers on other threads.
 * A read transaction sees one revision, through a RocksDB snapshot taken together with the
 * revision under the store's lock. A write transaction reads the latest state plus its own
 * writes (a Range after a Put in the same Txn sees the Put).
 *
 * Views: every mvcc_kv handed to a visitor points into RocksDB memory that is valid only
 * during the call; copy what you keep.
 */
#ifndef COORD_MVCC_H
#define COORD_MVCC_H

#include "storage.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mvcc_err {
    MVCC_OK = 0,
    MVCC_ERR_COMPACTED = -1,  /* revision below the compacted revision */
    MVCC_ERR_FUTURE_REV = -2, /* revision above the current revision */
    MVCC_ERR_IO = -3,         /* RocksDB failed; the store is not to be trusted further */
    MVCC_ERR_NOMEM = -4,
    MVCC_ERR_INVALID = -5, /* misuse: a write on a read txn, or after commit */
};

typedef struct mvcc mvcc;
typedef struct mvcc_txn mvcc_txn;

typedef struct mvcc_kv {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} mvcc_kv;

/* Called once per live key, in key order. Return 0 to go on, 1 to stop early, < 0 to fail
 * (that value is passed back to the caller). */
typedef int (*mvcc_visit_fn)(void *arg, const mvcc_kv *kv);

/* Opens the store over st (which the caller keeps open longer). Reads the current and
 * compacted revisions and the applied index from STORAGE_CF_META. */
int mvcc_open(storage *st, mvcc **out);
void mvcc_close(mvcc *m);

/* Replacing the store's contents beneath it (installing a snapshot): mvcc_pause waits for the
 * writer and any physical compaction, then holds every new transaction, compaction and revision
 * query until mvcc_resume, so no reader sees a half-replaced key space. Transactions begun
 * before keep their snapshot. mvcc_resume re-reads the revisions and the applied index as
 * mvcc_open does, then lets everyone go; MVCC_ERR_IO if they cannot be read (the store is then
 * not to be trusted). The writer's thread calls both. */
void mvcc_pause(mvcc *m);
int mvcc_resume(mvcc *m);

int64_t mvcc_current_rev(mvcc *m);
int64_t mvcc_compacted_rev(mvcc *m);
/* The revision up to which compaction has physically finished (<= mvcc_compacted_rev). When it
 * is below the compacted revision after a restart, run mvcc_compact_physical again. */
int64_t mvcc_compact_done_rev(mvcc *m);
uint64_t mvcc_applied_index(mvcc *m);

/* A read-only transaction at the current revision (snapshot). */
int mvcc_read_begin(mvcc *m, mvcc_txn **out);
/* A write transaction: the one writer. Reads see the latest state and this txn's own writes. */
int mvcc_write_begin(mvcc *m, mvcc_txn **out);

/* The revision a read txn sees; for a write txn, the revision before it (its writes take
 * mvcc_txn_rev + 1). */
int64_t mvcc_txn_rev(mvcc_txn *t);

/* Visits the live keys of the range at revision rev (<= 0: the txn's own revision; for a write
 * txn that includes its own writes).
 *   end_len == 0            the single key `key`
 *   end == "\0" (len 1)     every key >= key
 *   otherwise               [key, end); empty when end <= key
 * Errors: MVCC_ERR_COMPACTED when 0 < rev < compacted revision, MVCC_ERR_FUTURE_REV when
 * rev > the txn's revision, or the visitor's own negative value. */
int mvcc_txn_range(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                   size_t end_len, int64_t rev, mvcc_visit_fn fn, void *arg);

/* The latest version of one key as seen by the txn. *found = false when absent or deleted. The
 * views in *kv stay valid until the next call on this txn. */
int mvcc_txn_get(mvcc_txn *t, const uint8_t *key, size_t key_len, mvcc_kv *kv, bool *found);

/* Puts key=value with lease (0 = none). If prev is not NULL it is called with the previous
 * live version, if there was one, before the put. */
int mvcc_txn_put(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *value,
                 size_t value_len, int64_t lease, mvcc_visit_fn prev, void *prev_arg);

/* Deletes the live keys of the range (same range rules as mvcc_txn_range), calling prev (if
 * not NULL) with each one before it goes; *deleted counts them. */
int mvcc_txn_delete_range(mvcc_txn *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                          size_t end_len, mvcc_visit_fn prev, void *prev_arg, int64_t *deleted);

/* Ends a write txn: writes its changes, the new revision (only if something changed) and
 * applied_index in one unsynced RocksDB batch, then publishes the revision to readers.
 * `extra`, if not NULL, is more of the same batch (lease records, compaction mark, ...) and
 * is written with it. Returns the store's revision after the txn. For read txns, a no-op. */
int mvcc_txn_commit(mvcc_txn *t, uint64_t applied_index, rocksdb_writebatch_t *extra,
                    int64_t *rev_after);
/* Releases the txn (a write txn not committed is discarded). */
void mvcc_txn_end(mvcc_txn *t);

/* Marks revision rev compacted as part of the applying batch of a write txn (the caller checked
 * compacted < rev <= current). Reads below rev fail with MVCC_ERR_COMPACTED from then on. */
int mvcc_txn_compact(mvcc_txn *t, int64_t rev);
/* Physically removes the versions hidden by the compaction at rev (and their change records),
 * in bounded batches; safe to run on another thread beside the writer and readers. */
int mvcc_compact_physical(mvcc *m, int64_t rev);

/* Visits the changes of revisions [from_rev, to_rev] in order (revision, then op order within
 * it): for a put kv is the new version; for a delete kv has only key and mod_revision (the
 * delete's revision) and is_delete is set. For watch catch-up. */
typedef int (*mvcc_change_fn)(void *arg, const mvcc_kv *kv, bool is_delete);
int mvcc_changes(mvcc_txn *t, int64_t from_rev, int64_t to_rev, mvcc_change_fn fn, void *arg);

/* Immediate children of the directory `dir` (which ends in '/') at revision rev (<= 0: the
 * txn's): for each distinct next path component, in byte order of the child names, starting
 * after `after` (exclusive; the full child path as handed to fn, e.g. the last one of the
 * previous page; NULL or empty = from the start), at most limit (0 = all). is_key says the child
 * itself is a live key; has_children says it is a directory (some live key below child + "/").
 * A child with neither is not listed. fn returns 0 to go on, 1 to stop, < 0 to fail. The cost is
 * about one seek per child, not a scan of the subtree (mvcc_children.c says when it is more);
 * *seeks reports the RocksDB seeks made. child/child_len name the component including dir,
 * e.g. "/a/b". A dir not ending in '/' gives MVCC_ERR_INVALID. */
typedef int (*mvcc_child_fn)(void *arg, const uint8_t *child, size_t child_len, bool is_key,
                             bool has_children);
int mvcc_txn_list_children(mvcc_txn *t, const uint8_t *dir, size_t dir_len, const uint8_t *after,
                           size_t after_len, int64_t rev, int64_t limit, mvcc_child_fn fn,
                           void *arg, uint64_t *seeks);

#endif
