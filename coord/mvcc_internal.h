/* mvcc_internal: the store and transaction structures shared by mvcc.c (transactions, ranges,
 * writes), mvcc_compact.c (physical compaction) and mvcc_children.c (directory listing), and
 * the cursor they all read the kv column family through. Not for use outside the mvcc files.
 */
#ifndef COORD_MVCC_INTERNAL_H
#define COORD_MVCC_INTERNAL_H

#include "mvcc.h"
#include "mvcc_key.h"

#include <pthread.h>

/* Keys of STORAGE_CF_META, each a be64. */
#define MVCC_META_REV          "rev"          /* current revision */
#define MVCC_META_COMPACTED    "compacted"    /* compacted revision (logical) */
#define MVCC_META_COMPACT_DONE "compact_done" /* compaction physically finished up to */
#define MVCC_META_APPLIED      "applied"      /* applied log index */

/* Change records: be64 revision ‖ be32 sub -> kind byte ‖ be64 prev ‖ user key, where prev is
 * the revision of the key's version this change replaced (live or tombstone; 0 when the key
 * had none). prev lets compaction delete the versions a change hid without reading them. */
#define MVCC_CHANGE_KEY_BYTES 12
#define MVCC_CHANGE_HEADER    9
#define MVCC_CHANGE_PUT       0
#define MVCC_CHANGE_DELETE    1

struct mvcc {
    storage *st;
    /* Guards the published state below: readers take a snapshot and the revision together
     * under it, so a read txn never sees a revision whose data is missing from its snapshot. */
    pthread_mutex_t lock;
    int64_t current_rev;   /* >= 1; the newest revision whose data is written */
    int64_t compacted_rev; /* 0 until the first compaction; reads below it fail */
    int64_t compact_done;  /* <= compacted_rev; versions hidden at it are physically gone */
    uint64_t applied_index;
    /* Held by the one write txn from begin to end, so writers are serial by construction. */
    pthread_mutex_t write_lock;
    /* Serialises physical compactions with each other (not with readers or the writer). */
    pthread_mutex_t compact_lock;
};

struct mvcc_txn {
    mvcc *m;
    bool write;
    bool committed;
    int64_t rev;               /* read txn: the revision seen; write txn: the revision before it */
    int64_t compacted;         /* compacted revision when the txn began */
    rocksdb_readoptions_t *ro; /* with snap for a read txn; latest state for a write */
    const rocksdb_snapshot_t *snap;  /* read txn only */
    rocksdb_writebatch_wi_t *batch;  /* write txn only: its changes, indexed for reads */
    uint32_t sub;                    /* next sub-index of a change in this txn */
    int64_t compact_rev;             /* > 0 when this txn marks a compaction */
    rocksdb_iterator_t *point_it;    /* lazily made; base DB (snapshot for read txns) */
    mvcc_buf point_key, point_val;   /* mvcc_txn_get / version lookups copy here */
    mvcc_buf scratch, scratch2, rec; /* reusable encodings */
    mvcc_buf user_key;               /* decoded keys handed to visitors */
};

/* A bounded iterator over one column family as the txn sees it (a write txn's own writes
 * included). The bounds live as long as the iterator, as RocksDB requires. */
typedef struct mvcc_cursor {
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
    mvcc_buf lower, upper; /* upper.len == 0: unbounded */
    mvcc_buf prefix;       /* scratch: the prefix of the key being stepped over */
    uint64_t seeks;        /* rocksdb_iter_seek calls made */
} mvcc_cursor;

int mvcc_cursor_open(mvcc_txn *t, enum storage_cf cf, const uint8_t *lower, size_t lower_len,
                     const uint8_t *upper, size_t upper_len, mvcc_cursor *c);
void mvcc_cursor_close(mvcc_cursor *c);
void mvcc_cursor_seek(mvcc_cursor *c, const uint8_t *k, size_t n);
/* Valid and below the upper bound (checked here too: a write batch's own entries are not cut
 * by the base iterator's bound). */
bool mvcc_cursor_valid(mvcc_cursor *c);
const uint8_t *mvcc_cursor_key(mvcc_cursor *c, size_t *len);
const uint8_t *mvcc_cursor_value(mvcc_cursor *c, size_t *len);
int mvcc_cursor_error(mvcc_cursor *c);
/* On a kv cursor standing at the newest version of some key: moves to that key's newest
 * version <= at. Returns 1 when there is one (the cursor stands on it), 0 when the key has
 * none (the cursor stands on the next key's newest version, or is invalid), < 0 on error. */
int mvcc_cursor_settle(mvcc_cursor *c, int64_t at);
/* Moves a kv cursor past every version of the key it stands on. */
int mvcc_cursor_skip_key(mvcc_cursor *c);

/* The revision a txn reads when asked for rev <= 0, and the checks of an explicit one. */
int mvcc_txn_read_rev(mvcc_txn *t, int64_t rev, int64_t *at);

#endif
