/* kv_exec: etcd 3.4's KV rules (txn paths, compares, range options, request checks) on a real
 * store in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_exec.h"

struct fixture {
    char dir[64];
    storage *st;
    mvcc *kv;
    uint64_t index;
};

static pbx_bytes_t B(const char *s)
{
    return (pbx_bytes_t){(const uint8_t *)s, strlen(s)};
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/coord-kvexec-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    char *err = NULL;
    if (storage_open(f->dir, &f->st, &err) != 0) return -1;
    if (mvcc_open(f->st, &f->kv) != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mvcc_close(f->kv);
    storage_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

/* Runs fn in a write txn and commits it unless it failed. */
typedef coord_err (*write_fn)(kv_exec *x, void *arg);

static coord_err in_write(struct fixture *f, write_fn fn, void *arg, arena *mem)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->kv, &t), MVCC_OK);
    kv_exec x;
    kv_exec_init(&x, f->kv, t, mem, true);
    coord_err e = fn(&x, arg);
    if (e == COORD_OK) {
        int64_t rev;
        assert_int_equal(mvcc_txn_commit(t, ++f->index, NULL, &rev), MVCC_OK);
    }
    mvcc_txn_end(t);
    return e;
}

struct put_arg {
    etcdserverpb_PutRequest req;
    etcdserverpb_PutResponse resp;
};

static coord_err do_put(kv_exec *x, void *arg)
{
    struct put_arg *p = arg;
    return kv_exec_put(x, &p->req, &p->resp);
}

static void put(struct fixture *f, const char *k, const char *v)
{
    arena mem = {0};
    struct put_arg p = {.req = {.key = B(k), .value = B(v)}};
    assert_int_equal(in_write(f, do_put, &p, &mem), COORD_OK);
    arena_free(&mem);
}

static coord_err range(struct fixture *f, etcdserverpb_RangeRequest *r,
                       etcdserverpb_RangeResponse *out, arena *mem)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_read_begin(f->kv, &t), MVCC_OK);
    kv_exec x;
    kv_exec_init(&x, f->kv, t, mem, false);
    coord_err e = kv_exec_range(&x, r, out);
    mvcc_txn_end(t);
    return e;
}

static void test_first_put_gets_revision_two_and_version_one(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    struct put_arg p = {.req = {.key = B("a"), .value = B("1")}};
    assert_int_equal(in_write(f, do_put, &p, &mem), COORD_OK);
    assert_int_equal(p.resp.header.revision, 2);
    etcdserverpb_RangeRequest r = {.key = B("a")};
    etcdserverpb_RangeResponse out;
    assert_int_equal(range(f, &r, &out, &mem), COORD_OK);
    assert_int_equal(out.count, 1);
    const mvccpb_KeyValue *kv = out.kvs.items;
    assert_int_equal(kv->create_revision, 2);
    assert_int_equal(kv->mod_revision, 2);
    assert_int_equal(kv->version, 1);
    arena_free(&mem);
}

static void test_range_limit_sets_more_and_counts_every_key(void **state)
{
    struct fixture *f = *state;
    put(f, "k1", "x");
    put(f, "k2", "x");
    put(f, "k3", "x");
    arena mem = {0};
    etcdserverpb_RangeRequest r = {.key = B("k"), .range_end = B("l"), .limit = 2};
    etcdserverpb_RangeResponse out;
    assert_int_equal(range(f, &r, &out, &mem), COORD_OK);
    assert_int_equal(out.kvs.count, 2);
    assert_true(out.more);
    assert_int_equal(out.count, 3);
    arena_free(&mem);
}

static void test_sort_by_create_descending_puts_the_newest_first(void **state)
{
    struct fixture *f = *state;
    put(f, "k2", "x");
    put(f, "k1", "x");
    put(f, "k3", "x");
    arena mem = {0};
    etcdserverpb_RangeRequest r = {.key = B("k"),
                                   .range_end = B("l"),
                                   .sort_order = etcdserverpb_RangeRequest_SortOrder_DESCEND,
                                   .sort_target = etcdserverpb_RangeRequest_SortTarget_CREATE};
    etcdserverpb_RangeResponse out;
    assert_int_equal(range(f, &r, &out, &mem), COORD_OK);
    const mvccpb_KeyValue *kv = out.kvs.items;
    assert_int_equal(out.kvs.count, 3);
    assert_memory_equal(kv[0].key.ptr, "k3", 2);
    assert_memory_equal(kv[2].key.ptr, "k2", 2);
    arena_free(&mem);
}

static void test_keys_only_drops_values_and_keeps_revisions(void **state)
{
    struct fixture *f = *state;
    put(f, "a", "value");
    arena mem = {0};
    etcdserverpb_RangeRequest r = {.key = B("a"), .keys_only = true};
    etcdserverpb_RangeResponse out;
    assert_int_equal(range(f, &r, &out, &mem), COORD_OK);
    const mvccpb_KeyValue *kv = out.kvs.items;
    assert_int_equal(kv->value.len, 0);
    assert_int_equal(kv->mod_revision, 2);
    arena_free(&mem);
}

static void test_put_with_an_unknown_lease_is_lease_not_found(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    struct put_arg p = {.req = {.key = B("a"), .value = B("1"), .lease = 42}};
    assert_int_equal(in_write(f, do_put, &p, &mem), COORD_ERR_LEASE_NOT_FOUND);
    assert_int_equal(mvcc_current_rev(f->kv), 1);
    arena_free(&mem);
}

static void test_ignore_value_on_a_missing_key_is_key_not_found(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    struct put_arg p = {.req = {.key = B("a"), .ignore_value = true}};
    assert_int_equal(in_write(f, do_put, &p, &mem), COORD_ERR_KEY_NOT_FOUND);
    arena_free(&mem);
}

struct txn_arg {
    etcdserverpb_TxnRequest req;
    etcdserverpb_TxnResponse resp;
};

static coord_err do_txn(kv_exec *x, void *arg)
{
    struct txn_arg *t = arg;
    return kv_exec_txn(x, &t->req, &t->resp);
}

static void test_value_compare_on_a_missing_key_takes_the_failure_branch(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    etcdserverpb_Compare cmp = {.key = B("missing"),
                                .target = etcdserverpb_Compare_CompareTarget_VALUE,
                                .result = etcdserverpb_Compare_CompareResult_NOT_EQUAL,
                                .which_target_union = etcdserverpb_Compare_value_tag,
                                .target_union.value = B("x")};
    struct txn_arg t = {.req = {.compare = {.items = &cmp, .count = 1}}};
    assert_int_equal(in_write(f, do_txn, &t, &mem), COORD_OK);
    assert_false(t.resp.succeeded);
    arena_free(&mem);
}

static void test_version_compare_on_a_missing_key_compares_against_zero(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    etcdserverpb_Compare cmp = {.key = B("missing"),
                                .target = etcdserverpb_Compare_CompareTarget_VERSION,
                                .result = etcdserverpb_Compare_CompareResult_EQUAL,
                                .which_target_union = etcdserverpb_Compare_version_tag,
                                .target_union.version = 0};
    struct txn_arg t = {.req = {.compare = {.items = &cmp, .count = 1}}};
    assert_int_equal(in_write(f, do_txn, &t, &mem), COORD_OK);
    assert_true(t.resp.succeeded);
    arena_free(&mem);
}

static void test_range_inside_a_txn_sees_the_put_before_it(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    etcdserverpb_RequestOp ops[2] = {0};
    ops[0].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[0].request.request_put.key = B("a");
    ops[0].request.request_put.value = B("new");
    ops[1].which_request = etcdserverpb_RequestOp_request_range_tag;
    ops[1].request.request_range.key = B("a");
    struct txn_arg t = {.req = {.success = {.items = ops, .count = 2}}};
    assert_int_equal(in_write(f, do_txn, &t, &mem), COORD_OK);
    assert_true(t.resp.succeeded);
    assert_int_equal(t.resp.header.revision, 2);
    const etcdserverpb_ResponseOp *r = t.resp.responses.items;
    const etcdserverpb_RangeResponse *rr = &r[1].response.response_range;
    assert_int_equal(rr->count, 1);
    assert_int_equal(rr->header.revision, 2);
    assert_memory_equal(((const mvccpb_KeyValue *)rr->kvs.items)->value.ptr, "new", 3);
    arena_free(&mem);
}

static void test_nested_compares_are_decided_before_any_op_runs(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    /* Outer: put a=1, then a nested txn whose compare "a exists" must see the state before the
     * outer put (a absent), so the nested failure branch runs. */
    etcdserverpb_RequestOp inner_fail = {.which_request = etcdserverpb_RequestOp_request_put_tag};
    inner_fail.request.request_put.key = B("b");
    inner_fail.request.request_put.value = B("failure");
    etcdserverpb_Compare inner_cmp = {.key = B("a"),
                                      .target = etcdserverpb_Compare_CompareTarget_VERSION,
                                      .result = etcdserverpb_Compare_CompareResult_GREATER,
                                      .which_target_union = etcdserverpb_Compare_version_tag,
                                      .target_union.version = 0};
    etcdserverpb_RequestOp ops[2] = {0};
    ops[0].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[0].request.request_put.key = B("a");
    ops[0].request.request_put.value = B("1");
    ops[1].which_request = etcdserverpb_RequestOp_request_txn_tag;
    ops[1].request.request_txn.compare = (pbx_list_t){.items = &inner_cmp, .count = 1};
    ops[1].request.request_txn.failure = (pbx_list_t){.items = &inner_fail, .count = 1};
    struct txn_arg t = {.req = {.success = {.items = ops, .count = 2}}};
    assert_int_equal(in_write(f, do_txn, &t, &mem), COORD_OK);
    const etcdserverpb_ResponseOp *r = t.resp.responses.items;
    assert_false(r[1].response.response_txn.succeeded);
    arena_free(&mem);
    arena mem2 = {0};
    etcdserverpb_RangeRequest rq = {.key = B("b")};
    etcdserverpb_RangeResponse out;
    assert_int_equal(range(f, &rq, &out, &mem2), COORD_OK);
    assert_int_equal(out.count, 1);
    arena_free(&mem2);
}

static void test_a_failing_op_in_a_txn_writes_nothing(void **state)
{
    struct fixture *f = *state;
    arena mem = {0};
    etcdserverpb_RequestOp ops[2] = {0};
    ops[0].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[0].request.request_put.key = B("a");
    ops[1].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[1].request.request_put.key = B("b");
    ops[1].request.request_put.lease = 7;
    struct txn_arg t = {.req = {.success = {.items = ops, .count = 2}}};
    assert_int_equal(in_write(f, do_txn, &t, &mem), COORD_ERR_LEASE_NOT_FOUND);
    assert_int_equal(mvcc_current_rev(f->kv), 1);
    arena_free(&mem);
}

static void test_a_txn_with_129_ops_is_too_many(void **state)
{
    (void)state;
    static etcdserverpb_RequestOp ops[129];
    for (int i = 0; i < 129; i++) {
        ops[i].which_request = etcdserverpb_RequestOp_request_range_tag;
        ops[i].request.request_range.key = B("a");
    }
    etcdserverpb_TxnRequest r = {.success = {.items = ops, .count = 129}};
    assert_int_equal(kv_check_txn(&r, 128), COORD_ERR_TOO_MANY_OPS);
    r.success.count = 128;
    assert_int_equal(kv_check_txn(&r, 128), COORD_OK);
}

static void test_two_puts_of_one_key_in_a_branch_are_a_duplicate(void **state)
{
    (void)state;
    etcdserverpb_RequestOp ops[2] = {0};
    for (int i = 0; i < 2; i++) {
        ops[i].which_request = etcdserverpb_RequestOp_request_put_tag;
        ops[i].request.request_put.key = B("a");
    }
    etcdserverpb_TxnRequest r = {.success = {.items = ops, .count = 2}};
    assert_int_equal(kv_check_txn(&r, 128), COORD_ERR_DUPLICATE_KEY);
}

static void test_a_put_inside_a_deleted_range_is_a_duplicate(void **state)
{
    (void)state;
    etcdserverpb_RequestOp ops[2] = {0};
    ops[0].which_request = etcdserverpb_RequestOp_request_delete_range_tag;
    ops[0].request.request_delete_range.key = B("a");
    ops[0].request.request_delete_range.range_end = B("c");
    ops[1].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[1].request.request_put.key = B("b");
    etcdserverpb_TxnRequest r = {.success = {.items = ops, .count = 2}};
    assert_int_equal(kv_check_txn(&r, 128), COORD_ERR_DUPLICATE_KEY);
    ops[1].request.request_put.key = B("c");
    assert_int_equal(kv_check_txn(&r, 128), COORD_OK);
}

static void test_the_same_put_in_then_and_else_of_a_nested_txn_is_allowed(void **state)
{
    (void)state;
    etcdserverpb_RequestOp put = {.which_request = etcdserverpb_RequestOp_request_put_tag};
    put.request.request_put.key = B("a");
    etcdserverpb_RequestOp nested = {.which_request = etcdserverpb_RequestOp_request_txn_tag};
    nested.request.request_txn.success = (pbx_list_t){.items = &put, .count = 1};
    nested.request.request_txn.failure = (pbx_list_t){.items = &put, .count = 1};
    etcdserverpb_TxnRequest r = {.success = {.items = &nested, .count = 1}};
    assert_int_equal(kv_check_txn(&r, 128), COORD_OK);
}

static void test_an_empty_request_op_is_key_not_found(void **state)
{
    (void)state;
    etcdserverpb_RequestOp op = {0};
    etcdserverpb_TxnRequest r = {.success = {.items = &op, .count = 1}};
    assert_int_equal(kv_check_txn(&r, 128), COORD_ERR_KEY_NOT_FOUND);
}

static void test_put_checks_empty_key_and_ignore_flags(void **state)
{
    (void)state;
    etcdserverpb_PutRequest p = {0};
    assert_int_equal(kv_check_put(&p), COORD_ERR_EMPTY_KEY);
    p.key = B("a");
    p.ignore_value = true;
    p.value = B("v");
    assert_int_equal(kv_check_put(&p), COORD_ERR_VALUE_PROVIDED);
    p.ignore_value = false;
    p.ignore_lease = true;
    p.lease = 5;
    assert_int_equal(kv_check_put(&p), COORD_ERR_LEASE_PROVIDED);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_first_put_gets_revision_two_and_version_one),
        T(test_range_limit_sets_more_and_counts_every_key),
        T(test_sort_by_create_descending_puts_the_newest_first),
        T(test_keys_only_drops_values_and_keeps_revisions),
        T(test_put_with_an_unknown_lease_is_lease_not_found),
        T(test_ignore_value_on_a_missing_key_is_key_not_found),
        T(test_value_compare_on_a_missing_key_takes_the_failure_branch),
        T(test_version_compare_on_a_missing_key_compares_against_zero),
        T(test_range_inside_a_txn_sees_the_put_before_it),
        T(test_nested_compares_are_decided_before_any_op_runs),
        T(test_a_failing_op_in_a_txn_writes_nothing),
        cmocka_unit_test(test_a_txn_with_129_ops_is_too_many),
        cmocka_unit_test(test_two_puts_of_one_key_in_a_branch_are_a_duplicate),
        cmocka_unit_test(test_a_put_inside_a_deleted_range_is_a_duplicate),
        cmocka_unit_test(test_the_same_put_in_then_and_else_of_a_nested_txn_is_allowed),
        cmocka_unit_test(test_an_empty_request_op_is_key_not_found),
        cmocka_unit_test(test_put_checks_empty_key_and_ignore_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
