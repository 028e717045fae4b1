/* maintenance_service: etcd's Maintenance service (Status, Alarm, Defragment, MoveLeader), and
 * gRPC's standard health check, which load balancers and some clients call. Served locally: no
 * log round trip, as etcd does. */
#include "pbx.h"
#include "rpc.pb.h"
#include "membership.h"
#include "server.h"

#include <stdlib.h>

#include <string.h>

#ifndef COORD_ETCD_VERSION
#define COORD_ETCD_VERSION "3.4.0"
#endif

static void maint_status(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    (void)req;
    (void)len;
    etcdserverpb_StatusResponse out = {0};
    out.has_header = true;
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    out.version.ptr = (const uint8_t *)COORD_ETCD_VERSION;
    out.version.len = strlen(COORD_ETCD_VERSION);
    out.dbSize = storage_disk_bytes(s->st);
    out.dbSizeInUse = out.dbSize;
    out.leader = node_leader(s->log);
    out.raftIndex = node_commit_index(s->log);
    out.raftTerm = node_term(s->log);
    out.raftAppliedIndex = node_applied_index(s->log);
    static const char no_leader[] = "etcdserver: no leader";
    pbx_bytes_t err = {(const uint8_t *)no_leader, sizeof(no_leader) - 1};
    if (out.leader == 0) {
        out.errors.items = &err;
        out.errors.count = 1;
    }
    rpc_unary_reply_msg(call, &etcdserverpb_StatusResponse_msg, &out);
}

/* No alarm is ever raised yet (the space quota arrives with it), so every GET lists none and
 * activating or deactivating changes nothing. */
static void maint_alarm(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_AlarmRequest r;
    if (pbx_decode(&etcdserverpb_AlarmRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    etcdserverpb_AlarmResponse out = {0};
    out.has_header = true;
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    rpc_unary_reply_msg(call, &etcdserverpb_AlarmResponse_msg, &out);
    pbx_release(&etcdserverpb_AlarmRequest_msg, &r);
}

static void maint_defragment(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    (void)req;
    (void)len;
    /* RocksDB reclaims space by compaction; a full manual compaction is the closest thing to
     * etcd's defragmentation. */
    for (int cf = STORAGE_CF_KV; cf <= STORAGE_CF_CHANGES; cf++)
        rocksdb_compact_range_cf(s->st->db, s->st->cf[cf], NULL, 0, NULL, 0);
    etcdserverpb_DefragmentResponse out = {0};
    out.has_header = true;
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    rpc_unary_reply_msg(call, &etcdserverpb_DefragmentResponse_msg, &out);
}

/* MoveLeader, as etcd: sent to the leader, for a voting member; answered once that member
 * leads (checked every tick by maintenance_tick), or "request timed out" if it never does. */
struct leader_move {
    struct leader_move *next;
    rpc_unary *call;
    uint64_t target;
    int64_t deadline_ms;
};

static void move_answer(coord_server *s, rpc_unary *call)
{
    etcdserverpb_MoveLeaderResponse out = {0};
    out.has_header = true;
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    rpc_unary_reply_msg(call, &etcdserverpb_MoveLeaderResponse_msg, &out);
}

static void maint_move_leader(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    etcdserverpb_MoveLeaderRequest r;
    if (pbx_decode(&etcdserverpb_MoveLeaderRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    if (node_leader(s->log) != s->member_id) {
        server_fail(call, COORD_ERR_NOT_LEADER);
        return;
    }
    if (r.targetID == s->member_id) {
        move_answer(s, call);
        return;
    }
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n = membership_copy(s, recs);
    bool voter = false;
    for (size_t i = 0; i < n; i++) voter |= recs[i].id == r.targetID && !recs[i].learner;
    if (!voter) {
        server_fail(call, COORD_ERR_BAD_LEADER_TRANSFEREE);
        return;
    }
    struct leader_move *m = malloc(sizeof(*m));
    if (!m) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    m->call = call;
    m->target = r.targetID;
    m->deadline_ms = server_now_ms() + s->request_timeout_ms;
    pthread_mutex_lock(&s->moves_mu);
    m->next = s->moves;
    s->moves = m;
    pthread_mutex_unlock(&s->moves_mu);
    if (node_transfer_leader(s->log, r.targetID) != 0) maintenance_tick(s);
}

void maintenance_tick(coord_server *s)
{
    uint64_t leader = node_leader(s->log);
    int64_t now = server_now_ms();
    pthread_mutex_lock(&s->moves_mu);
    struct leader_move **pp = &s->moves, *done = NULL;
    while (*pp) {
        struct leader_move *m = *pp;
        if (leader == m->target || now >= m->deadline_ms || node_failed(s->log)) {
            *pp = m->next;
            m->next = done;
            done = m;
        } else {
            pp = &m->next;
        }
    }
    pthread_mutex_unlock(&s->moves_mu);
    while (done) {
        struct leader_move *next = done->next;
        if (leader == done->target)
            move_answer(s, done->call);
        else
            server_fail(done->call, COORD_ERR_TIMEOUT);
        free(done);
        done = next;
    }
}

void maintenance_stop(coord_server *s)
{
    pthread_mutex_lock(&s->moves_mu);
    struct leader_move *m = s->moves;
    s->moves = NULL;
    pthread_mutex_unlock(&s->moves_mu);
    while (m) {
        struct leader_move *next = m->next;
        server_fail(m->call, COORD_ERR_STOPPED);
        free(m);
        m = next;
    }
}

/* grpc.health.v1.HealthCheckResponse{status: SERVING}: field 1, varint 1. */
static void health_check(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    (void)ctx;
    (void)req;
    (void)len;
    static const uint8_t serving[] = {0x08, 0x01};
    grpc_slice sl = grpc_slice_from_static_buffer(serving, sizeof(serving));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    rpc_unary_reply(call, bb);
}

int maintenance_service_register(coord_server *s)
{
    if (rpc_server_add_unary(s->rpc, "/etcdserverpb.Maintenance/Status", maint_status, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Maintenance/Alarm", maint_alarm, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Maintenance/Defragment", maint_defragment, s) ||
        rpc_server_add_unary(s->rpc, "/etcdserverpb.Maintenance/MoveLeader", maint_move_leader,
                             s) ||
        rpc_server_add_unary(s->rpc, "/grpc.health.v1.Health/Check", health_check, s))
        return -1;
    return 0;
}
