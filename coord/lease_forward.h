/* lease_forward: how a member that is not the leader answers what only the leader knows about
 * leases — keep-alives and TimeToLive — by asking the leader over its client URL, as etcd's
 * followers do over their peer link.
 *
 * A few worker threads (never the gRPC threads) each keep one keep-alive stream open to the
 * current leader and make the TimeToLive calls; every client stream is served by one worker
 * only, so its answers come back in the order of its requests. The answer is the leader's
 * (its TTL), under this member's header, as etcd's is. When no leader is known, or the leader
 * cannot be reached, a keep-alive stream ends with "etcdserver: no leader" (clients open
 * another) and a TimeToLive fails with it. A request that was itself forwarded is never
 * forwarded again (metadata "coord-forwarded"), so two members that disagree about the leader
 * cannot bounce it between them.
 */
#ifndef COORD_LEASE_FORWARD_H
#define COORD_LEASE_FORWARD_H

#include "server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_FORWARDED_MD "coord-forwarded"

typedef struct lease_forward lease_forward;

int lease_forward_create(coord_server *s, lease_forward **out);
/* Stops the workers; whatever is queued is answered "server stopped". NULL is ignored. */
void lease_forward_destroy(lease_forward *f);

/* Renews lease id through the leader; the answer (this member's header, the leader's TTL) is
 * sent on st. Takes a reference on st until then. */
void lease_forward_keepalive(lease_forward *f, rpc_stream *st, int64_t id);
/* Answers call with the leader's TimeToLive for req (an encoded LeaseTimeToLiveRequest). */
void lease_forward_time_to_live(lease_forward *f, rpc_unary *call, const uint8_t *req, size_t len);

#endif
