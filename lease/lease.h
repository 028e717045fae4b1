/* lease: a member's lease table — which leases exist, their granted TTLs, the remaining TTLs
 * last checkpointed, and, on the primary member (the leader), when each one expires.
 *
 * Two kinds of callers, and the table keeps them apart:
 *  - the apply step changes the replicated state, in log order, the same on every member:
 *    lease_table_grant, _revoke, _checkpoint (and _restore at start). These never consult the
 *    clock to decide anything, so every member reaches the same table;
 *  - the primary member decides about time: it renews leases, finds the expired ones (to
 *    propose their revoke through the log) and the checkpoints due (to propose them). A member
 *    that is not primary holds every lease "forever" and never expires one itself.
 *
 * Becoming primary (lease_table_promote) starts every lease afresh at its remaining TTL (the
 * checkpointed one, or the granted TTL) plus `extend` (the election timeout), so a change of
 * primary never expires a lease early; and no more than `revoke_per_s` leases are let expire
 * within any one second, so a pile-up cannot swamp the log. A primary that finds it was not
 * running for a while (pause_ms) does the same before it expires anything.
 *
 * Time is read only through the injected clock (milliseconds on a monotonic scale).
 * Thread safety: every function may be called from any thread; one internal lock guards the
 * table. The table persists nothing: its owner writes what the apply step changed.
 */
#ifndef COORD_LEASE_H
#define COORD_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* etcd's largest TTL (seconds); a grant above it fails with LEASE_ERR_TTL_TOO_LARGE. */
#define LEASE_MAX_TTL 9000000000LL

enum lease_err {
    LEASE_OK = 0,
    LEASE_ERR_NOT_FOUND = -1,
    LEASE_ERR_EXISTS = -2,
    LEASE_ERR_TTL_TOO_LARGE = -3,
    LEASE_ERR_NOT_PRIMARY = -4, /* a leader-only call on a member that is not primary */
    LEASE_ERR_NOMEM = -5,
    LEASE_ERR_INVALID = -6, /* lease ID 0 ("no lease") */
};

typedef int64_t (*lease_clock_fn)(void *arg);

typedef struct lease_table_opts {
    lease_clock_fn now_ms; /* required */
    void *clock_arg;
    int64_t
        min_ttl; /* seconds; shorter grants are raised to it (etcd: from the election timeout) */
    /* How often the primary records the remaining TTL of each lease whose TTL is longer than
     * this, through the log; 0: never. */
    int64_t checkpoint_interval_ms;
    /* How many leases may be let expire within one second after a promotion; 0: 1000. */
    int64_t revoke_per_s;
    /* A lease handed out as expired is handed out again after this long if it still exists
     * (its revoke was lost); 0: 3000. */
    int64_t revoke_retry_ms;
    /* The primary's owner calls lease_table_tick regularly. When more than pause_ms passed
     * since the last tick, the member was not running (stopped, suspended, starved): keep-alives
     * could not reach it meanwhile, so at the next call every lease's clock starts afresh, as on
     * a promotion, before anything expires. 0: no such check. */
    int64_t pause_ms;
} lease_table_opts;

typedef struct lease_table lease_table;

int lease_table_create(const lease_table_opts *opts, lease_table **out);
void lease_table_destroy(lease_table *t);

/* --- the replicated state (apply step) ------------------------------------------------- */

/* What a grant of (id, ttl) would do, without doing it: LEASE_OK and the TTL it would be
 * granted (raised to the minimum), or the reason it fails. */
int lease_table_check_grant(lease_table *t, int64_t id, int64_t ttl, int64_t *granted_ttl);
/* Grants as lease_table_check_grant describes. On the primary the lease expires granted_ttl
 * from now; elsewhere it is held forever. */
int lease_table_grant(lease_table *t, int64_t id, int64_t ttl, int64_t *granted_ttl);
/* Puts back a lease read from storage (at start, before promotion): held forever until
 * promoted. remaining_ttl 0: none checkpointed. */
int lease_table_restore(lease_table *t, int64_t id, int64_t ttl, int64_t remaining_ttl);
int lease_table_revoke(lease_table *t, int64_t id);
/* Records the lease's remaining TTL as the primary measured it (0 clears it). LEASE_OK also
 * when the lease does not exist (it was revoked meanwhile): nothing to record. */
int lease_table_checkpoint(lease_table *t, int64_t id, int64_t remaining_ttl);
bool lease_table_exists(lease_table *t, int64_t id);

/* --- the primary member ---------------------------------------------------------------- */

/* LEASE_ERR_NOMEM when some lease could not be queued for expiry (it is then held until the
 * next promotion): the caller should treat the member as unfit to lead. */
int lease_table_promote(lease_table *t, int64_t extend_ms);
void lease_table_demote(lease_table *t);
bool lease_table_is_primary(lease_table *t);
/* The owner's regular tick (see pause_ms). Returns true when it found a pause and restarted
 * the clocks. */
bool lease_table_tick(lease_table *t);

/* Keep-alive: the lease expires its granted TTL from now; *ttl gets that TTL. A lease past its
 * expiry is not renewed (its revoke is on the way): LEASE_ERR_NOT_FOUND. *clear_checkpoint
 * is set when a remaining TTL was checkpointed: the caller proposes a checkpoint of 0, so a
 * restart does not start the lease from the older, shorter remaining TTL. */
int lease_table_renew(lease_table *t, int64_t id, int64_t *ttl, bool *clear_checkpoint);

/* Up to max leases past their expiry, earliest first, each handed out once (again only after
 * revoke_retry_ms if it still exists then). Nothing when not primary. */
size_t lease_table_expired(lease_table *t, int64_t *ids, size_t max);

typedef struct lease_checkpoint {
    int64_t id;
    int64_t remaining_ttl; /* seconds, rounded up */
} lease_checkpoint;
/* Up to max checkpoints that are due: leases whose remaining TTL fell below their TTL since
 * the last one. Each lease is scheduled again checkpoint_interval_ms later. */
size_t lease_table_due_checkpoints(lease_table *t, lease_checkpoint *out, size_t max);

/* --- reading --------------------------------------------------------------------------- */

typedef struct lease_info {
    int64_t id;
    int64_t ttl;           /* granted, seconds */
    int64_t remaining_ttl; /* last checkpointed, seconds; 0: none */
    /* Milliseconds until expiry on the primary (0 once past it); -1 when not primary (the
     * lease is held until a primary decides). */
    int64_t remaining_ms;
} lease_info;

int lease_table_lookup(lease_table *t, int64_t id, lease_info *out);
size_t lease_table_count(lease_table *t);
/* Every lease ID, ascending, in a malloc'd array (*ids is NULL when there are none). */
int lease_table_ids(lease_table *t, int64_t **ids, size_t *n);

/* etcd's minimum TTL in seconds for an election timeout and heartbeat interval: 1.5 election
 * timeouts in whole heartbeats, rounded up to a second. */
int64_t lease_min_ttl(int64_t election_ms, int64_t heartbeat_ms);

#endif
