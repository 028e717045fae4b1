/* lease_store: leases and their attached keys in STORAGE_CF_LEASE, on a real store in a
 * temporary directory, reopened to play a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_store.h"

static int64_t zero_clock(void *arg)
{
    (void)arg;
    return 1000;
}

struct fixture {
    char dir[64];
    storage *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    strcpy(f->dir, "/tmp/coord-leasestore-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    char *err = NULL;
    if (storage_open(f->dir, &f->st, &err) != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    storage_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static void write(struct fixture *f, rocksdb_writebatch_t *b)
{
    char *err = NULL;
    rocksdb_write(f->st->db, f->st->nosync_wo, b, &err);
    assert_null(err);
    rocksdb_writebatch_destroy(b);
}

static void restart(struct fixture *f)
{
    storage_close(f->st);
    char *err = NULL;
    assert_int_equal(storage_open(f->dir, &f->st, &err), 0);
}

static lease_table *table(void)
{
    lease_table_opts o = {.now_ms = zero_clock, .min_ttl = 1};
    lease_table *t;
    assert_int_equal(lease_table_create(&o, &t), LEASE_OK);
    return t;
}

struct keys {
    char seen[16][32];
    size_t n;
};

static int collect(void *arg, const uint8_t *key, size_t len)
{
    struct keys *k = arg;
    if (k->n == 16 || len >= 32) return -1;
    memcpy(k->seen[k->n], key, len);
    k->seen[k->n++][len] = 0;
    return 0;
}

static void attach(struct fixture *f, int64_t id, const char *key)
{
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    assert_int_equal(lease_store_attach(b, f->st, id, (const uint8_t *)key, strlen(key)), 0);
    write(f, b);
}

static void test_a_restart_restores_every_lease_with_its_ttls(void **state)
{
    struct fixture *f = *state;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    lease_store_put(b, f->st, 7, 60, 0);
    lease_store_put(b, f->st, 9, 600, 45);
    write(f, b);
    restart(f);
    lease_table *t = table();
    char *err = NULL;
    assert_int_equal(lease_store_load(f->st, t, &err), 0);
    assert_int_equal(lease_table_count(t), 2);
    lease_info info;
    assert_int_equal(lease_table_lookup(t, 9, &info), LEASE_OK);
    assert_int_equal(info.ttl, 600);
    assert_int_equal(info.remaining_ttl, 45);
    assert_int_equal(lease_table_lookup(t, 7, &info), LEASE_OK);
    assert_int_equal(info.ttl, 60);
    assert_int_equal(info.remaining_ttl, 0);
    lease_table_destroy(t);
}

static void test_attached_keys_are_not_taken_for_leases_at_restart(void **state)
{
    struct fixture *f = *state;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    lease_store_put(b, f->st, 7, 60, 0);
    write(f, b);
    attach(f, 7, "a");
    attach(f, 7, "b");
    restart(f);
    lease_table *t = table();
    assert_int_equal(lease_store_load(f->st, t, NULL), 0);
    assert_int_equal(lease_table_count(t), 1);
    lease_table_destroy(t);
}

static void test_a_lease_lists_its_keys_in_key_order(void **state)
{
    struct fixture *f = *state;
    attach(f, 7, "svc/b");
    attach(f, 7, "svc/a");
    attach(f, 8, "other");
    struct keys k = {0};
    assert_int_equal(lease_store_keys(f->st, 7, collect, &k), 0);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.seen[0], "svc/a");
    assert_string_equal(k.seen[1], "svc/b");
}

static void test_a_detached_key_is_no_longer_listed(void **state)
{
    struct fixture *f = *state;
    attach(f, 7, "a");
    attach(f, 7, "b");
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    assert_int_equal(lease_store_detach(b, f->st, 7, (const uint8_t *)"a", 1), 0);
    write(f, b);
    struct keys k = {0};
    assert_int_equal(lease_store_keys(f->st, 7, collect, &k), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.seen[0], "b");
}

static void test_deleting_a_lease_drops_its_keys_and_no_others(void **state)
{
    struct fixture *f = *state;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    lease_store_put(b, f->st, 7, 60, 0);
    lease_store_put(b, f->st, 8, 60, 0);
    write(f, b);
    attach(f, 7, "a");
    attach(f, 8, "b");
    b = rocksdb_writebatch_create();
    lease_store_delete(b, f->st, 7);
    write(f, b);
    struct keys k7 = {0}, k8 = {0};
    assert_int_equal(lease_store_keys(f->st, 7, collect, &k7), 0);
    assert_int_equal(lease_store_keys(f->st, 8, collect, &k8), 0);
    assert_int_equal(k7.n, 0);
    assert_int_equal(k8.n, 1);
    lease_table *t = table();
    assert_int_equal(lease_store_load(f->st, t, NULL), 0);
    assert_false(lease_table_exists(t, 7));
    assert_true(lease_table_exists(t, 8));
    lease_table_destroy(t);
}

static void test_the_largest_lease_id_keeps_its_keys_apart(void **state)
{
    struct fixture *f = *state;
    int64_t top = INT64_MAX;
    attach(f, top, "a");
    attach(f, top - 1, "b");
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    lease_store_delete(b, f->st, top - 1);
    write(f, b);
    struct keys k = {0};
    assert_int_equal(lease_store_keys(f->st, top, collect, &k), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.seen[0], "a");
}

struct lengths {
    size_t len[4];
    size_t n;
};

static int collect_lengths(void *arg, const uint8_t *key, size_t len)
{
    struct lengths *l = arg;
    if (l->n == 4) return -1;
    for (size_t i = 0; i < len; i++)
        if (key[i] != 'x') return -1;
    l->len[l->n++] = len;
    return 0;
}

static void test_a_key_longer_than_the_stack_buffer_is_attached_whole(void **state)
{
    struct fixture *f = *state;
    uint8_t big[400];
    memset(big, 'x', sizeof(big));
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    assert_int_equal(lease_store_attach(b, f->st, 7, big, sizeof(big)), 0);
    write(f, b);
    struct lengths l = {0};
    assert_int_equal(lease_store_keys(f->st, 7, collect_lengths, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.len[0], sizeof(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_restart_restores_every_lease_with_its_ttls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_attached_keys_are_not_taken_for_leases_at_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_lease_lists_its_keys_in_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_detached_key_is_no_longer_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleting_a_lease_drops_its_keys_and_no_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_largest_lease_id_keeps_its_keys_apart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_key_longer_than_the_stack_buffer_is_attached_whole,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
