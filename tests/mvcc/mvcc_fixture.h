/* mvcc_fixture: a store in a fresh temp directory per test, and small helpers that turn the
 * callback API into copies a test can assert on. */
#ifndef TESTS_MVCC_FIXTURE_H
#define TESTS_MVCC_FIXTURE_H

#include "mvcc.h"
#include "storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fixture {
    char dir[64];
    storage *st;
    mvcc *m;
} fixture;

/* cmocka setup/teardown: *state is a fixture. */
int fixture_setup(void **state);
int fixture_teardown(void **state);
/* Closes and reopens the store in the same directory. */
void fixture_reopen(fixture *f);

/* An owned copy of an mvcc_kv. */
typedef struct kv_copy {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
} kv_copy;

typedef struct kv_list {
    kv_copy *items;
    size_t n, cap;
} kv_list;

int kv_list_collect(void *arg, const mvcc_kv *kv); /* an mvcc_visit_fn appending to a kv_list */
void kv_list_free(kv_list *l);

/* One write txn holding one put / one delete, committed. Returns the revision after it. */
int64_t put_str(mvcc *m, const char *key, const char *value);
int64_t put_bytes(mvcc *m, const void *key, size_t key_len, const void *value, size_t value_len,
                  int64_t lease);
int64_t del_range(mvcc *m, const void *key, size_t key_len, const void *end, size_t end_len,
                  int64_t *deleted);
/* Reads a range in a fresh read txn; returns the mvcc return code. */
int range_read(mvcc *m, const void *key, size_t key_len, const void *end, size_t end_len,
               int64_t rev, kv_list *out);
/* The single key at rev (0 = latest); *found says whether it is live. */
int get_at(mvcc *m, const char *key, int64_t rev, kv_copy *out, bool *found);
void kv_copy_free(kv_copy *c);

#endif
