#include "lease_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_LEASE = 'l', TAG_KEY = 'k', ID_PREFIX_LEN = 9, RECORD_LEN = 16 };

static void id_prefix(uint8_t out[ID_PREFIX_LEN], uint8_t tag, int64_t id)
{
    out[0] = tag;
    be64_put(out + 1, (uint64_t)id);
}

int lease_store_load(storage *st, lease_table *t, char **err)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    const char lower[1] = {TAG_LEASE}, upper[1] = {TAG_LEASE + 1};
    rocksdb_readoptions_set_iterate_lower_bound(ro, lower, 1);
    rocksdb_readoptions_set_iterate_upper_bound(ro, upper, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[STORAGE_CF_LEASE]);
    int rc = 0;
    for (rocksdb_iter_seek(it, lower, 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (kl != ID_PREFIX_LEN || vl != RECORD_LEN) {
            if (err &&
                asprintf(err, "malformed lease row (%zu-byte key, %zu-byte value)", kl, vl) < 0)
                *err = NULL;
            rc = -1;
            break;
        }
        int64_t id = (int64_t)be64_get(k + 1);
        int64_t ttl = (int64_t)be64_get(v);
        int64_t remaining = (int64_t)be64_get(v + 8);
        if (lease_table_restore(t, id, ttl, remaining) != LEASE_OK) {
            if (err) *err = strdup("out of memory restoring leases");
            rc = -1;
            break;
        }
    }
    char *ierr = NULL;
    if (rc == 0) rocksdb_iter_get_error(it, &ierr);
    if (ierr) {
        if (err) *err = strdup(ierr);
        rocksdb_free(ierr);
        rc = -1;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

void lease_store_put(rocksdb_writebatch_t *b, storage *st, int64_t id, int64_t ttl,
                     int64_t remaining_ttl)
{
    uint8_t k[ID_PREFIX_LEN], v[RECORD_LEN];
    id_prefix(k, TAG_LEASE, id);
    be64_put(v, (uint64_t)ttl);
    be64_put(v + 8, (uint64_t)remaining_ttl);
    rocksdb_writebatch_put_cf(b, st->cf[STORAGE_CF_LEASE], (const char *)k, sizeof(k),
                              (const char *)v, sizeof(v));
}

void lease_store_delete(rocksdb_writebatch_t *b, storage *st, int64_t id)
{
    uint8_t k[ID_PREFIX_LEN], lo[ID_PREFIX_LEN], hi[ID_PREFIX_LEN];
    id_prefix(k, TAG_LEASE, id);
    rocksdb_writebatch_delete_cf(b, st->cf[STORAGE_CF_LEASE], (const char *)k, sizeof(k));
    /* Every 'k' row of this lease: [k‖id, k‖id+1). The last id wraps to the next tag. */
    id_prefix(lo, TAG_KEY, id);
    if ((uint64_t)id == UINT64_MAX) {
        hi[0] = TAG_KEY + 1;
        memset(hi + 1, 0, 8);
    } else {
        id_prefix(hi, TAG_KEY, (int64_t)((uint64_t)id + 1));
    }
    rocksdb_writebatch_delete_range_cf(b, st->cf[STORAGE_CF_LEASE], (const char *)lo, sizeof(lo),
                                       (const char *)hi, sizeof(hi));
}

/* 'k' ‖ id ‖ key in a buffer that is the caller's (stack for short keys). */
static uint8_t *key_row(uint8_t *small, size_t small_len, int64_t id, const uint8_t *key,
                        size_t key_len, size_t *len)
{
    *len = ID_PREFIX_LEN + key_len;
    uint8_t *row = *len <= small_len ? small : malloc(*len);
    if (!row) return NULL;
    id_prefix(row, TAG_KEY, id);
    if (key_len) memcpy(row + ID_PREFIX_LEN, key, key_len);
    return row;
}

int lease_store_attach(rocksdb_writebatch_t *b, storage *st, int64_t id, const uint8_t *key,
                       size_t key_len)
{
    uint8_t small[256];
    size_t len;
    uint8_t *row = key_row(small, sizeof(small), id, key, key_len, &len);
    if (!row) return -1;
    rocksdb_writebatch_put_cf(b, st->cf[STORAGE_CF_LEASE], (const char *)row, len, "", 0);
    if (row != small) free(row);
    return 0;
}

int lease_store_detach(rocksdb_writebatch_t *b, storage *st, int64_t id, const uint8_t *key,
                       size_t key_len)
{
    uint8_t small[256];
    size_t len;
    uint8_t *row = key_row(small, sizeof(small), id, key, key_len, &len);
    if (!row) return -1;
    rocksdb_writebatch_delete_cf(b, st->cf[STORAGE_CF_LEASE], (const char *)row, len);
    if (row != small) free(row);
    return 0;
}

int lease_store_keys(storage *st, int64_t id, lease_store_key_fn fn, void *arg)
{
    uint8_t lo[ID_PREFIX_LEN], hi[ID_PREFIX_LEN];
    id_prefix(lo, TAG_KEY, id);
    if ((uint64_t)id == UINT64_MAX) {
        hi[0] = TAG_KEY + 1;
        memset(hi + 1, 0, 8);
    } else {
        id_prefix(hi, TAG_KEY, (int64_t)((uint64_t)id + 1));
    }
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, sizeof(hi));
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[STORAGE_CF_LEASE]);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)lo, sizeof(lo)); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl < ID_PREFIX_LEN) continue;
        rc = fn(arg, k + ID_PREFIX_LEN, kl - ID_PREFIX_LEN);
        if (rc != 0) break;
    }
    if (rc > 0) rc = 0;
    char *ierr = NULL;
    rocksdb_iter_get_error(it, &ierr);
    if (ierr) {
        rocksdb_free(ierr);
        rc = -1;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}
