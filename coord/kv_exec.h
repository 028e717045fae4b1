/* kv_exec: etcd's KV operations — Range, Put, DeleteRange, Txn — with etcd 3.4's rules, run
 * against one mvcc transaction, their responses built in an arena.
 *
 * The same code serves the apply step (a write txn: puts, deletes and writing Txns) and the
 * read path (a read txn: Range and read-only Txns), so a read inside a Txn and a Range call can
 * never disagree. Checks that need no state (empty key, ignore_* with a value, too many ops,
 * duplicate keys) are kv_check_*, run by the handler before anything is proposed.
 */
#ifndef COORD_KV_EXEC_H
#define COORD_KV_EXEC_H

#include "arena.h"
#include "errors.h"
#include "mvcc.h"
#include "rpc.pb.h"
#include <stdbool.h>

typedef struct kv_exec {
    mvcc *store;
    mvcc_txn *txn;
    arena *mem;        /* response data lives here */
    bool write;        /* a write txn (the apply step) */
    int64_t begin_rev; /* the store's revision before this txn */
    bool changed;      /* some key changed: the txn takes begin_rev + 1 */
    /* Whether a lease exists (Put with a lease). NULL: no lease exists. */
    bool (*lease_exists)(void *arg, int64_t lease);
    /* Told, in a write txn, of every key whose lease changes as the txn writes it (a put with
     * another lease than the key had, a delete of a key with a lease; 0 = none), so the leases'
     * key lists follow. Returns 0, or -1 to fail the txn. NULL: nobody listens. */
    int (*lease_moved)(void *arg, const uint8_t *key, size_t key_len, int64_t from_lease,
                       int64_t to_lease);
    void *lease_arg; /* for both */
} kv_exec;

void kv_exec_init(kv_exec *x, mvcc *store, mvcc_txn *txn, arena *mem, bool write);

coord_err kv_exec_range(kv_exec *x, const etcdserverpb_RangeRequest *r,
                        etcdserverpb_RangeResponse *out);
coord_err kv_exec_put(kv_exec *x, const etcdserverpb_PutRequest *r, etcdserverpb_PutResponse *out);
coord_err kv_exec_delete_range(kv_exec *x, const etcdserverpb_DeleteRangeRequest *r,
                               etcdserverpb_DeleteRangeResponse *out);
/* Decides every branch (outer and nested) against the state before the txn, checks the ops of
 * the taken path, then runs them. On an error nothing must be committed. */
coord_err kv_exec_txn(kv_exec *x, const etcdserverpb_TxnRequest *r, etcdserverpb_TxnResponse *out);

/* True when no branch of r (at any depth) writes. */
bool kv_txn_is_read_only(const etcdserverpb_TxnRequest *r);

coord_err kv_check_range(const etcdserverpb_RangeRequest *r);
coord_err kv_check_put(const etcdserverpb_PutRequest *r);
coord_err kv_check_delete_range(const etcdserverpb_DeleteRangeRequest *r);
coord_err kv_check_txn(const etcdserverpb_TxnRequest *r, int64_t max_txn_ops);

#endif
