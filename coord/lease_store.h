/* lease_store: the leases and their attached keys in STORAGE_CF_LEASE.
 *
 * Layout:
 *   'l' ‖ be64 id        -> be64 granted TTL ‖ be64 remaining TTL (0: none checkpointed)
 *   'k' ‖ be64 id ‖ key  -> ""   (one row per key attached to the lease)
 * So a restart rebuilds the lease table from the 'l' rows alone (one row per lease, never a
 * scan of the key space), and a revoke or TimeToLive --keys reads one lease's keys with one
 * seek. The keys are not kept in memory at all.
 *
 * Writes go into a batch the apply step commits together with its MVCC transaction (the
 * applied index, the key changes and these rows move as one), so the attachments always
 * agree with the keys' own lease fields.
 */
#ifndef COORD_LEASE_STORE_H
#define COORD_LEASE_STORE_H

#include "lease.h"
#include "storage.h"

#include <stddef.h>
#include <stdint.h>

/* Puts every stored lease into t (lease_table_restore). Returns 0, or -1 on a RocksDB error or
 * a malformed row (err gets a malloc'd message, if not NULL). */
int lease_store_load(storage *st, lease_table *t, char **err);

void lease_store_put(rocksdb_writebatch_t *b, storage *st, int64_t id, int64_t ttl,
                     int64_t remaining_ttl);
/* Deletes the lease's row and all of its attachment rows. */
void lease_store_delete(rocksdb_writebatch_t *b, storage *st, int64_t id);
/* Attach/detach return 0, or -1 when memory runs out (nothing was added to the batch). */
int lease_store_attach(rocksdb_writebatch_t *b, storage *st, int64_t id, const uint8_t *key,
                       size_t key_len);
int lease_store_detach(rocksdb_writebatch_t *b, storage *st, int64_t id, const uint8_t *key,
                       size_t key_len);

/* Calls fn with each key attached to the lease, in key order, as committed. fn returns 0 to go
 * on, 1 to stop, < 0 to fail (passed back). The key is valid only during the call. Returns 0,
 * fn's failure, or -1 on a RocksDB error. */
typedef int (*lease_store_key_fn)(void *arg, const uint8_t *key, size_t key_len);
int lease_store_keys(storage *st, int64_t id, lease_store_key_fn fn, void *arg);

#endif
