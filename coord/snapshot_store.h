/* snapshot_store: a member's state as a Raft snapshot, on disk.
 *
 * Taking one (the leader): snapshot_checkpoint makes a RocksDB checkpoint of the member's whole
 * database in a new directory (hard links to the immutable SST files plus a copy of the live
 * WAL: fast, and little disk while the live files stay) and derives its Raft metadata from the
 * checkpoint ALONE:
 *   index = the applied index the state machine recorded in it (mvcc's applied index);
 *   term  = that entry's term, from the checkpoint's own copy of the Raft log;
 *   conf  = the configuration at that index: the checkpoint's snapshot point's, plus every
 *           configuration change in its log up to the index (exactly what a member restarted
 *           from this database computes; the Raft core does it here too, see the .c).
 * Why not the snapshot point Raft asked about? The checkpoint is taken later while apply goes
 * on, so its state machine is usually AHEAD of that point; shipped under the older point's
 * metadata the receiver would apply the entries in between a second time (and a restart would
 * find an applied index past its log). Read from one checkpoint, the three describe one
 * instant and agree by construction. The log always holds the applied entry: it is written
 * (synced) before it is applied, and trimmed only well behind the snapshot point, which is at
 * or below the applied index.
 *
 * Installing one (a follower): snapshot_install makes the state machine of the live database
 * equal to the checkpoint's — column families kv, changes, meta and lease, and the state
 * machine's keys in raftmeta ("members" and "attr/..."; never the member's own "self", hard
 * state, snapshot point or log) — and writes the node's raft batch (the log reset) in the same
 * synced write that completes it. The copy takes many batches, so it is bracketed by a marker:
 *   1. raftmeta "snapshot_install" = the metadata and the checkpoint's directory, synced;
 *   2. for each part: delete the live range, then put the checkpoint's keys, in batches of
 *      batch_bytes (unsynced: the synced write of 3 makes them durable, they share one WAL);
 *   3. one synced write: the raft batch, and the marker deleted.
 * A crash before 3 leaves the marker, and snapshot_recover (at start, before anything reads
 * the state machine) redoes 2 and 3 from the same directory, which stays until 3 is done. A
 * crash before 1 leaves the old state whole. Either way the log and the state machine agree:
 * the log is reset only by the write that completes the state, so no gap opens between them.
 *
 * The data of a raft_snapshot names the checkpoint (snapshot_name): its index and a random
 * token, so two checkpoints at one index are never confused.
 *
 * Threads: functions work on the handles given. The live database may be written by others
 * during snapshot_checkpoint (RocksDB allows it); snapshot_install and snapshot_recover must be
 * its only writer.
 */
#ifndef COORD_SNAPSHOT_STORE_H
#define COORD_SNAPSHOT_STORE_H

#include "raft.h"
#include "storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- names ---- */

#define SNAPSHOT_DATA_LEN 21 /* "CSNP", version, be64 index, be64 token */
#define SNAPSHOT_NAME_MAX 48 /* formatted, with the NUL */

typedef struct snapshot_name {
    uint64_t index;
    uint64_t token;
} snapshot_name;

void snapshot_name_encode(const snapshot_name *n, uint8_t out[SNAPSHOT_DATA_LEN]);
/* Returns 0, or -1 when data is not a snapshot name. */
int snapshot_name_decode(const uint8_t *data, size_t len, snapshot_name *out);
/* "<index>-<token as 16 hex digits>": the directory name of the checkpoint. */
void snapshot_name_format(const snapshot_name *n, char out[SNAPSHOT_NAME_MAX]);

/* ---- taking ---- */

/* Makes the checkpoint in dir (which must not exist; its parent must, on the same file
 * system) and derives its metadata. On failure returns -1 and a malloc'd *err (if err). */
int snapshot_checkpoint(storage *live, const char *dir, raft_snapshot_meta *meta, char **err);
/* The metadata of the checkpoint in dir, derived as above. */
int snapshot_read_meta(const char *dir, raft_snapshot_meta *meta, char **err);

/* ---- installing ---- */

typedef struct snapshot_install_opts {
    size_t batch_bytes; /* keys and values per write; 0: 4 MiB */
    /* After each batch is written (n counts them from 1). Nonzero stops the install there, as
     * if the process had died: the marker stays for snapshot_recover (tests; a crash seam). */
    int (*after_batch)(void *arg, size_t n);
    void *arg;
} snapshot_install_opts;

typedef struct snapshot_install_stats {
    uint64_t keys, bytes;
    size_t batches;
} snapshot_install_stats;

/* Installs the checkpoint in dir, whose applied index must be meta->index, as described above;
 * adds the marker's removal to raft_batch and writes it synced last. o and stats may be NULL.
 * Returns 0, or -1 with a malloc'd *err: the state may then be half replaced, and the member
 * must stop (a restart finishes the install). */
int snapshot_install(storage *live, const char *dir, const raft_snapshot_meta *meta,
                     rocksdb_writebatch_t *raft_batch, const snapshot_install_opts *o,
                     snapshot_install_stats *stats, char **err);

typedef struct snapshot_recovery {
    bool redone;             /* an interrupted install was found and finished */
    raft_snapshot_meta meta; /* ...at this point */
    char *dir;               /* ...from this directory (malloc'd; the caller frees) */
    snapshot_install_stats stats;
} snapshot_recovery;

/* Finishes an install a crash interrupted, if the marker says there was one; the raft batch is
 * the log reset raft_store_stage_snapshot makes. Run before the state machine and the node
 * open the database. Returns 0, or -1 with a malloc'd *err. */
int snapshot_recover(storage *live, const snapshot_install_opts *o, snapshot_recovery *out,
                     char **err);

#endif
