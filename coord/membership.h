/* membership: the cluster's members as this member knows them.
 *
 * Bootstrapped from --initial-cluster (a new cluster) or from the running cluster's own list (a
 * member joining with --initial-cluster-state existing), then changed only by applied
 * configuration changes, in log order, so every member holds the same list. Persisted in
 * STORAGE_CF_RAFTMETA ("members": the list as an encoded MemberListResponse; "self": this
 * member's and the cluster's IDs) in the same batch as the applied index.
 *
 * Threads: the applying thread changes the list; gRPC threads read copies (membership_copy).
 */
#ifndef COORD_MEMBERSHIP_H
#define COORD_MEMBERSHIP_H

#include "server.h"

#include <pthread.h>

typedef struct member_rec {
    uint64_t id;
    bool learner;
    bool auto_promote; /* a learner the leader promotes once caught up (coordpb.MemberAdd) */
    char name[64];
    size_t n_peer;
    char peer[CONFIG_MAX_URLS][128]; /* peer URLs, e.g. "http://127.0.0.1:2380" */
} member_rec;

typedef struct membership {
    pthread_mutex_t mu;
    member_rec members[CONFIG_MAX_MEMBERS];
    size_t n;
} membership;

/* Fills s->member_id, s->cluster_id and the list: from what the data dir holds (a restart),
 * else from the running cluster (joining), else from the configuration (bootstrap). *joining
 * says the member must not bootstrap Raft with voters. */
int membership_init(coord_server *s, const coord_config *cfg, bool *joining);
void membership_destroy(coord_server *s);

/* Copies the list (under the lock). Returns the count. */
size_t membership_copy(coord_server *s, member_rec *out);
/* "host:port" of a member's first peer URL, for the transport. */
void member_peer_addr(const member_rec *m, char *out, size_t cap);

/* node apply_conf: a committed configuration change. */
int membership_apply_conf(void *arg, uint64_t index, uint64_t term, const uint8_t *data,
                          size_t len);
/* node conf_refused: answer the waiting request. */
void membership_conf_refused(void *arg, const uint8_t *ctx, size_t ctx_len, coord_err err);
/* Applies an ENTRY_MEMBER_UPDATE entry (new peer URLs of a member). */
int membership_apply_update(coord_server *s, uint64_t id, uint64_t index, const uint8_t *req,
                            size_t len);

/* After a snapshot install (node thread): reads the list the snapshot brought and makes the
 * transport follow it (new members get a stream, removed ones lose theirs). */
void membership_reload(void *arg);

/* Every tick on the node thread: the leader promotes learners added with auto-promotion once
 * their log is within 10% of its own (etcd's bar for `member promote`). */
void membership_tick(coord_server *s);

/* What a configuration change carries as context: the operation, the waiting request, and the
 * member (encoded etcdserverpb.Member). */
enum member_op {
    MEMBER_OP_ADD = 1,
    MEMBER_OP_REMOVE = 2,
    MEMBER_OP_PROMOTE = 3,
    MEMBER_OP_ADD_AUTO_PROMOTE = 4, /* add a learner that promotes itself once caught up */
};
uint8_t *membership_ctx(enum member_op op, uint64_t request_id, const uint8_t *member,
                        size_t member_len, size_t *len);

#endif
