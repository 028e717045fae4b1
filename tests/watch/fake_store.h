/* fake_store: an in-memory revisioned store and a recording sink for the hub's tests.
 *
 * The store keeps every change (etcd's rules: one revision per write transaction, versions,
 * tombstones) and a compacted revision; its reader is thread-safe and its views see the
 * revision they were opened at. The sink records every response it is given (deep copies) and
 * reports a backlog the test sets.
 */
#ifndef COORD_TESTS_FAKE_STORE_H
#define COORD_TESTS_FAKE_STORE_H

#include "watch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fake_change {
    int64_t rev;
    bool del;
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    int64_t create_rev, version;
} fake_change;

typedef struct fake_store {
    pthread_mutex_t mu;
    fake_change *ch;
    size_t n, cap;
    int64_t rev;       /* current revision (1 when fresh, as etcd) */
    int64_t compacted; /* 0: nothing compacted */
    size_t in_txn;     /* changes of the open transaction (at rev + 1) */
    int fail_opens;    /* the next opens fail with WATCH_ERR_IO */
    int opens;         /* views opened so far */
} fake_store;

void fs_init(fake_store *fs);
void fs_free(fake_store *fs);
watch_reader fs_reader(fake_store *fs);
/* One write each: a new revision (a delete of an absent key writes nothing). */
int64_t fs_put(fake_store *fs, const char *key, const char *value);
int64_t fs_put_n(fake_store *fs, const char *key, const char *value, size_t value_len);
int64_t fs_del(fake_store *fs, const char *key);
/* Several changes in one revision. */
void fs_txn_begin(fake_store *fs);
void fs_txn_put(fake_store *fs, const char *key, const char *value);
void fs_txn_del(fake_store *fs, const char *key);
int64_t fs_txn_end(fake_store *fs);
void fs_compact(fake_store *fs, int64_t rev);

typedef struct rec_event {
    int type;
    char *key;
    char *value;
    size_t value_len;
    int64_t mod_rev, create_rev, version;
    bool has_prev;
    char *prev_value;
    int64_t prev_mod_rev;
} rec_event;

typedef struct rec_resp {
    int64_t watch_id, revision, compact_revision;
    bool created, canceled, fragment;
    char *reason;
    rec_event *evs;
    size_t n;
} rec_resp;

typedef struct fake_sink {
    pthread_mutex_t mu;
    rec_resp *v;
    size_t n, cap;
    size_t backlog; /* what backlog() reports */
    size_t sends;
} fake_sink;

void sink_init(fake_sink *s);
void sink_free(fake_sink *s);
void sink_clear(fake_sink *s);
const watch_sink *sink_ops(void);
size_t sink_count(fake_sink *s);

#endif
