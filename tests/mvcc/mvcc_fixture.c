/* mvcc_fixture: see mvcc_fixture.h. */
#include "mvcc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void open_store(fixture *f)
{
    char *err = NULL;
    int rc = storage_open(f->dir, &f->st, &err);
    if (rc != 0) fprintf(stderr, "storage_open: %s\n", err ? err : "?");
    free(err);
    assert_int_equal(rc, 0);
    assert_int_equal(mvcc_open(f->st, &f->m), 0);
}

int fixture_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    strcpy(f->dir, "/tmp/coord-mvcc-test-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    open_store(f);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int fixture_teardown(void **state)
{
    fixture *f = *state;
    mvcc_close(f->m);
    storage_close(f->st);
    int rc = nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

void fixture_reopen(fixture *f)
{
    mvcc_close(f->m);
    storage_close(f->st);
    open_store(f);
}

static char *dup_bytes(const void *p, size_t n)
{
    char *c = malloc(n + 1);
    assert_non_null(c);
    if (n) memcpy(c, p, n);
    c[n] = 0;
    return c;
}

static void copy_kv(kv_copy *c, const mvcc_kv *kv)
{
    c->key = dup_bytes(kv->key, kv->key_len);
    c->key_len = kv->key_len;
    c->value = dup_bytes(kv->value, kv->value_len);
    c->value_len = kv->value_len;
    c->create_revision = kv->create_revision;
    c->mod_revision = kv->mod_revision;
    c->version = kv->version;
    c->lease = kv->lease;
}

int kv_list_collect(void *arg, const mvcc_kv *kv)
{
    kv_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = realloc(l->items, l->cap * sizeof(*l->items));
        assert_non_null(l->items);
    }
    copy_kv(&l->items[l->n++], kv);
    return 0;
}

void kv_copy_free(kv_copy *c)
{
    free(c->key);
    free(c->value);
    c->key = c->value = NULL;
}

void kv_list_free(kv_list *l)
{
    for (size_t i = 0; i < l->n; i++) kv_copy_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int64_t put_bytes(mvcc *m, const void *key, size_t key_len, const void *value, size_t value_len,
                  int64_t lease)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(m, &t), 0);
    assert_int_equal(mvcc_txn_put(t, key, key_len, value, value_len, lease, NULL, NULL), 0);
    int64_t rev = 0;
    assert_int_equal(mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    return rev;
}

int64_t put_str(mvcc *m, const char *key, const char *value)
{
    return put_bytes(m, key, strlen(key), value, strlen(value), 0);
}

int64_t del_range(mvcc *m, const void *key, size_t key_len, const void *end, size_t end_len,
                  int64_t *deleted)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(m, &t), 0);
    assert_int_equal(mvcc_txn_delete_range(t, key, key_len, end, end_len, NULL, NULL, deleted), 0);
    int64_t rev = 0;
    assert_int_equal(mvcc_txn_commit(t, mvcc_applied_index(m) + 1, NULL, &rev), 0);
    mvcc_txn_end(t);
    return rev;
}

int range_read(mvcc *m, const void *key, size_t key_len, const void *end, size_t end_len,
               int64_t rev, kv_list *out)
{
    mvcc_txn *t;
    assert_int_equal(mvcc_read_begin(m, &t), 0);
    int rc = mvcc_txn_range(t, key, key_len, end, end_len, rev, kv_list_collect, out);
    mvcc_txn_end(t);
    return rc;
}

int get_at(mvcc *m, const char *key, int64_t rev, kv_copy *out, bool *found)
{
    kv_list l = {0};
    int rc = range_read(m, key, strlen(key), NULL, 0, rev, &l);
    *found = l.n == 1;
    if (l.n == 1) {
        *out = l.items[0];
        l.n = 0;
    }
    kv_list_free(&l);
    return rc;
}
