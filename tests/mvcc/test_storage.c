/* storage: the database opens with its column families and keeps what was written. */
#include "mvcc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_open_creates_every_column_family(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < STORAGE_CF_COUNT; i++) assert_non_null(f->st->cf[i]);
    char *err = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(f->st->options, f->dir, &n, &err);
    assert_null(err);
    assert_int_equal(n, STORAGE_CF_COUNT);
    rocksdb_list_column_families_destroy(names, n);
}

static void test_u64_written_in_a_batch_reads_back_after_reopen(void **state)
{
    fixture *f = *state;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    storage_batch_put_u64(b, f->st, STORAGE_CF_RAFTMETA, "term", 0x0102030405060708ULL);
    char *err = NULL;
    rocksdb_write(f->st->db, f->st->sync_wo, b, &err);
    assert_null(err);
    rocksdb_writebatch_destroy(b);
    fixture_reopen(f);
    uint64_t v = 0;
    int found = 0;
    assert_int_equal(storage_get_u64(f->st, STORAGE_CF_RAFTMETA, "term", &v, &found), 0);
    assert_true(found);
    assert_int_equal(v, 0x0102030405060708ULL);
}

static void test_missing_u64_is_reported_not_found(void **state)
{
    fixture *f = *state;
    uint64_t v = 1;
    int found = 1;
    assert_int_equal(storage_get_u64(f->st, STORAGE_CF_META, "nothing", &v, &found), 0);
    assert_false(found);
    assert_int_equal(v, 0);
}

static void test_disk_bytes_grow_with_written_data(void **state)
{
    fixture *f = *state;
    int64_t before = storage_disk_bytes(f->st);
    char value[4096];
    memset(value, 'x', sizeof(value));
    for (int i = 0; i < 64; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%03d", i);
        char *err = NULL;
        rocksdb_put_cf(f->st->db, f->st->nosync_wo, f->st->cf[STORAGE_CF_KV], key, strlen(key),
                       value, sizeof(value), &err);
        assert_null(err);
    }
    assert_true(storage_disk_bytes(f->st) >= before + 64 * 4096);
}

static void test_open_of_unusable_directory_fails_with_message(void **state)
{
    (void)state;
    storage *st = NULL;
    char *err = NULL;
    assert_int_equal(storage_open("/proc/coord-no-such-dir/x", &st, &err), -1);
    assert_non_null(err);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
        T(test_open_creates_every_column_family),
        T(test_u64_written_in_a_batch_reads_back_after_reopen),
        T(test_missing_u64_is_reported_not_found),
        T(test_disk_bytes_grow_with_written_data),
        T(test_open_of_unusable_directory_fails_with_message),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
