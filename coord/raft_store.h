/* raft_store: the Raft core's storage (raft_storage) on the member's RocksDB.
 *
 *   STORAGE_CF_RAFTLOG   be64 index -> [be64 term][u8 type][data]
 *   STORAGE_CF_RAFTMETA  "hs"      -> be64 term, vote, commit
 *                        "snap"    -> the latest snapshot point: be64 index, term, conf state
 *                        "compact" -> the compaction point: be64 index, term
 *
 * The node loop stages a ready's entries and hard state into its write batch
 * (raft_store_stage), writes the batch (synced when the ready says so), then tells the store
 * (raft_store_staged_written) so the cached bounds follow. Reads by the core see what was
 * written. One thread (the node loop) uses a raft_store.
 */
#ifndef COORD_RAFT_STORE_H
#define COORD_RAFT_STORE_H

#include "raft.h"
#include "storage.h"

typedef struct raft_store raft_store;

int raft_store_open(storage *st, raft_store **out);
void raft_store_close(raft_store *rs);
const raft_storage *raft_store_view(raft_store *rs);

/* Adds rd's entries (overwriting from the first one's index) and hard state to b. */
int raft_store_stage(raft_store *rs, rocksdb_writebatch_t *b, const struct raft_ready *rd);
/* b was written: the staged entries are now the log. */
void raft_store_staged_written(raft_store *rs);

/* Records a snapshot point (the state machine's applied state) and drops the log up to
 * meta->index - keep (the compaction point), into b. */
int raft_store_compact(raft_store *rs, rocksdb_writebatch_t *b, const raft_snapshot_meta *meta,
                       uint64_t keep);

/* Where the leader's snapshots come from: fn fills out->data (opaque to the core: it names the
 * state to ship) for the latest snapshot point meta, or returns
 * RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE. Without a source no snapshot is ever offered. */
typedef int (*raft_store_snapshot_fn)(void *arg, const raft_snapshot_meta *meta,
                                      raft_snapshot *out);
void raft_store_set_snapshot_source(raft_store *rs, raft_store_snapshot_fn fn, void *arg);

/* A received snapshot was installed in the state machine: the log restarts after meta->index
 * (everything before it is dropped) and meta becomes the snapshot point; staged into b. */
int raft_store_stage_snapshot(raft_store *rs, rocksdb_writebatch_t *b,
                              const raft_snapshot_meta *meta);

uint64_t raft_store_first_index(raft_store *rs);
uint64_t raft_store_last_index(raft_store *rs);

#endif
