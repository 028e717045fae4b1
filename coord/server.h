/* server: what the etcd service handlers share — the member's identity, its stores, its log and
 * the requests waiting on it. Built by main, torn down by main; handlers only borrow it.
 */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include "config.h"
#include "errors.h"
#include "lease.h"
#include "mvcc.h"
#include "node.h"
#include "rpc_server.h"
#include "storage.h"
#include "wait.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct coord_server {
    const coord_config *cfg;
    struct membership *membership; /* the cluster's members (membership.h) */
    struct peer_transport *peers;  /* NULL until started */
    rpc_server *peer_rpc;          /* the peer URLs' listener */
    storage *st;
    mvcc *kv;
    node *log;
    struct snapshot_mgr *snapshots; /* shipping and installing snapshots (snapshot.h) */
    wait_registry *waits;
    rpc_server *rpc;
    lease_table *leases;             /* the apply step changes it; the primary's clock runs it */
    struct lease_forward *lease_fwd; /* a follower's way to the leader for lease calls */
    uint64_t member_id;
    uint64_t cluster_id;
    /* Request IDs as etcd makes them: member ID's low 16 bits, then a 40-bit start time in ms
     * and a counter, so IDs of different members and restarts never collide. */
    uint64_t reqid_prefix;
    _Atomic uint64_t reqid_counter;
    /* Told, on the applying thread, each time a write raises the store's revision (after the
     * commit is visible to readers). Watches hang here; NULL when nothing listens. */
    void (*on_revision)(void *arg, int64_t rev);
    void *on_revision_arg;
    /* This member's attributes were applied (members.c); ticks since it started asking. */
    _Atomic bool attr_published;
    uint64_t attr_ticks, attr_asked_tick;
    uint64_t auto_promote_ticks;                /* node thread only */
    uint64_t removed_peers[CONFIG_MAX_MEMBERS]; /* removed, streams kept until joint is left */
    size_t n_removed_peers;
    int64_t removed_at_ms; /* when this member's removal applied (node thread), 0 if not */
    /* MoveLeader calls waiting for their target to lead (maintenance_service.c). */
    pthread_mutex_t moves_mu;
    struct leader_move *moves;
    /* etcd's request timeout: 5 s + 2 election timeouts. */
    int64_t request_timeout_ms;
} coord_server;

int64_t server_now_ms(void); /* CLOCK_MONOTONIC, in ms */

uint64_t server_next_request_id(coord_server *s);

/* Fills an etcd ResponseHeader: cluster, member, term (the current one, or the given one), and
 * the revision. */
struct _etcdserverpb_ResponseHeader;
void server_fill_header(coord_server *s, struct _etcdserverpb_ResponseHeader *h, int64_t rev);
void server_fill_header_term(coord_server *s, struct _etcdserverpb_ResponseHeader *h, int64_t rev,
                             uint64_t term);

/* Proposes a request as a log entry and arranges for `call` to be answered once it is applied.
 * Checks the size limit (etcd's "request is too large"). On any failure the call is answered. */
void server_propose(coord_server *s, rpc_unary *call, int type, const uint8_t *req, size_t len);

/* Answers a unary call with one of etcd's errors. */
void server_fail(rpc_unary *call, coord_err e);

/* Serves a read: at once when serializable, else once a ReadIndex round says this member has
 * applied everything committed before the call (linearizable). fn gets the request bytes (a
 * copy, when deferred) and answers the call. */
typedef void (*server_read_fn)(coord_server *s, rpc_unary *call, const uint8_t *req, size_t len);
void server_read(coord_server *s, rpc_unary *call, bool linearizable, server_read_fn fn,
                 const uint8_t *req, size_t len);

/* Service registration, one per etcd service (each in its own file). */
int kv_service_register(coord_server *s);
int maintenance_service_register(coord_server *s);
/* Every tick: answers MoveLeader calls whose target now leads or whose time is up. */
void maintenance_tick(coord_server *s);
/* At shutdown, before the client listener closes: answers the MoveLeader calls still waiting. */
void maintenance_stop(coord_server *s);
int cluster_service_register(coord_server *s);
/* Cluster.MemberList on the peer listener, for members joining the cluster. */
int cluster_peer_service_register(coord_server *s, rpc_server *peer_rpc);
int coordpb_service_register(coord_server *s);
int lease_service_register(coord_server *s);

#endif
