#include "lease_expiry.h"

#include "pbx.h"
#include "rpc.pb.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct lease_expiry {
    lease_expiry_opts o;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stopping */
    pthread_cond_t cv;  /* on CLOCK_MONOTONIC */
    bool stopping;
    /* Thread only (and lease_expiry_start before the thread exists). */
    bool leading;
    int64_t *ids; /* room for one tick's revokes */
    size_t ids_cap;
    lease_checkpoint *cps; /* room for one entry's checkpoints */
};

int64_t lease_clock_ms(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lease_propose(coord_server *s, enum entry_type type, const pb_msgdesc_t *desc, const void *msg)
{
    uint8_t *req;
    size_t req_len;
    if (pbx_encode_alloc(desc, msg, &req, &req_len) != 0) return -1;
    size_t len;
    uint8_t *entry = entry_build(type, server_next_request_id(s), req, req_len, &len);
    free(req);
    if (!entry) return -1;
    int rc = node_propose(s->log, entry, len);
    free(entry);
    return rc;
}

static void propose_revokes(lease_expiry *e)
{
    coord_server *s = e->o.s;
    size_t n = lease_table_expired(s->leases, e->ids, e->ids_cap);
    for (size_t i = 0; i < n; i++) {
        etcdserverpb_LeaseRevokeRequest r = {.ID = e->ids[i]};
        /* A revoke that is lost is handed out again after the table's retry time. */
        (void)lease_propose(s, ENTRY_LEASE_REVOKE, &etcdserverpb_LeaseRevokeRequest_msg, &r);
    }
}

static void propose_checkpoints(lease_expiry *e)
{
    coord_server *s = e->o.s;
    size_t n = lease_table_due_checkpoints(s->leases, e->cps, (size_t)e->o.checkpoint_max);
    if (n == 0) return;
    etcdserverpb_LeaseCheckpoint *list = malloc(n * sizeof(*list));
    if (!list) return; /* due again one interval later */
    for (size_t i = 0; i < n; i++) {
        list[i].ID = e->cps[i].id;
        list[i].remaining_TTL = e->cps[i].remaining_ttl;
    }
    etcdserverpb_LeaseCheckpointRequest r = {0};
    r.checkpoints.items = list;
    r.checkpoints.count = n;
    (void)lease_propose(s, ENTRY_LEASE_CHECKPOINT, &etcdserverpb_LeaseCheckpointRequest_msg, &r);
    free(list);
}

static void tick(lease_expiry *e)
{
    lease_table *t = e->o.s->leases;
    bool leading = e->o.is_leader(e->o.leader_arg);
    if (leading && !e->leading) {
        if (lease_table_promote(t, e->o.extend_ms) != LEASE_OK)
            fprintf(stderr, "coord: out of memory promoting the lease table; some leases will "
                            "not expire until the next promotion\n");
    } else if (!leading && e->leading) {
        lease_table_demote(t);
    }
    e->leading = leading;
    if (!leading) return;
    if (lease_table_tick(t))
        fprintf(stderr, "coord: leases were not looked after for a while (the process was "
                        "stopped?); every lease starts afresh\n");
    propose_revokes(e);
    propose_checkpoints(e);
}

static void *expiry_main(void *arg)
{
    lease_expiry *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(e->o.tick_ms % 1000) * 1000000L;
        ts.tv_sec += e->o.tick_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        if (e->stopping) break;
        pthread_mutex_unlock(&e->mu);
        tick(e);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int lease_expiry_start(const lease_expiry_opts *o, lease_expiry **out)
{
    lease_expiry *e = calloc(1, sizeof(*e));
    if (!e) return -1;
    e->o = *o;
    if (e->o.tick_ms <= 0) e->o.tick_ms = 100;
    if (e->o.revoke_per_s <= 0) e->o.revoke_per_s = 1000;
    if (e->o.checkpoint_max <= 0) e->o.checkpoint_max = 1000;
    e->ids_cap = (size_t)(e->o.revoke_per_s * e->o.tick_ms / 1000);
    if (e->ids_cap == 0) e->ids_cap = 1;
    e->ids = malloc(e->ids_cap * sizeof(*e->ids));
    e->cps = malloc((size_t)e->o.checkpoint_max * sizeof(*e->cps));
    if (!e->ids || !e->cps) goto fail_free;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&e->mu, NULL);
    tick(e);
    if (pthread_create(&e->thread, NULL, expiry_main, e) != 0) goto fail_destroy_sync;
    *out = e;
    return 0;

fail_destroy_sync:
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
fail_free:
    free(e->ids);
    free(e->cps);
    free(e);
    return -1;
}

void lease_expiry_stop(lease_expiry *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->ids);
    free(e->cps);
    free(e);
}
