/* Compaction: the state as of R stays, what R hides goes, physically and in bounded batches. */
#include "mvcc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(str) (const uint8_t *)(str), strlen(str)

static void compact(mvcc *m, int64_t rev)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(m, &t), 0);
    assert_int_equal(mvcc_txn_compact(t, rev), 0);
    int64_t after;
    assert_int_equal(mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, &after), 0);
    mvcc_txn_end(t);
}

/* RocksDB entries in a column family (every version, tombstones included). */
static size_t raw_entries(storage *st, enum storage_cf cf)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[cf]);
    size_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) n++;
    rocksdb_iter_destroy(it);
    return n;
}

static void assert_same_lists(const kv_list *a, const kv_list *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->items[i].key_len, b->items[i].key_len);
        assert_memory_equal(a->items[i].key, b->items[i].key, a->items[i].key_len);
        assert_int_equal(a->items[i].value_len, b->items[i].value_len);
        assert_memory_equal(a->items[i].value, b->items[i].value, a->items[i].value_len);
        assert_int_equal(a->items[i].mod_revision, b->items[i].mod_revision);
        assert_int_equal(a->items[i].create_revision, b->items[i].create_revision);
        assert_int_equal(a->items[i].version, b->items[i].version);
    }
}

/* A small history: a has 3 versions, b is deleted, c is deleted and re-created, d is new
 * after the compaction point. Returns the revision to compact at. */
static int64_t build_history(mvcc *m)
{
    int64_t d;
    put_str(m, "a", "a1");             /* 2 */
    put_str(m, "b", "b1");             /* 3 */
    put_str(m, "a", "a2");             /* 4 */
    del_range(m, S("b"), NULL, 0, &d); /* 5 */
    put_str(m, "c", "c1");             /* 6 */
    del_range(m, S("c"), NULL, 0, &d); /* 7 */
    put_str(m, "c", "c2");             /* 8 */
    put_str(m, "a", "a3");             /* 9: after the compaction point */
    put_str(m, "d", "d1");             /* 10 */
    return 8;
}

static void test_compaction_keeps_the_state_as_of_its_revision(void **state)
{
    fixture *f = *state;
    int64_t at = build_history(f->m);
    kv_list before_at = {0}, before_now = {0}, after_at = {0}, after_now = {0};
    assert_int_equal(range_read(f->m, "\0", 1, "\0", 1, at, &before_at), 0);
    assert_int_equal(range_read(f->m, "\0", 1, "\0", 1, 0, &before_now), 0);
    compact(f->m, at);
    assert_int_equal(mvcc_compact_physical(f->m, at), 0);
    assert_int_equal(range_read(f->m, "\0", 1, "\0", 1, at, &after_at), 0);
    assert_int_equal(range_read(f->m, "\0", 1, "\0", 1, 0, &after_now), 0);
    assert_same_lists(&before_at, &after_at);
    assert_same_lists(&before_now, &after_now);
    assert_int_equal(after_at.n, 2); /* a2, c2 */
    kv_list_free(&before_at);
    kv_list_free(&before_now);
    kv_list_free(&after_at);
    kv_list_free(&after_now);
}

static void
test_physical_compaction_removes_versions_and_tombstones_hidden_at_its_revision(void **state)
{
    fixture *f = *state;
    int64_t at = build_history(f->m);
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), 9);
    compact(f->m, at);
    assert_int_equal(mvcc_compact_physical(f->m, at), 0);
    /* left: a2 (newest <= 8), a3 (> 8), c2, d1; gone: a1, b1, b's tombstone, c1, c's tombstone */
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), 4);
    assert_int_equal(mvcc_compact_done_rev(f->m), at);
}

static void test_physical_compaction_keeps_change_records_from_its_revision_on(void **state)
{
    fixture *f = *state;
    int64_t at = build_history(f->m);
    compact(f->m, at);
    assert_int_equal(mvcc_compact_physical(f->m, at), 0);
    assert_int_equal(raw_entries(f->st, STORAGE_CF_CHANGES), 3); /* revisions 8, 9, 10 */
}

static int count_change(void *arg, const mvcc_kv *kv, bool is_delete)
{
    (void)kv, (void)is_delete;
    (*(int *)arg)++;
    return 0;
}

static void test_changes_below_compacted_revision_fail_and_from_it_succeed(void **state)
{
    fixture *f = *state;
    int64_t at = build_history(f->m);
    compact(f->m, at);
    assert_int_equal(mvcc_compact_physical(f->m, at), 0);
    mvcc_txn *t;
    assert_int_equal(mvcc_read_begin(f->m, &t), 0);
    int n = 0;
    assert_int_equal(mvcc_changes(t, at - 1, 100, count_change, &n), MVCC_ERR_COMPACTED);
    assert_int_equal(mvcc_changes(t, at, 100, count_change, &n), 0);
    assert_int_equal(n, 3);
    mvcc_txn_end(t);
}

static void test_physical_compaction_above_compacted_revision_is_refused(void **state)
{
    fixture *f = *state;
    build_history(f->m);
    compact(f->m, 4);
    assert_int_equal(mvcc_compact_physical(f->m, 5), MVCC_ERR_FUTURE_REV);
}

static void
test_unfinished_physical_compaction_is_visible_after_reopen_and_can_be_finished(void **state)
{
    fixture *f = *state;
    int64_t at = build_history(f->m);
    compact(f->m, at);
    fixture_reopen(f);
    assert_int_equal(mvcc_compacted_rev(f->m), at);
    assert_int_equal(mvcc_compact_done_rev(f->m), 0);
    assert_int_equal(mvcc_compact_physical(f->m, at), 0);
    fixture_reopen(f);
    assert_int_equal(mvcc_compact_done_rev(f->m), at);
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), 4);
}

static void test_second_compaction_removes_versions_hidden_since_the_first(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "1"); /* 2 */
    put_str(f->m, "k", "2"); /* 3 */
    compact(f->m, 3);
    assert_int_equal(mvcc_compact_physical(f->m, 3), 0);
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), 1);
    put_str(f->m, "k", "3"); /* 4 */
    put_str(f->m, "j", "1"); /* 5 */
    compact(f->m, 5);
    assert_int_equal(mvcc_compact_physical(f->m, 5), 0);
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), 2);
    kv_copy kv;
    bool found;
    get_at(f->m, "k", 5, &kv, &found);
    assert_true(found);
    assert_string_equal(kv.value, "3");
    assert_int_equal(kv.version, 3);
    assert_int_equal(kv.create_revision, 2);
    kv_copy_free(&kv);
}

static void test_long_history_of_one_key_is_removed_entirely(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 50; i++) put_str(f->m, "hot", "v"); /* revisions 2..51 */
    put_str(f->m, "cold", "v");                             /* 52 */
    compact(f->m, 40);
    assert_int_equal(mvcc_compact_physical(f->m, 40), 0);
    /* hot keeps 40..51 (12 versions), cold keeps its one */
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), 13);
    kv_copy kv;
    bool found;
    get_at(f->m, "hot", 40, &kv, &found);
    assert_true(found);
    assert_int_equal(kv.version, 39);
    kv_copy_free(&kv);
}

static void test_read_txn_begun_before_a_compaction_still_reads_below_it(void **state)
{
    fixture *f = *state;
    put_str(f->m, "k", "1"); /* 2 */
    put_str(f->m, "k", "2"); /* 3 */
    mvcc_txn *r;
    assert_int_equal(mvcc_read_begin(f->m, &r), 0);
    put_str(f->m, "k", "3"); /* 4 */
    compact(f->m, 4);
    assert_int_equal(mvcc_compact_physical(f->m, 4), 0);
    kv_list l = {0};
    assert_int_equal(mvcc_txn_range(r, S("k"), NULL, 0, 2, kv_list_collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].value, "1");
    kv_list_free(&l);
    mvcc_txn_end(r);
    assert_int_equal(range_read(f->m, S("k"), NULL, 0, 2, &l), MVCC_ERR_COMPACTED);
}

struct compactor {
    mvcc *m;
    int64_t rev;
    int rc;
};

static void *compact_in_thread(void *p)
{
    struct compactor *c = p;
    c->rc = mvcc_compact_physical(c->m, c->rev);
    return NULL;
}

static void test_physical_compaction_runs_beside_the_writer_and_readers(void **state)
{
    fixture *f = *state;
    enum { KEYS = 3000, ROUNDS = 3 };
    char key[32], val[32];
    for (int round = 0; round < ROUNDS; round++) {
        mvcc_txn *t;
        assert_int_equal(mvcc_write_begin(f->m, &t), 0);
        for (int i = 0; i < KEYS; i++) {
            snprintf(key, sizeof(key), "key/%05d", i);
            snprintf(val, sizeof(val), "r%d", round);
            assert_int_equal(mvcc_txn_put(t, S(key), S(val), 0, NULL, NULL), 0);
        }
        int64_t rev;
        assert_int_equal(mvcc_txn_commit(t, (uint64_t)round + 1, NULL, &rev), 0);
        mvcc_txn_end(t);
    }
    int64_t at = mvcc_current_rev(f->m); /* 4: every key has versions 2, 3, 4 */
    compact(f->m, at);
    struct compactor c = {.m = f->m, .rev = at, .rc = 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, compact_in_thread, &c), 0);
    /* meanwhile: the writer overwrites half the keys, a reader checks the state at `at` */
    for (int i = 0; i < KEYS; i += 2) {
        snprintf(key, sizeof(key), "key/%05d", i);
        put_str(f->m, key, "later");
    }
    kv_list l = {0};
    assert_int_equal(range_read(f->m, S("key/"), S("key0"), at, &l), 0);
    assert_int_equal(l.n, KEYS);
    for (size_t i = 0; i < l.n; i++) assert_string_equal(l.items[i].value, "r2");
    kv_list_free(&l);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.rc, 0);
    assert_int_equal(raw_entries(f->st, STORAGE_CF_KV), KEYS + KEYS / 2);
    assert_int_equal(range_read(f->m, S("key/"), S("key0"), 0, &l), 0);
    assert_int_equal(l.n, KEYS);
    for (size_t i = 0; i < l.n; i++)
        assert_string_equal(l.items[i].value, i % 2 == 0 ? "later" : "r2");
    kv_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
        T(test_compaction_keeps_the_state_as_of_its_revision),
        T(test_physical_compaction_removes_versions_and_tombstones_hidden_at_its_revision),
        T(test_physical_compaction_keeps_change_records_from_its_revision_on),
        T(test_changes_below_compacted_revision_fail_and_from_it_succeed),
        T(test_physical_compaction_above_compacted_revision_is_refused),
        T(test_unfinished_physical_compaction_is_visible_after_reopen_and_can_be_finished),
        T(test_second_compaction_removes_versions_hidden_since_the_first),
        T(test_long_history_of_one_key_is_removed_entirely),
        T(test_read_txn_begun_before_a_compaction_still_reads_below_it),
        T(test_physical_compaction_runs_beside_the_writer_and_readers),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
