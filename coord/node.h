/* node: the ordered, durable log of a member and the loop that feeds the apply step.
 *
 * Proposals from any thread are queued; the node thread takes everything queued, appends it to
 * the log column family in ONE synced RocksDB write (group commit: all proposals that arrived
 * meanwhile share one fsync), then hands each entry, in log order, to the apply callback. An
 * entry is applied only after it is durable, and the apply callback records the applied index
 * in its own (unsynced) batch, so after a crash node_start replays exactly the entries after the
 * applied index. The log is trimmed behind the applied index (keeping a tail for catch-up).
 *
 * This is a one-member log: every durable entry is committed. The Raft core replaces the
 * commit decision without changing the apply side.
 */
#ifndef COORD_NODE_H
#define COORD_NODE_H

#include "storage.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node node;

/* Applies the committed entry at index. Returns 0, or -1 when the state machine can no longer be
 * trusted (the node stops applying and the server shuts down). */
typedef int (*node_apply_fn)(void *arg, uint64_t index, uint64_t term, const uint8_t *entry,
                             size_t len);

typedef struct node_opts {
    storage *st;
    uint64_t applied_index; /* the state machine's, read at start */
    node_apply_fn apply;
    void *apply_arg;
    int64_t tick_ms;           /* heartbeat interval */
    uint64_t log_keep_entries; /* entries kept behind the applied index */
} node_opts;

/* Opens the log, starts a new term, replays (applied_index, last] through apply, then starts the
 * node thread. */
int node_start(const node_opts *o, node **out);
/* Queues a copy of entry for the log. Fails once the node is stopping. */
int node_propose(node *n, const uint8_t *entry, size_t len);
/* Waits until the node thread has stopped (queued proposals are dropped) and frees it. */
void node_stop(node *n);

uint64_t node_term(node *n);
uint64_t node_commit_index(node *n);
uint64_t node_applied_index(node *n);
bool node_failed(node *n);

#endif
