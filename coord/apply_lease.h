/* apply_lease: the lease entries of the log — grant, revoke, checkpoint — applied to the lease
 * table and to STORAGE_CF_LEASE, and the hooks that keep each lease's key list in step with the
 * KV writes of the apply step.
 *
 * A grant, revoke or checkpoint changes the store and the table in this order: the MVCC write
 * transaction (with the lease rows in its batch) commits first, then the in-memory table
 * follows, so a reader never sees a lease the store does not have. A revoke deletes every key
 * attached to the lease in one write transaction: one revision, and the watchers hear of it.
 */
#ifndef COORD_APPLY_LEASE_H
#define COORD_APPLY_LEASE_H

#include "kv_exec.h"
#include "server.h"

#include <rocksdb/c.h>
#include <stddef.h>
#include <stdint.h>

/* The entry handlers: request id (for the waiter), log index and term, request protobuf.
 * Return 0, or -1 when the store failed (the state machine can no longer be trusted). */
int apply_lease_grant(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                      const uint8_t *req, size_t len);
int apply_lease_revoke(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                       const uint8_t *req, size_t len);
int apply_lease_checkpoint(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                           const uint8_t *req, size_t len);

/* What the KV hooks need: the server's leases and the batch the attachments go into (committed
 * with the KV transaction, dropped with it). */
typedef struct apply_lease_hooks {
    coord_server *s;
    rocksdb_writebatch_t *batch;
} apply_lease_hooks;

/* Points x's lease hooks at h. */
void apply_lease_hooks_install(kv_exec *x, apply_lease_hooks *h);

#endif
