/* libcoord: a C client for coord (and for any etcd 3.4 server) over the gRPC C core.
 *
 * It speaks etcd's v3 API (KV, Maintenance.Status, Cluster.MemberList) and coord's own
 * coordpb.Coord/List (the immediate children of a directory).
 *
 * Calls are synchronous. One coord_client may be shared by many threads at once: each call
 * has its own gRPC call object; a channel per endpoint is shared.
 *
 * Endpoints and failover: the client holds a list of endpoints ("host:port" or
 * "http://host:port") and sends each call to its current endpoint. When that endpoint cannot
 * be reached within the dial timeout, the call moves on to the next endpoint (for every kind
 * of call: a request that never left cannot have been applied). Reads (range, status, member
 * list, list) are also retried on the next endpoint when the server answers UNAVAILABLE,
 * which includes "etcdserver: no leader"; writes (put, delete, txn, compact) are not, since a
 * write that reached a server may have been applied even if its answer was lost. Retries wait
 * a little (25 ms, doubling up to 500 ms) and stop at the command timeout, which bounds the
 * whole call, failover included. No RPC is made when a client is created (as etcdctl).
 *
 * Errors: every call returns COORD_OK (0) or a gRPC status code, and fills *err (which may be
 * NULL) with that code and the server's message, e.g. {COORD_INVALID_ARGUMENT, "etcdserver:
 * key is not provided"}: etcd's clients match on that exact text. Errors found by the client
 * itself use the same codes: COORD_DEADLINE_EXCEEDED with "context deadline exceeded" when the
 * command timeout passes (etcdctl's wording), COORD_INVALID_ARGUMENT for a bad request or
 * configuration, COORD_INTERNAL for an answer that does not decode, COORD_RESOURCE_EXHAUSTED
 * when memory runs out.
 *
 * Memory: requests are only read during the call (the caller keeps ownership). Every response
 * owns all of its memory (keys, values, nested responses) and is released with its _free
 * function; after a failed call the response holds nothing and freeing it is a no-op. A
 * zero-initialised response may always be freed.
 */
#ifndef COORD_API_LIBCOORD_H
#define COORD_API_LIBCOORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC status codes (same numbers as grpc_status_code). */
enum {
    COORD_OK = 0,
    COORD_CANCELLED = 1,
    COORD_UNKNOWN = 2,
    COORD_INVALID_ARGUMENT = 3,
    COORD_DEADLINE_EXCEEDED = 4,
    COORD_NOT_FOUND = 5,
    COORD_ALREADY_EXISTS = 6,
    COORD_PERMISSION_DENIED = 7,
    COORD_RESOURCE_EXHAUSTED = 8,
    COORD_FAILED_PRECONDITION = 9,
    COORD_ABORTED = 10,
    COORD_OUT_OF_RANGE = 11,
    COORD_UNIMPLEMENTED = 12,
    COORD_INTERNAL = 13,
    COORD_UNAVAILABLE = 14,
    COORD_DATA_LOSS = 15,
    COORD_UNAUTHENTICATED = 16,
};

#define COORD_ERROR_MESSAGE_MAX 256

typedef struct coord_error {
    int code;                              /* COORD_OK or a gRPC status code */
    char message[COORD_ERROR_MESSAGE_MAX]; /* NUL-terminated; long messages are cut */
} coord_error;

/* A byte string (keys and values are bytes, not C strings). ptr may be NULL when len is 0. */
typedef struct coord_bytes {
    const uint8_t *ptr;
    size_t len;
} coord_bytes;

/* A view of a NUL-terminated string (without the NUL). */
coord_bytes coord_str(const char *s);

/* The range_end that selects every key starting with `prefix`: the prefix with its last byte
 * below 0xff incremented and the bytes after it dropped. A prefix of only 0xff bytes (or an
 * empty one) has no such end; the result is then "\0", which means "every key >= key".
 * `out` must have room for max(prefix.len, 1) bytes; the result points into it. */
coord_bytes coord_prefix_end(coord_bytes prefix, uint8_t *out);

/* --- client --------------------------------------------------------------------------- */

typedef struct coord_client coord_client;

typedef struct coord_config {
    const char *const *endpoints; /* "host:port" or "http://host:port"; none: 127.0.0.1:2379 */
    size_t n_endpoints;
    int dial_timeout_ms;    /* waiting for one endpoint to connect; 0: 2000 */
    int command_timeout_ms; /* one whole call, retries included; 0: 5000 */
} coord_config;

/* Copies what it needs from cfg. https:// endpoints are refused (no TLS yet). */
int coord_client_create(const coord_config *cfg, coord_client **out, coord_error *err);
void coord_client_destroy(coord_client *c);

/* --- responses' common parts ---------------------------------------------------------- */

typedef struct coord_header {
    uint64_t cluster_id;
    uint64_t member_id;
    int64_t revision;
    uint64_t raft_term;
} coord_header;

typedef struct coord_kv {
    coord_bytes key;
    coord_bytes value;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} coord_kv;

/* Owns a response's memory; opaque. */
typedef struct coord_arena coord_arena;

/* --- KV ------------------------------------------------------------------------------- */

typedef enum coord_sort_order {
    COORD_SORT_NONE = 0,
    COORD_SORT_ASCEND = 1,
    COORD_SORT_DESCEND = 2,
} coord_sort_order;

typedef enum coord_sort_target {
    COORD_SORT_KEY = 0,
    COORD_SORT_VERSION = 1,
    COORD_SORT_CREATE = 2,
    COORD_SORT_MOD = 3,
    COORD_SORT_VALUE = 4,
} coord_sort_target;

/* RangeRequest. range_end empty: the single key; "\0": every key >= key; else [key, end). */
typedef struct coord_range_req {
    coord_bytes key;
    coord_bytes range_end;
    int64_t limit;    /* 0: no limit */
    int64_t revision; /* <= 0: latest */
    coord_sort_order sort_order;
    coord_sort_target sort_target;
    bool serializable; /* local read on the member, without a read index */
    bool keys_only;
    bool count_only;
    int64_t min_mod_revision, max_mod_revision; /* 0: no bound */
    int64_t min_create_revision, max_create_revision;
} coord_range_req;

typedef struct coord_range_resp {
    coord_header header;
    coord_kv *kvs;
    size_t n_kvs;
    bool more;     /* more keys matched than limit allowed */
    int64_t count; /* keys in the range, ignoring limit */
    coord_arena *arena;
} coord_range_resp;

typedef struct coord_put_req {
    coord_bytes key;
    coord_bytes value;
    int64_t lease; /* 0: none */
    bool prev_kv;
    bool ignore_value;
    bool ignore_lease;
} coord_put_req;

typedef struct coord_put_resp {
    coord_header header;
    bool has_prev_kv;
    coord_kv prev_kv;
    coord_arena *arena;
} coord_put_resp;

typedef struct coord_delete_req {
    coord_bytes key;
    coord_bytes range_end; /* as in coord_range_req */
    bool prev_kv;
} coord_delete_req;

typedef struct coord_delete_resp {
    coord_header header;
    int64_t deleted;
    coord_kv *prev_kvs;
    size_t n_prev_kvs;
    coord_arena *arena;
} coord_delete_resp;

/* --- transactions --------------------------------------------------------------------- */

typedef enum coord_compare_result {
    COORD_CMP_EQUAL = 0,
    COORD_CMP_GREATER = 1,
    COORD_CMP_LESS = 2,
    COORD_CMP_NOT_EQUAL = 3,
} coord_compare_result;

typedef enum coord_compare_target {
    COORD_CMP_VERSION = 0,
    COORD_CMP_CREATE = 1,
    COORD_CMP_MOD = 2,
    COORD_CMP_VALUE = 3,
    COORD_CMP_LEASE = 4,
} coord_compare_target;

/* "target(key [, range_end]) result operand": holds for every key in the range. */
typedef struct coord_compare {
    coord_compare_result result;
    coord_compare_target target;
    coord_bytes key;
    coord_bytes range_end;
    int64_t number;    /* the operand for VERSION, CREATE, MOD and LEASE */
    coord_bytes value; /* the operand for VALUE */
} coord_compare;

typedef enum coord_op_type {
    COORD_OP_RANGE = 1,
    COORD_OP_PUT = 2,
    COORD_OP_DELETE = 3,
    COORD_OP_TXN = 4,
} coord_op_type;

typedef struct coord_txn_req coord_txn_req;

typedef struct coord_op {
    coord_op_type type;
    union {
        coord_range_req range;
        coord_put_req put;
        coord_delete_req del;
        const coord_txn_req *txn; /* a nested transaction (etcd 3.4 allows them) */
    } u;
} coord_op;

struct coord_txn_req {
    const coord_compare *compares;
    size_t n_compares;
    const coord_op *success; /* run when every compare holds */
    size_t n_success;
    const coord_op *failure; /* run otherwise */
    size_t n_failure;
};

typedef struct coord_txn_resp coord_txn_resp;

/* One answer per op of the branch taken. Sub-responses belong to the top-level response:
 * their `arena` members are NULL and they are never freed on their own. */
typedef struct coord_op_resp {
    coord_op_type type;
    union {
        coord_range_resp range;
        coord_put_resp put;
        coord_delete_resp del;
        coord_txn_resp *txn;
    } u;
} coord_op_resp;

struct coord_txn_resp {
    coord_header header;
    bool succeeded;
    coord_op_resp *responses;
    size_t n_responses;
    coord_arena *arena;
};

/* --- maintenance and cluster ---------------------------------------------------------- */

typedef struct coord_status_resp {
    coord_header header;
    const char *version; /* the server's etcd version, e.g. "3.4.23" */
    int64_t db_size;
    uint64_t leader; /* member id of the leader; 0: none */
    uint64_t raft_index;
    uint64_t raft_term;
    uint64_t raft_applied_index;
    const char **errors; /* e.g. "etcdserver: no leader" */
    size_t n_errors;
    int64_t db_size_in_use;
    bool is_learner;
    coord_arena *arena;
} coord_status_resp;

typedef struct coord_member {
    uint64_t id;
    const char *name; /* "" while the member has not started */
    const char **peer_urls;
    size_t n_peer_urls;
    const char **client_urls;
    size_t n_client_urls;
    bool is_learner;
} coord_member;

typedef struct coord_member_list_resp {
    coord_header header;
    coord_member *members;
    size_t n_members;
    coord_arena *arena;
} coord_member_list_resp;

/* --- hierarchical listing (coordpb.Coord/List) ----------------------------------------- */

typedef struct coord_list_req {
    coord_bytes dir;   /* with or without its trailing '/' */
    int64_t revision;  /* <= 0: latest */
    int64_t limit;     /* children per page; 0: no limit */
    coord_bytes after; /* only children sorting after this key (the last key of a page) */
    bool serializable;
    bool keys_only;
} coord_list_req;

typedef struct coord_child {
    coord_bytes key;   /* the child's full key */
    bool has_children; /* keys exist below it */
    bool has_kv;       /* the child is itself a key; kv holds it */
    coord_kv kv;
} coord_child;

typedef struct coord_list_resp {
    coord_header header;
    coord_child *children;
    size_t n_children;
    bool more; /* another page follows: ask again with after = the last child's key */
    coord_arena *arena;
} coord_list_resp;

/* --- calls ---------------------------------------------------------------------------- */

int coord_range(coord_client *c, const coord_range_req *req, coord_range_resp *resp,
                coord_error *err);
int coord_put(coord_client *c, const coord_put_req *req, coord_put_resp *resp, coord_error *err);
int coord_delete(coord_client *c, const coord_delete_req *req, coord_delete_resp *resp,
                 coord_error *err);
int coord_txn(coord_client *c, const coord_txn_req *req, coord_txn_resp *resp, coord_error *err);
/* Compacts the history up to `revision`; physical: wait until old revisions are removed.
 * header may be NULL. */
int coord_compact(coord_client *c, int64_t revision, bool physical, coord_header *header,
                  coord_error *err);
/* Maintenance.Status of the member behind the current endpoint. */
int coord_status(coord_client *c, coord_status_resp *resp, coord_error *err);
int coord_member_list(coord_client *c, coord_member_list_resp *resp, coord_error *err);
/* One page of a directory's children (see coord_list_resp.more). */
int coord_list(coord_client *c, const coord_list_req *req, coord_list_resp *resp, coord_error *err);

void coord_range_resp_free(coord_range_resp *resp);
void coord_put_resp_free(coord_put_resp *resp);
void coord_delete_resp_free(coord_delete_resp *resp);
void coord_txn_resp_free(coord_txn_resp *resp);
void coord_status_resp_free(coord_status_resp *resp);
void coord_member_list_resp_free(coord_member_list_resp *resp);
void coord_list_resp_free(coord_list_resp *resp);

/* The endpoint (as configured) the next call will go to; valid until the client is
 * destroyed. */
const char *coord_client_endpoint(coord_client *c);

/* --- membership (libcoord_member.c) --------------------------------------------------- */

/* Adds a member with these peer URLs (a learner if asked); *new_id gets its ID and resp the
 * cluster's members after the change. promote_when_caught_up (with learner) goes through
 * coordpb.Coord/MemberAdd: the leader then promotes the learner itself once it has caught up. */
int coord_member_add(coord_client *c, const char *const *peer_urls, size_t n, bool learner,
                     bool promote_when_caught_up, uint64_t *new_id, coord_member_list_resp *resp,
                     coord_error *err);
int coord_member_remove(coord_client *c, uint64_t id, coord_member_list_resp *resp,
                        coord_error *err);
int coord_member_promote(coord_client *c, uint64_t id, coord_member_list_resp *resp,
                         coord_error *err);
int coord_member_update(coord_client *c, uint64_t id, const char *const *peer_urls, size_t n,
                        coord_member_list_resp *resp, coord_error *err);

/* --- leases (libcoord_lease.c) --------------------------------------------------------- */

typedef struct coord_lease_grant_resp {
    coord_header header;
    int64_t id;  /* the lease's ID (the server picks one when 0 was asked) */
    int64_t ttl; /* the TTL granted, seconds (the server raises one below its minimum) */
} coord_lease_grant_resp;

typedef struct coord_lease_ttl_resp {
    coord_header header;
    int64_t id;
    int64_t ttl;         /* seconds left; -1: no such lease (expired or revoked) */
    int64_t granted_ttl; /* 0 when there is no such lease */
    coord_bytes *keys;   /* the keys attached, when asked for */
    size_t n_keys;
    coord_arena *arena;
} coord_lease_ttl_resp;

typedef struct coord_lease_list_resp {
    coord_header header;
    int64_t *ids;
    size_t n_ids;
    coord_arena *arena;
} coord_lease_list_resp;

/* id 0: the server picks the ID. */
int coord_lease_grant(coord_client *c, int64_t ttl, int64_t id, coord_lease_grant_resp *resp,
                      coord_error *err);
/* Revokes the lease and deletes the keys attached to it. header may be NULL. */
int coord_lease_revoke(coord_client *c, int64_t id, coord_header *header, coord_error *err);
int coord_lease_time_to_live(coord_client *c, int64_t id, bool keys, coord_lease_ttl_resp *resp,
                             coord_error *err);
int coord_lease_list(coord_client *c, coord_lease_list_resp *resp, coord_error *err);
void coord_lease_ttl_resp_free(coord_lease_ttl_resp *resp);
void coord_lease_list_resp_free(coord_lease_list_resp *resp);

/* A keep-alive stream (Lease/LeaseKeepAlive) on the client's current endpoint: one stream
 * renews any number of leases, one request at a time. Used by one thread at a time. */
typedef struct coord_keepalive coord_keepalive;
int coord_keepalive_open(coord_client *c, coord_keepalive **out, coord_error *err);
/* Renews lease id and waits (up to the command timeout) for the answer: *ttl gets its TTL,
 * or 0 when the lease is gone (expired or revoked). header may be NULL. A failure means the
 * stream is over: close it and open another. */
int coord_keepalive_renew(coord_keepalive *k, int64_t id, int64_t *ttl, coord_header *header,
                          coord_error *err);
void coord_keepalive_close(coord_keepalive *k);

/* --- locks and elections (libcoord_lock.c): etcd's v3lockpb.Lock and v3electionpb.Election,
 * served by etcd and coord alike. wait_ms bounds the calls that wait for others (lock,
 * campaign); <= 0: wait as long as it takes. ------------------------------------------- */

typedef struct coord_lock_resp {
    coord_header header; /* the revision at which the lock was acquired */
    coord_bytes key;     /* the lock's key: unlock with it; its create revision fences */
    coord_arena *arena;
} coord_lock_resp;

/* Waits until the lock `name` is held under the lease (which must stay alive meanwhile). */
int coord_lock(coord_client *c, coord_bytes name, int64_t lease, int64_t wait_ms,
               coord_lock_resp *resp, coord_error *err);
int coord_unlock(coord_client *c, coord_bytes key, coord_header *header, coord_error *err);
void coord_lock_resp_free(coord_lock_resp *resp);

typedef struct coord_leader_key {
    coord_bytes name;
    coord_bytes key;
    int64_t rev; /* the key's create revision: proclaim and resign are guarded by it */
    int64_t lease;
} coord_leader_key;

typedef struct coord_campaign_resp {
    coord_header header;
    coord_leader_key leader;
    coord_arena *arena;
} coord_campaign_resp;

typedef struct coord_leader_resp {
    coord_header header;
    bool has_kv;
    coord_kv kv; /* the leader's key and its value (the proposal) */
    coord_arena *arena;
} coord_leader_resp;

/* Waits until this lease's candidacy leads the election `name`, with `value` proposed. */
int coord_campaign(coord_client *c, coord_bytes name, int64_t lease, coord_bytes value,
                   int64_t wait_ms, coord_campaign_resp *resp, coord_error *err);
int coord_proclaim(coord_client *c, const coord_leader_key *leader, coord_bytes value,
                   coord_header *header, coord_error *err);
/* The current leader; "election: no leader" when there is none. */
int coord_leader(coord_client *c, coord_bytes name, coord_leader_resp *resp, coord_error *err);
int coord_resign(coord_client *c, const coord_leader_key *leader, coord_header *header,
                 coord_error *err);
void coord_campaign_resp_free(coord_campaign_resp *resp);
void coord_leader_resp_free(coord_leader_resp *resp);

/* Observe: a stream of the election's leaders, the current one first, then each change. */
typedef struct coord_observer coord_observer;
int coord_observe(coord_client *c, coord_bytes name, coord_observer **out, coord_error *err);
/* Waits up to timeout_ms (< 0: forever) for the next leader. COORD_OK with *resp filled;
 * COORD_DEADLINE_EXCEEDED when nothing came in time (call again); another code when the
 * stream is over. */
int coord_observe_next(coord_observer *o, int64_t timeout_ms, coord_leader_resp *resp,
                       coord_error *err);
void coord_observe_close(coord_observer *o);

/* --- watches (libcoord_watch.c) --------------------------------------------------------- */

typedef enum coord_event_type {
    COORD_EVENT_PUT = 0,
    COORD_EVENT_DELETE = 1,
} coord_event_type;

/* A change. For a delete, kv has only key and mod_revision (the delete's revision). */
typedef struct coord_event {
    coord_event_type type;
    coord_kv kv;
    bool has_prev_kv; /* the key as it was just before (when the watch asked for it) */
    coord_kv prev_kv;
} coord_event;

/* WatchCreateRequest. key/range_end as in coord_range_req (an empty key is "\0"). */
typedef struct coord_watch_req {
    coord_bytes key;
    coord_bytes range_end;
    int64_t start_revision; /* 0: from the next revision on; else history from it */
    int64_t watch_id;       /* 0: the server picks one */
    bool prev_kv;
    bool progress_notify; /* empty responses now and then while nothing happens */
    bool fragment;        /* let the server split a huge revision (joined again here) */
    bool no_put;          /* filters */
    bool no_delete;
} coord_watch_req;

/* One WatchResponse (fragments already joined). created: the answer to a create (watch_id -1
 * and canceled when refused, cancel_reason says why); canceled: the watch is over
 * (compact_revision set when history it needed was compacted); no events and neither flag: a
 * progress notification, header.revision the revision reached (watch_id -1: for every watch
 * of the stream). */
typedef struct coord_watch_resp {
    coord_header header;
    int64_t watch_id;
    bool created;
    bool canceled;
    int64_t compact_revision;
    const char *cancel_reason; /* "" when none */
    coord_event *events;
    size_t n_events;
    coord_arena *arena;
} coord_watch_resp;

/* A Watch stream: any number of watches, their responses in one sequence. Opened on an
 * endpoint that answers (with the client's failover); it does not move to another endpoint by
 * itself: when it ends, open a new one and recreate each watch from its last revision + 1.
 * One thread may send (create, cancel, progress) while another receives. */
typedef struct coord_watch_stream coord_watch_stream;

int coord_watch_open(coord_client *c, coord_watch_stream **out, coord_error *err);
/* Requests; the server's answers come through coord_watch_recv, in order. */
int coord_watch_create(coord_watch_stream *ws, const coord_watch_req *req, coord_error *err);
int coord_watch_cancel(coord_watch_stream *ws, int64_t watch_id, coord_error *err);
int coord_watch_progress(coord_watch_stream *ws, coord_error *err);
/* Waits up to timeout_ms (< 0: forever) for the next response. COORD_OK with *resp filled;
 * COORD_DEADLINE_EXCEEDED when nothing came in time (call again, nothing is lost); another
 * code when the stream is over (err says why). */
int coord_watch_recv(coord_watch_stream *ws, int64_t timeout_ms, coord_watch_resp *resp,
                     coord_error *err);
void coord_watch_resp_free(coord_watch_resp *resp);
/* Ends the stream (the server drops its watches) and frees it. */
void coord_watch_close(coord_watch_stream *ws);

#ifdef __cplusplus
}
#endif

#endif
