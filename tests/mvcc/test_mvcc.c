/* The MVCC rules of etcd 3.4, one rule per test, on a real RocksDB store in a temp dir. */
#include "mvcc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S(str) (const uint8_t *)(str), strlen(str)

static void test_fresh_store_is_at_revision_one(void **state)
{
    fixture *f = *state;
    assert_int_equal(mvcc_current_rev(f->m), 1);
    assert_int_equal(mvcc_compacted_rev(f->m), 0);
    assert_int_equal(mvcc_applied_index(f->m), 0);
}

static void test_first_put_gets_revision_two_as_create_and_mod_with_version_one(void **state)
{
    fixture *f = *state;
    assert_int_equal(put_str(f->m, "foo", "bar"), 2);
    kv_copy kv;
    bool found;
    assert_int_equal(get_at(f->m, "foo", 0, &kv, &found), 0);
    assert_true(found);
    assert_string_equal(kv.value, "bar");
    assert_int_equal(kv.create_revision, 2);
    assert_int_equal(kv.mod_revision, 2);
    assert_int_equal(kv.version, 1);
    kv_copy_free(&kv);
}

static void test_write_txn_with_several_puts_raises_revision_once(void **state)
{
    fixture *f = *state;
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, S("a"), S("1"), 0, NULL, NULL), 0);
    assert_int_equal(mvcc_txn_put(t, S("b"), S("2"), 0, NULL, NULL), 0);
    assert_int_equal(mvcc_txn_put(t, S("c"), S("3"), 0, NULL, NULL), 0);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    assert_int_equal(rev, 2);
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("a"), S("z"), 0, &l), 0);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < l.n; i++) assert_int_equal(l.items[i].mod_revision, 2);
    kv_list_free(&l);
}

static void test_put_on_existing_key_keeps_create_revision(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "v1");
    put_str(f->m, "other", "x");
    assert_int_equal(put_str(f->m, "k", "v2"), 4);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 0, &kv, &found);
    assert_true(found);
    assert_int_equal(kv.create_revision, 2);
    assert_int_equal(kv.mod_revision, 4);
    assert_int_equal(kv.version, 2);
    assert_string_equal(kv.value, "v2");
    kv_copy_free(&kv);
}

static void test_put_with_unchanged_value_still_raises_version_and_revision(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "same");
    assert_int_equal(put_str(f->m, "k", "same"), 3);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 0, &kv, &found);
    assert_int_equal(kv.version, 2);
    assert_int_equal(kv.mod_revision, 3);
    kv_copy_free(&kv);
}

static void test_delete_that_deletes_nothing_raises_no_revision(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    int64_t deleted = -1;
    assert_int_equal(del_range(f->m, S("b"), NULL, 0, &deleted), 2);
    assert_int_equal(deleted, 0);
    assert_int_equal(mvcc_current_rev(f->m), 2);
}

static void test_delete_raises_revision_once_for_all_keys_it_deletes(void **state)
{
    fixture *f = *state;
    put_str(f->m, "p/1", "1");
    put_str(f->m, "p/2", "2");
    put_str(f->m, "q", "3");
    int64_t deleted = 0;
    assert_int_equal(del_range(f->m, S("p/"), S("p0"), &deleted), 5);
    assert_int_equal(deleted, 2);
    kv_list l = {0};
    range_read(f->m, "\0", 1, "\0", 1, 0, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].key, "q");
    kv_list_free(&l);
}

static void test_deleted_key_stays_visible_at_earlier_revision(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "v");
    int64_t deleted;
    del_range(f->m, S("k"), NULL, 0, &deleted);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 0, &kv, &found);
    assert_false(found);
    get_at(f->m, "k", 2, &kv, &found);
    assert_true(found);
    assert_string_equal(kv.value, "v");
    kv_copy_free(&kv);
}

static void test_recreated_key_starts_at_version_one_with_new_create_revision(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "a");
    put_str(f->m, "k", "b");
    int64_t deleted;
    del_range(f->m, S("k"), NULL, 0, &deleted);
    assert_int_equal(put_str(f->m, "k", "c"), 5);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 0, &kv, &found);
    assert_int_equal(kv.version, 1);
    assert_int_equal(kv.create_revision, 5);
    assert_int_equal(kv.mod_revision, 5);
    kv_copy_free(&kv);
}

static void test_range_at_historical_revision_sees_the_state_then(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "a1"); /* 2 */
    put_str(f->m, "b", "b1"); /* 3 */
    put_str(f->m, "a", "a2"); /* 4 */
    int64_t d;
    del_range(f->m, S("b"), NULL, 0, &d); /* 5 */
    put_str(f->m, "c", "c1");             /* 6 */
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("a"), S("z"), 3, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].value, "a1");
    assert_string_equal(l.items[1].value, "b1");
    kv_list_free(&l);
    assert_int_equal(range_read(f->m, S("a"), S("z"), 5, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].value, "a2");
    kv_list_free(&l);
    assert_int_equal(range_read(f->m, S("a"), S("z"), 1, &l), 0);
    assert_int_equal(l.n, 0);
}

static void test_range_above_current_revision_fails_with_future_rev(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("a"), NULL, 0, 3, &l), MVCC_ERR_FUTURE_REV);
    assert_int_equal(range_read(f->m, S("a"), NULL, 0, 2, &l), 0);
    assert_int_equal(l.n, 1);
    kv_list_free(&l);
}

static void compact(mvcc *m, int64_t rev)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(m, &t), 0);
    assert_int_equal(mvcc_txn_compact(t, rev), 0);
    int64_t after;
    assert_int_equal(mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, &after), 0);
    mvcc_txn_end(t);
}

static void test_range_below_compacted_revision_fails_but_at_it_succeeds(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1"); /* 2 */
    put_str(f->m, "a", "2"); /* 3 */
    put_str(f->m, "a", "3"); /* 4 */
    compact(f->m, 3);
    assert_int_equal(mvcc_current_rev(f->m), 4);
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("a"), NULL, 0, 2, &l), MVCC_ERR_COMPACTED);
    assert_int_equal(range_read(f->m, S("a"), NULL, 0, 3, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].value, "2");
    kv_list_free(&l);
}

static void test_reopen_keeps_revision_compacted_revision_applied_index_and_data(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    put_str(f->m, "b", "2");
    compact(f->m, 2);
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 42, NULL, &rev), 0);
    mvcc_txn_end(t);
    fixture_reopen(f);
    assert_int_equal(mvcc_current_rev(f->m), 3);
    assert_int_equal(mvcc_compacted_rev(f->m), 2);
    assert_int_equal(mvcc_applied_index(f->m), 42);
    kv_copy kv;
    bool found;
    get_at(f->m, "b", 0, &kv, &found);
    assert_true(found);
    assert_int_equal(kv.mod_revision, 3);
    kv_copy_free(&kv);
    assert_int_equal(put_str(f->m, "c", "3"), 4);
}

static void test_commit_without_changes_keeps_revision_and_records_applied_index(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 7, NULL, &rev), 0);
    mvcc_txn_end(t);
    assert_int_equal(rev, 2);
    assert_int_equal(mvcc_applied_index(f->m), 7);
    fixture_reopen(f);
    assert_int_equal(mvcc_applied_index(f->m), 7);
    assert_int_equal(mvcc_current_rev(f->m), 2);
}

static void test_uncommitted_write_txn_leaves_no_trace(void **state)
{
    fixture *f = *state;
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, S("a"), S("1"), 0, NULL, NULL), 0);
    mvcc_txn_end(t);
    assert_int_equal(mvcc_current_rev(f->m), 1);
    kv_copy kv;
    bool found;
    get_at(f->m, "a", 0, &kv, &found);
    assert_false(found);
    assert_int_equal(put_str(f->m, "b", "2"), 2);
}

static void test_write_txn_reads_its_own_writes(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "old");
    put_str(f->m, "b", "gone");
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, S("a"), S("new"), 0, NULL, NULL), 0);
    assert_int_equal(mvcc_txn_put(t, S("c"), S("fresh"), 0, NULL, NULL), 0);
    int64_t d;
    assert_int_equal(mvcc_txn_delete_range(t, S("b"), NULL, 0, NULL, NULL, &d), 0);
    assert_int_equal(d, 1);
    mvcc_kv kv;
    bool found;
    assert_int_equal(mvcc_txn_get(t, S("a"), &kv, &found), 0);
    assert_true(found);
    assert_memory_equal(kv.value, "new", 3);
    assert_int_equal(kv.version, 2);
    assert_int_equal(kv.mod_revision, 4);
    assert_int_equal(mvcc_txn_get(t, S("b"), &kv, &found), 0);
    assert_false(found);
    kv_list l = {0};
    assert_int_equal(mvcc_txn_range(t, S("a"), S("z"), 0, kv_list_collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].value, "new");
    assert_string_equal(l.items[1].key, "c");
    kv_list_free(&l);
    /* a range at the revision before the txn does not see its writes */
    assert_int_equal(mvcc_txn_range(t, S("a"), S("z"), 3, kv_list_collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].value, "old");
    assert_string_equal(l.items[1].key, "b");
    kv_list_free(&l);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    assert_int_equal(rev, 4);
}

static void test_put_after_delete_in_same_txn_creates_the_key_anew(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "v");
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    int64_t d;
    assert_int_equal(mvcc_txn_delete_range(t, S("k"), NULL, 0, NULL, NULL, &d), 0);
    assert_int_equal(mvcc_txn_put(t, S("k"), S("w"), 0, NULL, NULL), 0);
    mvcc_kv kv;
    bool found;
    assert_int_equal(mvcc_txn_get(t, S("k"), &kv, &found), 0);
    assert_true(found);
    assert_int_equal(kv.version, 1);
    assert_int_equal(kv.create_revision, 3);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
}

struct commit_arg {
    mvcc *m;
    int done;
};

static void *commit_in_thread(void *p)
{
    struct commit_arg *a = p;
    put_str(a->m, "k", "new");
    a->done = 1;
    return NULL;
}

static void test_read_txn_keeps_seeing_its_revision_while_a_writer_commits(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "old");
    mvcc_txn *r;
    assert_int_equal(mvcc_read_begin(f->m, &r), 0);
    struct commit_arg a = {.m = f->m};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, commit_in_thread, &a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(a.done, 1);
    assert_int_equal(mvcc_current_rev(f->m), 3);
    assert_int_equal(mvcc_txn_rev(r), 2);
    kv_list l = {0};
    assert_int_equal(mvcc_txn_range(r, S("k"), NULL, 0, 0, kv_list_collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].value, "old");
    kv_list_free(&l);
    assert_int_equal(mvcc_txn_range(r, S("k"), NULL, 0, 3, kv_list_collect, &l),
                     MVCC_ERR_FUTURE_REV);
    mvcc_txn_end(r);
}

static void test_keys_with_zero_and_ff_bytes_sort_and_range_in_byte_order(void **state)
{
    fixture *f = *state;
    /* in byte order; "a" is a prefix of the next four */
    static const struct {
        const char *k;
        size_t n;
    } keys[] = {
        {"a", 1},     {"a\0", 2},   {"a\0\0", 3},     {"a\0\x01", 3},
        {"a\x01", 2}, {"a\xff", 2}, {"a\xff\xff", 3}, {"b\0b", 3},
    };
    size_t nkeys = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = nkeys; i-- > 0;) put_bytes(f->m, keys[i].k, keys[i].n, "v", 1, 0);
    kv_list l = {0};
    assert_int_equal(range_read(f->m, "\0", 1, "\0", 1, 0, &l), 0);
    assert_int_equal(l.n, nkeys);
    for (size_t i = 0; i < nkeys; i++) {
        assert_int_equal(l.items[i].key_len, keys[i].n);
        assert_memory_equal(l.items[i].key, keys[i].k, keys[i].n);
    }
    kv_list_free(&l);
    /* [a\0, a\x01) holds exactly the three keys starting a\0 */
    assert_int_equal(range_read(f->m, "a\0", 2, "a\x01", 2, 0, &l), 0);
    assert_int_equal(l.n, 3);
    assert_memory_equal(l.items[2].key, "a\0\x01", 3);
    kv_list_free(&l);
    /* single-key reads do not pick up longer keys */
    assert_int_equal(range_read(f->m, "a\0", 2, NULL, 0, 0, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].key_len, 2);
    kv_list_free(&l);
    assert_int_equal(range_read(f->m, "a\xff", 2, "b", 1, 0, &l), 0);
    assert_int_equal(l.n, 2);
    kv_list_free(&l);
}

static void test_key_that_is_prefix_of_another_keeps_its_own_history(void **state)
{
    fixture *f = *state;
    put_str(f->m, "ab", "1");             /* 2 */
    put_str(f->m, "a", "1");              /* 3 */
    put_str(f->m, "ab", "2");             /* 4 */
    put_bytes(f->m, "a\0", 2, "z", 1, 0); /* 5 */
    put_str(f->m, "a", "2");              /* 6 */
    kv_copy kv;
    bool found;
    get_at(f->m, "a", 5, &kv, &found);
    assert_true(found);
    assert_string_equal(kv.value, "1");
    assert_int_equal(kv.mod_revision, 3);
    kv_copy_free(&kv);
    get_at(f->m, "ab", 3, &kv, &found);
    assert_true(found);
    assert_string_equal(kv.value, "1");
    kv_copy_free(&kv);
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("a"), S("b"), 0, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.items[0].version, 2);
    assert_int_equal(l.items[1].key_len, 2);
    assert_string_equal(l.items[2].key, "ab");
    kv_list_free(&l);
}

static void test_range_end_of_single_zero_byte_reads_every_key_from_key(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    put_str(f->m, "b", "2");
    put_str(f->m, "c", "3");
    put_str(f->m, "\xff\xff", "4");
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("b"), "\0", 1, 0, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].key, "b");
    assert_string_equal(l.items[2].key, "\xff\xff");
    kv_list_free(&l);
}

static void test_range_end_at_or_before_key_is_empty(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    put_str(f->m, "b", "2");
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("b"), S("b"), 0, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(range_read(f->m, S("b"), S("a"), 0, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(range_read(f->m, S("a"), S("b"), 0, &l), 0);
    assert_int_equal(l.n, 1);
    kv_list_free(&l);
}

static int stop_after_two(void *arg, const mvcc_kv *kv)
{
    kv_list *l = arg;
    kv_list_collect(l, kv);
    return l->n == 2 ? 1 : 0;
}

static void test_visitor_returning_one_stops_the_range_without_error(void **state)
{
    fixture *f = *state;
    for (char c = 'a'; c <= 'e'; c++) put_str(f->m, (char[]){c, 0}, "v");
    mvcc_txn *t;
    assert_int_equal(mvcc_read_begin(f->m, &t), 0);
    kv_list l = {0};
    assert_int_equal(mvcc_txn_range(t, S("a"), (const uint8_t *)"\0", 1, 0, stop_after_two, &l), 0);
    assert_int_equal(l.n, 2);
    kv_list_free(&l);
    mvcc_txn_end(t);
}

static void test_put_reports_the_previous_live_version(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "first");
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    kv_list prev = {0};
    assert_int_equal(mvcc_txn_put(t, S("k"), S("second"), 0, kv_list_collect, &prev), 0);
    assert_int_equal(mvcc_txn_put(t, S("new"), S("x"), 0, kv_list_collect, &prev), 0);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    assert_int_equal(prev.n, 1);
    assert_string_equal(prev.items[0].key, "k");
    assert_string_equal(prev.items[0].value, "first");
    assert_int_equal(prev.items[0].mod_revision, 2);
    kv_list_free(&prev);
}

static void test_delete_range_reports_each_deleted_key_and_counts_them(void **state)
{
    fixture *f = *state;
    put_str(f->m, "d/1", "a");
    put_str(f->m, "d/2", "b");
    put_str(f->m, "d/3", "c");
    int64_t d;
    del_range(f->m, S("d/2"), NULL, 0, &d);
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    kv_list prev = {0};
    assert_int_equal(mvcc_txn_delete_range(t, S("d/"), S("d0"), kv_list_collect, &prev, &d), 0);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    assert_int_equal(d, 2);
    assert_int_equal(prev.n, 2);
    assert_string_equal(prev.items[0].value, "a");
    assert_string_equal(prev.items[1].value, "c");
    kv_list_free(&prev);
}

static void test_put_stores_lease_and_next_put_replaces_it(void **state)
{
    fixture *f = *state;
    put_bytes(f->m, "k", 1, "v", 1, 0x694d);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 0, &kv, &found);
    assert_int_equal(kv.lease, 0x694d);
    kv_copy_free(&kv);
    put_bytes(f->m, "k", 1, "v", 1, 0);
    get_at(f->m, "k", 0, &kv, &found);
    assert_int_equal(kv.lease, 0);
    kv_copy_free(&kv);
}

static void test_empty_value_is_stored_as_live_key(void **state)
{
    fixture *f = *state;
    put_bytes(f->m, "k", 1, "", 0, 0);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 0, &kv, &found);
    assert_true(found);
    assert_int_equal(kv.value_len, 0);
    kv_copy_free(&kv);
}

static void test_commit_writes_the_extra_batch_in_the_same_write(void **state)
{
    fixture *f = *state;
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, S("a"), S("1"), 0, NULL, NULL), 0);
    rocksdb_writebatch_t *extra = rocksdb_writebatch_create();
    storage_batch_put_u64(extra, f->st, STORAGE_CF_LEASE, "lease-x", 99);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 5, extra, &rev), 0);
    rocksdb_writebatch_destroy(extra);
    mvcc_txn_end(t);
    fixture_reopen(f);
    uint64_t v;
    int found;
    assert_int_equal(storage_get_u64(f->st, STORAGE_CF_LEASE, "lease-x", &v, &found), 0);
    assert_true(found);
    assert_int_equal(v, 99);
    assert_int_equal(mvcc_current_rev(f->m), 2);
    assert_int_equal(mvcc_applied_index(f->m), 5);
    kv_copy kv;
    bool live;
    get_at(f->m, "a", 0, &kv, &live);
    assert_true(live);
    kv_copy_free(&kv);
}

static void test_write_on_read_txn_is_refused(void **state)
{
    fixture *f = *state;
    mvcc_txn *t;
    assert_int_equal(mvcc_read_begin(f->m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, S("a"), S("1"), 0, NULL, NULL), MVCC_ERR_INVALID);
    mvcc_txn_end(t);
}

struct change_copy {
    char key[16];
    int64_t rev, version;
    bool is_delete;
};

struct change_list {
    struct change_copy c[16];
    size_t n;
};

static int collect_change(void *arg, const mvcc_kv *kv, bool is_delete)
{
    struct change_list *l = arg;
    assert_true(l->n < 16);
    struct change_copy *c = &l->c[l->n++];
    assert_true(kv->key_len < sizeof(c->key));
    memcpy(c->key, kv->key, kv->key_len);
    c->key[kv->key_len] = 0;
    c->rev = kv->mod_revision;
    c->version = kv->version;
    c->is_delete = is_delete;
    return 0;
}

static void test_changes_are_visited_in_revision_then_op_order(void **state)
{
    fixture *f = *state;
    put_str(f->m, "z", "1"); /* 2 */
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0); /* 3: z, b, a (op order, not key order) */
    assert_int_equal(mvcc_txn_put(t, S("z"), S("2"), 0, NULL, NULL), 0);
    assert_int_equal(mvcc_txn_put(t, S("b"), S("1"), 0, NULL, NULL), 0);
    assert_int_equal(mvcc_txn_put(t, S("a"), S("1"), 0, NULL, NULL), 0);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    int64_t d;
    del_range(f->m, S("a"), S("c"), &d); /* 4: a, b */
    struct change_list l = {0};
    mvcc_txn *r;
    assert_int_equal(mvcc_read_begin(f->m, &r), 0);
    assert_int_equal(mvcc_changes(r, 2, 4, collect_change, &l), 0);
    mvcc_txn_end(r);
    static const struct change_copy want[] = {
        {"z", 2, 1, false}, {"z", 3, 2, false}, {"b", 3, 1, false},
        {"a", 3, 1, false}, {"a", 4, 0, true},  {"b", 4, 0, true},
    };
    assert_int_equal(l.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(l.c[i].key, want[i].key);
        assert_int_equal(l.c[i].rev, want[i].rev);
        assert_int_equal(l.c[i].version, want[i].version);
        assert_int_equal(l.c[i].is_delete, want[i].is_delete);
    }
}

static void test_changes_from_a_later_revision_skip_earlier_ones(void **state)
{
    fixture *f = *state;
    put_str(f->m, "a", "1");
    put_str(f->m, "b", "1");
    put_str(f->m, "c", "1");
    struct change_list l = {0};
    mvcc_txn *r;
    assert_int_equal(mvcc_read_begin(f->m, &r), 0);
    assert_int_equal(mvcc_changes(r, 3, 100, collect_change, &l), 0);
    mvcc_txn_end(r);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.c[0].key, "b");
    assert_string_equal(l.c[1].key, "c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
        T(test_fresh_store_is_at_revision_one),
        T(test_first_put_gets_revision_two_as_create_and_mod_with_version_one),
        T(test_write_txn_with_several_puts_raises_revision_once),
        T(test_put_on_existing_key_keeps_create_revision),
        T(test_put_with_unchanged_value_still_raises_version_and_revision),
        T(test_delete_that_deletes_nothing_raises_no_revision),
        T(test_delete_raises_revision_once_for_all_keys_it_deletes),
        T(test_deleted_key_stays_visible_at_earlier_revision),
        T(test_recreated_key_starts_at_version_one_with_new_create_revision),
        T(test_range_at_historical_revision_sees_the_state_then),
        T(test_range_above_current_revision_fails_with_future_rev),
        T(test_range_below_compacted_revision_fails_but_at_it_succeeds),
        T(test_reopen_keeps_revision_compacted_revision_applied_index_and_data),
        T(test_commit_without_changes_keeps_revision_and_records_applied_index),
        T(test_uncommitted_write_txn_leaves_no_trace),
        T(test_write_txn_reads_its_own_writes),
        T(test_put_after_delete_in_same_txn_creates_the_key_anew),
        T(test_read_txn_keeps_seeing_its_revision_while_a_writer_commits),
        T(test_keys_with_zero_and_ff_bytes_sort_and_range_in_byte_order),
        T(test_key_that_is_prefix_of_another_keeps_its_own_history),
        T(test_range_end_of_single_zero_byte_reads_every_key_from_key),
        T(test_range_end_at_or_before_key_is_empty),
        T(test_visitor_returning_one_stops_the_range_without_error),
        T(test_put_reports_the_previous_live_version),
        T(test_delete_range_reports_each_deleted_key_and_counts_them),
        T(test_put_stores_lease_and_next_put_replaces_it),
        T(test_empty_value_is_stored_as_live_key),
        T(test_commit_writes_the_extra_batch_in_the_same_write),
        T(test_write_on_read_txn_is_refused),
        T(test_changes_are_visited_in_revision_then_op_order),
        T(test_changes_from_a_later_revision_skip_earlier_ones),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
