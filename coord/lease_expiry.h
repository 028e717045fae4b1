/* lease_expiry: the thread that makes time pass for leases on the primary member.
 *
 * Every tick it asks whether this member leads. On becoming leader it promotes the lease table
 * (every lease starts afresh at its remaining TTL plus the election timeout); on losing the
 * lead it demotes it. While leading it proposes a revoke for each expired lease (at most the
 * revoke rate per second) and a checkpoint entry for the remaining TTLs that are due. Nothing
 * is decided by the proposal alone: a revoke takes effect when the log commits and applies it,
 * so a leader that lost its quorum revokes nothing.
 *
 * Each tick is also the lease table's tick: a table not ticked for longer than its pause_ms (the
 * process was stopped, the machine suspended) restarts every lease's clock rather than letting
 * every lease expire at once for a pause that was ours (lease.h).
 *
 * Where leadership comes from is the caller's: `is_leader` (a member of one always leads).
 */
#ifndef COORD_LEASE_EXPIRY_H
#define COORD_LEASE_EXPIRY_H

#include "apply.h"
#include "server.h"

#include <pb.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct lease_expiry lease_expiry;

typedef struct lease_expiry_opts {
    coord_server *s;
    int64_t tick_ms;        /* how often to look; the heartbeat interval */
    int64_t extend_ms;      /* the election timeout: added to every lease on promotion */
    int64_t revoke_per_s;   /* revokes proposed per second at most (etcd: 1000) */
    int64_t checkpoint_max; /* checkpoints per entry at most (etcd: 1000) */
    bool (*is_leader)(void *arg);
    void *leader_arg;
} lease_expiry_opts;

/* Looks once at once (so a member that leads is primary before it serves), then starts the
 * thread. */
int lease_expiry_start(const lease_expiry_opts *o, lease_expiry **out);
/* Stops the thread and frees it; no proposal is made after it returns. NULL is ignored. */
void lease_expiry_stop(lease_expiry *e);

/* Proposes msg as an entry of `type` that nobody waits for (revokes on expiry, checkpoints).
 * Returns 0, or -1 when it could not be encoded or the log refused it. */
int lease_propose(coord_server *s, enum entry_type type, const pb_msgdesc_t *desc, const void *msg);

/* The lease table's clock: CLOCK_MONOTONIC in ms (arg unused). */
int64_t lease_clock_ms(void *arg);

#endif
