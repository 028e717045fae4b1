#include "apply_lease.h"

#include "lease_store.h"
#include "pbx.h"
#include "rpc.pb.h"

#include <grpc/byte_buffer.h>
#include <stdlib.h>
#include <string.h>

static void answer(coord_server *s, uint64_t id, coord_err e, const pb_msgdesc_t *desc,
                   const void *msg)
{
    if (e != COORD_OK) {
        wait_trigger(s->waits, id, e, NULL);
        return;
    }
    grpc_byte_buffer *bb = pbx_encode_bb(desc, msg);
    if (!bb) {
        wait_trigger(s->waits, id, COORD_ERR_INTERNAL, NULL);
        return;
    }
    if (!wait_trigger(s->waits, id, COORD_OK, bb)) grpc_byte_buffer_destroy(bb);
}

/* Commits a write transaction that changes no key: the applied index, and the lease rows in b
 * (NULL: none). */
static int commit_rows(coord_server *s, uint64_t index, rocksdb_writebatch_t *b)
{
    mvcc_txn *t;
    if (mvcc_write_begin(s->kv, &t) != MVCC_OK) return -1;
    int64_t rev;
    int rc = mvcc_txn_commit(t, index, b, &rev);
    mvcc_txn_end(t);
    return rc == MVCC_OK ? 0 : -1;
}

static coord_err from_lease(int rc)
{
    switch (rc) {
    case LEASE_OK:
        return COORD_OK;
    case LEASE_ERR_EXISTS:
        return COORD_ERR_LEASE_EXIST;
    case LEASE_ERR_TTL_TOO_LARGE:
        return COORD_ERR_LEASE_TTL_TOO_LARGE;
    case LEASE_ERR_NOT_FOUND:
    case LEASE_ERR_INVALID: /* etcd answers a grant of lease 0 "lease not found" */
        return COORD_ERR_LEASE_NOT_FOUND;
    default:
        return COORD_ERR_INTERNAL;
    }
}

int apply_lease_grant(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                      const uint8_t *req, size_t len)
{
    etcdserverpb_LeaseGrantRequest r;
    if (pbx_decode(&etcdserverpb_LeaseGrantRequest_msg, &r, req, len) != 0) {
        answer(s, id, COORD_ERR_INVALID_ARGUMENT, NULL, NULL);
        return commit_rows(s, index, NULL);
    }
    int64_t granted = 0;
    int lrc = lease_table_check_grant(s->leases, r.ID, r.TTL, &granted);
    if (lrc != LEASE_OK) {
        answer(s, id, from_lease(lrc), NULL, NULL);
        return commit_rows(s, index, NULL);
    }
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    lease_store_put(b, s->st, r.ID, granted, 0);
    int rc = commit_rows(s, index, b);
    rocksdb_writebatch_destroy(b);
    if (rc != 0) return -1;
    lrc = lease_table_grant(s->leases, r.ID, r.TTL, &granted);
    if (lrc != LEASE_OK) return -1; /* only memory can fail here: the table lags the store */
    etcdserverpb_LeaseGrantResponse out = {0};
    out.has_header = true;
    server_fill_header_term(s, &out.header, mvcc_current_rev(s->kv), term);
    out.ID = r.ID;
    out.TTL = granted;
    answer(s, id, COORD_OK, &etcdserverpb_LeaseGrantResponse_msg, &out);
    return 0;
}

/* The keys of one lease, copied out of the iterator. */
struct key_list {
    uint8_t **keys;
    size_t *lens;
    size_t n, cap;
};

static void key_list_free(struct key_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->keys[i]);
    free(l->keys);
    free(l->lens);
}

static int key_list_add(void *arg, const uint8_t *key, size_t len)
{
    struct key_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint8_t **k = realloc(l->keys, cap * sizeof(*k));
        if (!k) return -1;
        l->keys = k;
        size_t *n = realloc(l->lens, cap * sizeof(*n));
        if (!n) return -1;
        l->lens = n;
        l->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return -1;
    if (len) memcpy(copy, key, len);
    l->keys[l->n] = copy;
    l->lens[l->n++] = len;
    return 0;
}

int apply_lease_revoke(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                       const uint8_t *req, size_t len)
{
    etcdserverpb_LeaseRevokeRequest r;
    if (pbx_decode(&etcdserverpb_LeaseRevokeRequest_msg, &r, req, len) != 0) {
        answer(s, id, COORD_ERR_INVALID_ARGUMENT, NULL, NULL);
        return commit_rows(s, index, NULL);
    }
    if (!lease_table_exists(s->leases, r.ID)) {
        answer(s, id, COORD_ERR_LEASE_NOT_FOUND, NULL, NULL);
        return commit_rows(s, index, NULL);
    }
    struct key_list keys = {0};
    int rc = -1;
    if (lease_store_keys(s->st, r.ID, key_list_add, &keys) != 0) goto done_free_keys;
    mvcc_txn *t;
    if (mvcc_write_begin(s->kv, &t) != MVCC_OK) goto done_free_keys;
    /* Every key in one transaction: one revision for all of them, as etcd does it. */
    int64_t deleted_total = 0;
    for (size_t i = 0; i < keys.n; i++) {
        int64_t deleted = 0;
        if (mvcc_txn_delete_range(t, keys.keys[i], keys.lens[i], NULL, 0, NULL, NULL, &deleted) !=
            MVCC_OK)
            goto done_end_txn;
        deleted_total += deleted;
    }
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    lease_store_delete(b, s->st, r.ID);
    int64_t rev;
    int crc = mvcc_txn_commit(t, index, b, &rev);
    rocksdb_writebatch_destroy(b);
    if (crc != MVCC_OK) goto done_end_txn;
    lease_table_revoke(s->leases, r.ID);
    if (deleted_total > 0 && s->on_revision) s->on_revision(s->on_revision_arg, rev);
    etcdserverpb_LeaseRevokeResponse out = {0};
    out.has_header = true;
    server_fill_header_term(s, &out.header, rev, term);
    answer(s, id, COORD_OK, &etcdserverpb_LeaseRevokeResponse_msg, &out);
    rc = 0;
done_end_txn:
    mvcc_txn_end(t);
done_free_keys:
    key_list_free(&keys);
    return rc;
}

int apply_lease_checkpoint(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                           const uint8_t *req, size_t len)
{
    (void)term;
    etcdserverpb_LeaseCheckpointRequest r;
    if (pbx_decode(&etcdserverpb_LeaseCheckpointRequest_msg, &r, req, len) != 0) {
        answer(s, id, COORD_ERR_INVALID_ARGUMENT, NULL, NULL);
        return commit_rows(s, index, NULL);
    }
    const etcdserverpb_LeaseCheckpoint *cps = r.checkpoints.items;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    for (size_t i = 0; i < r.checkpoints.count; i++) {
        lease_info info;
        /* A lease revoked after the checkpoint was measured has nothing left to record. */
        if (lease_table_lookup(s->leases, cps[i].ID, &info) != LEASE_OK) continue;
        int64_t remaining = cps[i].remaining_TTL > 0 ? cps[i].remaining_TTL : 0;
        lease_store_put(b, s->st, cps[i].ID, info.ttl, remaining);
    }
    int rc = commit_rows(s, index, b);
    rocksdb_writebatch_destroy(b);
    if (rc == 0)
        for (size_t i = 0; i < r.checkpoints.count; i++)
            lease_table_checkpoint(s->leases, cps[i].ID, cps[i].remaining_TTL);
    pbx_release(&etcdserverpb_LeaseCheckpointRequest_msg, &r);
    /* Checkpoints are proposed by the primary itself; nobody waits for them. */
    (void)id;
    return rc;
}

static bool hook_lease_exists(void *arg, int64_t lease)
{
    apply_lease_hooks *h = arg;
    return lease_table_exists(h->s->leases, lease);
}

static int hook_lease_moved(void *arg, const uint8_t *key, size_t key_len, int64_t from_lease,
                            int64_t to_lease)
{
    apply_lease_hooks *h = arg;
    if (from_lease && lease_store_detach(h->batch, h->s->st, from_lease, key, key_len) != 0)
        return -1;
    if (to_lease && lease_store_attach(h->batch, h->s->st, to_lease, key, key_len) != 0) return -1;
    return 0;
}

void apply_lease_hooks_install(kv_exec *x, apply_lease_hooks *h)
{
    x->lease_exists = hook_lease_exists;
    x->lease_moved = hook_lease_moved;
    x->lease_arg = h;
}
