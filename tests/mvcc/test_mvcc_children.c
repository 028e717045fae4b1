/* list_children: immediate children of a directory at a revision, with paging, in about one
 * seek per child. */
#include "mvcc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(str) (const uint8_t *)(str), strlen(str)

typedef struct child {
    char name[64];
    size_t len;
    bool is_key, has_children;
} child;

typedef struct child_list {
    child c[256];
    size_t n;
} child_list;

static int collect_child(void *arg, const uint8_t *name, size_t n, bool is_key, bool has_children)
{
    child_list *l = arg;
    assert_true(l->n < 256);
    assert_true(n < sizeof(l->c[0].name));
    child *c = &l->c[l->n++];
    memcpy(c->name, name, n);
    c->name[n] = 0;
    c->len = n;
    c->is_key = is_key;
    c->has_children = has_children;
    return 0;
}

static int list(mvcc *m, const char *dir, const char *after, int64_t rev, int64_t limit,
                child_list *out, uint64_t *seeks)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_read_begin(m, &t), 0);
    uint64_t s = 0;
    int rc = mvcc_txn_list_children(t, S(dir), (const uint8_t *)after, after ? strlen(after) : 0,
                                    rev, limit, collect_child, out, &s);
    mvcc_txn_end(t);
    if (seeks) *seeks = s;
    return rc;
}

static void assert_child(const child_list *l, size_t i, const char *name, bool is_key,
                         bool has_children)
{
    assert_true(i < l->n);
    assert_string_equal(l->c[i].name, name);
    assert_int_equal(l->c[i].is_key, is_key);
    assert_int_equal(l->c[i].has_children, has_children);
}

static void test_list_children_returns_immediate_children_in_name_order(void **state)
{
    fixture *f = *state;
    put_str(f->m, "/s/b/x/deep", "1");
    put_str(f->m, "/s/a", "1");
    put_str(f->m, "/s/c", "1");
    put_str(f->m, "/s", "dir's own key is not a child");
    put_str(f->m, "/s/", "nor is the key equal to dir");
    put_str(f->m, "/t/a", "other directory");
    put_str(f->m, "/s0", "past the directory");
    child_list l = {0};
    assert_int_equal(list(f->m, "/s/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 3);
    assert_child(&l, 0, "/s/a", true, false);
    assert_child(&l, 1, "/s/b", false, true);
    assert_child(&l, 2, "/s/c", true, false);
}

static void test_list_children_marks_a_child_that_is_both_key_and_directory(void **state)
{
    fixture *f = *state;
    put_str(f->m, "/d/x", "1");
    put_str(f->m, "/d/x/y", "1");
    child_list l = {0};
    assert_int_equal(list(f->m, "/d/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 1);
    assert_child(&l, 0, "/d/x", true, true);
}

static void
test_list_children_orders_siblings_that_sort_between_a_child_and_its_subtree(void **state)
{
    fixture *f = *state;
    /* key order: /d/web < /d/web-1 < /d/web.x/k < /d/web/a < /d/webz; "app" is a directory only
     * and is first met through its sibling "app-2" */
    put_str(f->m, "/d/web", "1");
    put_str(f->m, "/d/web-1", "1");
    put_str(f->m, "/d/web.x/k", "1");
    put_str(f->m, "/d/web/a", "1");
    put_str(f->m, "/d/webz", "1");
    put_str(f->m, "/d/app-2", "1");
    put_str(f->m, "/d/app/k", "1");
    child_list l = {0};
    assert_int_equal(list(f->m, "/d/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 6);
    assert_child(&l, 0, "/d/app", false, true);
    assert_child(&l, 1, "/d/app-2", true, false);
    assert_child(&l, 2, "/d/web", true, true);
    assert_child(&l, 3, "/d/web-1", true, false);
    assert_child(&l, 4, "/d/web.x", false, true);
    assert_child(&l, 5, "/d/webz", true, false);
}

static void test_list_children_skips_a_child_whose_keys_are_all_deleted(void **state)
{
    fixture *f = *state;
    put_str(f->m, "/d/a", "1");
    put_str(f->m, "/d/gone", "1");
    put_str(f->m, "/d/gone/1", "1");
    put_str(f->m, "/d/gone/2", "1");
    put_str(f->m, "/d/z", "1");
    int64_t d;
    del_range(f->m, S("/d/gone"), S("/d/gone0"), &d);
    assert_int_equal(d, 3);
    child_list l = {0};
    assert_int_equal(list(f->m, "/d/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 2);
    assert_child(&l, 0, "/d/a", true, false);
    assert_child(&l, 1, "/d/z", true, false);
}

static void test_list_children_finds_a_live_descendant_behind_deleted_ones(void **state)
{
    fixture *f = *state;
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "/d/c/%02d", i);
        put_str(f->m, key, "1");
    }
    int64_t d;
    del_range(f->m, S("/d/c/00"), S("/d/c/19"), &d); /* only /d/c/19 stays */
    assert_int_equal(d, 19);
    put_str(f->m, "/d/k", "key, deleted below");
    del_range(f->m, S("/d/k"), NULL, 0, &d);
    put_str(f->m, "/d/k/1", "1");
    child_list l = {0};
    assert_int_equal(list(f->m, "/d/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 2);
    assert_child(&l, 0, "/d/c", false, true);
    assert_child(&l, 1, "/d/k", false, true);
}

static void test_list_children_at_a_historical_revision_sees_the_tree_then(void **state)
{
    fixture *f = *state;
    put_str(f->m, "/d/a", "1");   /* 2 */
    put_str(f->m, "/d/b/x", "1"); /* 3 */
    int64_t d;
    del_range(f->m, S("/d/a"), NULL, 0, &d); /* 4 */
    put_str(f->m, "/d/c", "1");              /* 5 */
    child_list l = {0};
    assert_int_equal(list(f->m, "/d/", NULL, 3, 0, &l, NULL), 0);
    assert_int_equal(l.n, 2);
    assert_child(&l, 0, "/d/a", true, false);
    assert_child(&l, 1, "/d/b", false, true);
    memset(&l, 0, sizeof(l));
    assert_int_equal(list(f->m, "/d/", NULL, 2, 0, &l, NULL), 0);
    assert_int_equal(l.n, 1);
    memset(&l, 0, sizeof(l));
    assert_int_equal(list(f->m, "/d/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 2);
    assert_child(&l, 0, "/d/b", false, true);
    assert_child(&l, 1, "/d/c", true, false);
    assert_int_equal(list(f->m, "/d/", NULL, 6, 0, &l, NULL), MVCC_ERR_FUTURE_REV);
}

static void test_list_children_pages_with_after_and_limit(void **state)
{
    fixture *f = *state;
    char key[32];
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "/p/%c/leaf", 'a' + i);
        put_str(f->m, key, "1");
        snprintf(key, sizeof(key), "/p/%c", 'a' + i);
        if (i % 2) put_str(f->m, key, "1");
    }
    char after[64] = "";
    size_t total = 0;
    for (int page = 0; page < 10; page++) {
        child_list l = {0};
        assert_int_equal(list(f->m, "/p/", after[0] ? after : NULL, 0, 3, &l, NULL), 0);
        if (l.n == 0) break;
        assert_true(l.n <= 3);
        for (size_t i = 0; i < l.n; i++) {
            char want[8];
            snprintf(want, sizeof(want), "/p/%c", (int)('a' + total + i));
            assert_child(&l, i, want, (total + i) % 2 == 1, true);
        }
        total += l.n;
        strcpy(after, l.c[l.n - 1].name);
    }
    assert_int_equal(total, 7);
}

static void test_list_children_handles_zero_and_ff_bytes_in_names(void **state)
{
    fixture *f = *state;
    put_bytes(f->m, "/z/a\0b/c", 8, "1", 1, 0);
    put_bytes(f->m, "/z/a\0", 5, "1", 1, 0);
    put_bytes(f->m, "/z/a", 4, "1", 1, 0);
    put_bytes(f->m, "/z/\xff", 4, "1", 1, 0);
    child_list l = {0};
    assert_int_equal(list(f->m, "/z/", NULL, 0, 0, &l, NULL), 0);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.c[0].len, 4); /* "/z/a" */
    assert_int_equal(l.c[1].len, 5); /* "/z/a\0" */
    assert_true(l.c[1].is_key && !l.c[1].has_children);
    assert_int_equal(l.c[2].len, 6); /* "/z/a\0b" */
    assert_memory_equal(l.c[2].name, "/z/a\0b", 6);
    assert_true(!l.c[2].is_key && l.c[2].has_children);
    assert_memory_equal(l.c[3].name, "/z/\xff", 4);
}

static void test_list_children_of_dir_without_trailing_slash_is_refused(void **state)
{
    fixture *f = *state;
    child_list l = {0};
    assert_int_equal(list(f->m, "/d", NULL, 0, 0, &l, NULL), MVCC_ERR_INVALID);
}

static void test_list_children_costs_about_one_seek_per_child(void **state)
{
    fixture *f = *state;
    char key[32];
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    for (int c = 0; c < 10; c++)
        for (int i = 0; i < 500; i++) {
            snprintf(key, sizeof(key), "/big/%d/%04d", c, i);
            assert_int_equal(mvcc_txn_put(t, S(key), S("v"), 0, NULL, NULL), 0);
        }
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    child_list l = {0};
    uint64_t seeks = 0;
    assert_int_equal(list(f->m, "/big/", NULL, 0, 0, &l, &seeks), 0);
    assert_int_equal(l.n, 10);
    assert_true(seeks <= 11);
}

static void test_list_children_in_a_write_txn_sees_its_own_writes(void **state)
{
    fixture *f = *state;
    put_str(f->m, "/w/old", "1");
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(f->m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, S("/w/new/x"), S("1"), 0, NULL, NULL), 0);
    int64_t d;
    assert_int_equal(mvcc_txn_delete_range(t, S("/w/old"), NULL, 0, NULL, NULL, &d), 0);
    child_list l = {0};
    uint64_t seeks;
    assert_int_equal(mvcc_txn_list_children(t, S("/w/"), NULL, 0, 0, 0, collect_child, &l, &seeks),
                     0);
    assert_int_equal(l.n, 1);
    assert_child(&l, 0, "/w/new", false, true);
    mvcc_txn_end(t);
}

/* ---- against a brute-force oracle ------------------------------------------------------- */

struct oracle {
    child c[256];
    size_t n;
    size_t dir_len;
};

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r != 0) return r;
    return an < bn ? -1 : an > bn;
}

static int oracle_add(void *arg, const mvcc_kv *kv)
{
    struct oracle *o = arg;
    if (kv->key_len <= o->dir_len) return 0;
    const char *k = (const char *)kv->key;
    const char *slash = memchr(k + o->dir_len, '/', kv->key_len - o->dir_len);
    size_t n = slash ? (size_t)(slash - k) : kv->key_len;
    for (size_t i = 0; i < o->n; i++)
        if (o->c[i].len == n && memcmp(o->c[i].name, k, n) == 0) {
            if (slash)
                o->c[i].has_children = true;
            else
                o->c[i].is_key = true;
            return 0;
        }
    assert_true(o->n < 256 && n < 64);
    child *c = &o->c[o->n++];
    memcpy(c->name, k, n);
    c->len = n;
    c->is_key = !slash;
    c->has_children = slash != NULL;
    return 0;
}

static int child_cmp(const void *a, const void *b)
{
    const child *x = a, *y = b;
    return bytes_cmp(x->name, x->len, y->name, y->len);
}

static void test_list_children_matches_a_full_scan_on_random_trees(void **state)
{
    fixture *f = *state;
    /* a small alphabet with bytes below, at and above '/' so siblings interleave with subtrees */
    static const char alphabet[] = {'a', '-', '/', '0', 'b', '\0', '.'};
    unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : 12345;
    for (int round = 0; round < 40; round++) {
        mvcc_txn *t;
        assert_int_equal(mvcc_write_begin(f->m, &t), 0);
        for (int i = 0; i < 12; i++) {
            char key[16] = "/r/";
            size_t n = 3 + 1 + rand_r(&seed) % 5;
            for (size_t j = 3; j < n; j++) key[j] = alphabet[rand_r(&seed) % sizeof(alphabet)];
            if (rand_r(&seed) % 4 == 0) {
                int64_t d;
                char end[16];
                memcpy(end, key, n);
                end[n] = '\xff';
                assert_int_equal(mvcc_txn_delete_range(t, (uint8_t *)key, n, (uint8_t *)end, n + 1,
                                                       NULL, NULL, &d),
                                 0);
            } else {
                assert_int_equal(mvcc_txn_put(t, (uint8_t *)key, n, S("v"), 0, NULL, NULL), 0);
            }
        }
        int64_t rev;
        assert_int_equal(mvcc_txn_commit(t, (uint64_t)round + 1, NULL, &rev), 0);
        mvcc_txn_end(t);

        int64_t at = 2 + rand_r(&seed) % (rev - 1); /* some revision in [2, rev] */
        struct oracle o = {.dir_len = 3};
        mvcc_txn *r;
        assert_int_equal(mvcc_read_begin(f->m, &r), 0);
        assert_int_equal(mvcc_txn_range(r, S("/r/"), S("/r0"), at, oracle_add, &o), 0);
        qsort(o.c, o.n, sizeof(o.c[0]), child_cmp);

        /* list in pages of a random size */
        int64_t page = 1 + rand_r(&seed) % 4;
        child_list all = {0};
        char after[64];
        size_t after_len = 0;
        for (;;) {
            child_list l = {0};
            uint64_t seeks;
            assert_int_equal(mvcc_txn_list_children(r, S("/r/"), (uint8_t *)after, after_len, at,
                                                    page, collect_child, &l, &seeks),
                             0);
            assert_true(all.n + l.n <= 256);
            for (size_t i = 0; i < l.n; i++) all.c[all.n++] = l.c[i];
            if ((int64_t)l.n < page) break;
            after_len = l.c[l.n - 1].len;
            memcpy(after, l.c[l.n - 1].name, after_len);
        }
        mvcc_txn_end(r);
        if (getenv("DUMP") || all.n != o.n) {
            for (size_t i = 0; i < o.n || i < all.n; i++) {
                fprintf(stderr, "%2zu oracle ", i);
                if (i < o.n)
                    for (size_t j = 0; j < o.c[i].len; j++)
                        fprintf(stderr, "%02x", (unsigned char)o.c[i].name[j]);
                fprintf(stderr, " got ");
                if (i < all.n)
                    for (size_t j = 0; j < all.c[i].len; j++)
                        fprintf(stderr, "%02x", (unsigned char)all.c[i].name[j]);
                fprintf(stderr, "\n");
            }
        }
        assert_int_equal(all.n, o.n);
        for (size_t i = 0; i < o.n; i++) {
            assert_int_equal(all.c[i].len, o.c[i].len);
            assert_memory_equal(all.c[i].name, o.c[i].name, o.c[i].len);
            assert_int_equal(all.c[i].is_key, o.c[i].is_key);
            assert_int_equal(all.c[i].has_children, o.c[i].has_children);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
        T(test_list_children_returns_immediate_children_in_name_order),
        T(test_list_children_marks_a_child_that_is_both_key_and_directory),
        T(test_list_children_orders_siblings_that_sort_between_a_child_and_its_subtree),
        T(test_list_children_skips_a_child_whose_keys_are_all_deleted),
        T(test_list_children_finds_a_live_descendant_behind_deleted_ones),
        T(test_list_children_at_a_historical_revision_sees_the_tree_then),
        T(test_list_children_pages_with_after_and_limit),
        T(test_list_children_handles_zero_and_ff_bytes_in_names),
        T(test_list_children_of_dir_without_trailing_slash_is_refused),
        T(test_list_children_costs_about_one_seek_per_child),
        T(test_list_children_in_a_write_txn_sees_its_own_writes),
        T(test_list_children_matches_a_full_scan_on_random_trees),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
