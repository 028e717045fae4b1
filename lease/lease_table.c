#include "lease.h"
#include "lease_heap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NEVER INT64_MAX

struct lease_table {
    pthread_mutex_t mu; /* guards everything below */
    lease_clock_fn now_ms;
    void *clock_arg;
    int64_t min_ttl;
    int64_t checkpoint_interval_ms;
    int64_t revoke_per_s;
    int64_t revoke_retry_ms;
    int64_t pause_ms;
    int64_t extend_ms; /* of the last promotion, for the restart after a pause */
    int64_t last_tick; /* the owner's last tick (ms); 0: none yet */
    /* Only a primary table has expiries and heaps; a table that is not primary holds every
     * lease forever (expiry NEVER) and both heaps are empty. */
    bool primary;
    struct lease_entry **buckets; /* chained by id; n_buckets is a power of two */
    size_t n_buckets;
    size_t count;
    lease_heap heaps[LEASE_HEAP_COUNT];
};

static size_t bucket_of(const lease_table *t, int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x & (t->n_buckets - 1));
}

static struct lease_entry *find(const lease_table *t, int64_t id)
{
    for (struct lease_entry *e = t->buckets[bucket_of(t, id)]; e; e = e->next)
        if (e->id == id) return e;
    return NULL;
}

static int grow(lease_table *t)
{
    size_t n = t->n_buckets * 2;
    struct lease_entry **b = calloc(n, sizeof(*b));
    if (!b) return -1;
    struct lease_entry **old = t->buckets;
    size_t old_n = t->n_buckets;
    t->buckets = b;
    t->n_buckets = n;
    for (size_t i = 0; i < old_n; i++) {
        struct lease_entry *e = old[i];
        while (e) {
            struct lease_entry *next = e->next;
            size_t k = bucket_of(t, e->id);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(old);
    return 0;
}

static struct lease_entry *insert(lease_table *t, int64_t id, int64_t ttl, int64_t remaining)
{
    if (t->count >= t->n_buckets && grow(t) != 0) return NULL;
    struct lease_entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    e->id = id;
    e->ttl = ttl;
    e->remaining_ttl = remaining;
    e->expiry = NEVER;
    for (int w = 0; w < LEASE_HEAP_COUNT; w++) e->pos[w] = LEASE_HEAP_NONE;
    size_t k = bucket_of(t, id);
    e->next = t->buckets[k];
    t->buckets[k] = e;
    t->count++;
    return e;
}

static void unlink_entry(lease_table *t, struct lease_entry *e)
{
    struct lease_entry **pp = &t->buckets[bucket_of(t, e->id)];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    t->count--;
    for (int w = 0; w < LEASE_HEAP_COUNT; w++) lease_heap_remove(&t->heaps[w], e);
}

static int64_t now(lease_table *t)
{
    return t->now_ms(t->clock_arg);
}

int64_t lease_min_ttl(int64_t election_ms, int64_t heartbeat_ms)
{
    if (heartbeat_ms <= 0) return 1;
    int64_t election_ticks = election_ms / heartbeat_ms;
    int64_t ms = (3 * election_ticks) / 2 * heartbeat_ms;
    int64_t s = (ms + 999) / 1000;
    return s > 0 ? s : 1;
}

int lease_table_create(const lease_table_opts *opts, lease_table **out)
{
    if (!opts->now_ms) return LEASE_ERR_INVALID;
    lease_table *t = calloc(1, sizeof(*t));
    if (!t) return LEASE_ERR_NOMEM;
    t->n_buckets = 1024;
    t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
    if (!t->buckets) {
        free(t);
        return LEASE_ERR_NOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->now_ms = opts->now_ms;
    t->clock_arg = opts->clock_arg;
    t->min_ttl = opts->min_ttl > 0 ? opts->min_ttl : 1;
    t->checkpoint_interval_ms = opts->checkpoint_interval_ms > 0 ? opts->checkpoint_interval_ms : 0;
    t->revoke_per_s = opts->revoke_per_s > 0 ? opts->revoke_per_s : 1000;
    t->revoke_retry_ms = opts->revoke_retry_ms > 0 ? opts->revoke_retry_ms : 3000;
    t->pause_ms = opts->pause_ms > 0 ? opts->pause_ms : 0;
    for (int w = 0; w < LEASE_HEAP_COUNT; w++) t->heaps[w].which = w;
    *out = t;
    return LEASE_OK;
}

void lease_table_destroy(lease_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct lease_entry *e = t->buckets[i];
        while (e) {
            struct lease_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    for (int w = 0; w < LEASE_HEAP_COUNT; w++) lease_heap_free(&t->heaps[w]);
    free(t->buckets);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* --- primary-side bookkeeping (lock held) ---------------------------------------------- */

static int set_expiry(lease_table *t, struct lease_entry *e, int64_t expiry)
{
    e->expiry = expiry;
    return lease_heap_set(&t->heaps[LEASE_HEAP_EXPIRY], e, expiry);
}

/* Leases longer than the interval get their remaining TTL recorded every interval. */
static int schedule_checkpoint(lease_table *t, struct lease_entry *e, int64_t at)
{
    if (!t->checkpoint_interval_ms || e->ttl * 1000 <= t->checkpoint_interval_ms) return 0;
    return lease_heap_set(&t->heaps[LEASE_HEAP_CHECKPOINT], e, at + t->checkpoint_interval_ms);
}

/* Starts a lease's clock on the primary: from its remaining TTL if one was checkpointed (the
 * time it really had left), else from its full TTL. */
static int start_clock(lease_table *t, struct lease_entry *e, int64_t at, int64_t extend_ms)
{
    int64_t secs = e->remaining_ttl > 0 ? e->remaining_ttl : e->ttl;
    if (set_expiry(t, e, at + extend_ms + secs * 1000) != 0) return -1;
    return schedule_checkpoint(t, e, at);
}

/* --- the replicated state -------------------------------------------------------------- */

static int check_grant(lease_table *t, int64_t id, int64_t ttl, int64_t *granted_ttl)
{
    /* etcd checks in this order: no lease ID, the TTL bound, then existence. */
    if (id == 0) return LEASE_ERR_INVALID;
    if (ttl > LEASE_MAX_TTL) return LEASE_ERR_TTL_TOO_LARGE;
    if (find(t, id)) return LEASE_ERR_EXISTS;
    *granted_ttl = ttl < t->min_ttl ? t->min_ttl : ttl;
    return LEASE_OK;
}

int lease_table_check_grant(lease_table *t, int64_t id, int64_t ttl, int64_t *granted_ttl)
{
    pthread_mutex_lock(&t->mu);
    int rc = check_grant(t, id, ttl, granted_ttl);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int lease_table_grant(lease_table *t, int64_t id, int64_t ttl, int64_t *granted_ttl)
{
    pthread_mutex_lock(&t->mu);
    int64_t granted = 0;
    int rc = check_grant(t, id, ttl, &granted);
    if (rc == LEASE_OK) {
        struct lease_entry *e = insert(t, id, granted, 0);
        if (!e) {
            rc = LEASE_ERR_NOMEM;
        } else if (t->primary && start_clock(t, e, now(t), 0) != 0) {
            unlink_entry(t, e);
            free(e);
            rc = LEASE_ERR_NOMEM;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (rc == LEASE_OK && granted_ttl) *granted_ttl = granted;
    return rc;
}

int lease_table_restore(lease_table *t, int64_t id, int64_t ttl, int64_t remaining_ttl)
{
    if (id == 0) return LEASE_ERR_INVALID;
    pthread_mutex_lock(&t->mu);
    int rc = LEASE_OK;
    struct lease_entry *e = find(t, id);
    if (e) {
        e->ttl = ttl;
        e->remaining_ttl = remaining_ttl;
    } else if (!(e = insert(t, id, ttl, remaining_ttl))) {
        rc = LEASE_ERR_NOMEM;
    }
    if (rc == LEASE_OK && t->primary && start_clock(t, e, now(t), 0) != 0) rc = LEASE_ERR_NOMEM;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int lease_table_revoke(lease_table *t, int64_t id)
{
    pthread_mutex_lock(&t->mu);
    struct lease_entry *e = find(t, id);
    if (e) unlink_entry(t, e);
    pthread_mutex_unlock(&t->mu);
    free(e);
    return e ? LEASE_OK : LEASE_ERR_NOT_FOUND;
}

int lease_table_checkpoint(lease_table *t, int64_t id, int64_t remaining_ttl)
{
    pthread_mutex_lock(&t->mu);
    struct lease_entry *e = find(t, id);
    /* The primary measured this remaining TTL a moment ago and its own clock is still running:
     * the expiry stays where it is, so a keep-alive that overtook the checkpoint is not undone.
     * The record matters to a member that starts the lease's clock later (restart, promotion). */
    if (e) e->remaining_ttl = remaining_ttl > 0 ? remaining_ttl : 0;
    pthread_mutex_unlock(&t->mu);
    return LEASE_OK;
}

bool lease_table_exists(lease_table *t, int64_t id)
{
    pthread_mutex_lock(&t->mu);
    bool found = find(t, id) != NULL;
    pthread_mutex_unlock(&t->mu);
    return found;
}

/* --- the primary member ---------------------------------------------------------------- */

static int cmp_expiry(const void *a, const void *b)
{
    const struct lease_entry *x = *(struct lease_entry *const *)a;
    const struct lease_entry *y = *(struct lease_entry *const *)b;
    if (x->expiry != y->expiry) return x->expiry < y->expiry ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* After a promotion many leases can share an expiry (all granted around the same time, all
 * restarted at once). Let at most three quarters of the revoke rate expire within any one
 * second, leaving room for the leases that expire on their own; the rest are moved later,
 * never earlier. */
static void spread_expiries(lease_table *t)
{
    if ((int64_t)t->count <= t->revoke_per_s) return;
    struct lease_entry **all = malloc(t->count * sizeof(*all));
    if (!all) return; /* spreading is a courtesy to the log; the expiries are already safe */
    size_t n = 0;
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct lease_entry *e = t->buckets[i]; e; e = e->next) all[n++] = e;
    qsort(all, n, sizeof(*all), cmp_expiry);
    int64_t per_slot = t->revoke_per_s * 3 / 4;
    if (per_slot < 1) per_slot = 1;
    /* Slots are one second long; a slot that is full pushes the leases behind it to the start
     * of the next one. */
    int64_t slot_start = 0;
    int64_t in_slot = 0;
    for (size_t i = 0; i < n; i++) {
        struct lease_entry *e = all[i];
        if (i > 0 && e->expiry < slot_start && set_expiry(t, e, slot_start) != 0) break;
        if (i == 0 || e->expiry >= slot_start + 1000) {
            slot_start = e->expiry;
            in_slot = 1;
            continue;
        }
        if (++in_slot <= per_slot) continue;
        slot_start += 1000;
        in_slot = 1;
        if (set_expiry(t, e, slot_start) != 0) break;
    }
    free(all);
}

static int restart_clocks(lease_table *t, int64_t at)
{
    int rc = LEASE_OK;
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct lease_entry *e = t->buckets[i]; e; e = e->next)
            if (start_clock(t, e, at, t->extend_ms) != 0) rc = LEASE_ERR_NOMEM;
    spread_expiries(t);
    t->last_tick = at;
    return rc;
}

/* Lock held, primary. A primary that did not run for longer than pause_ms could not hear the
 * keep-alives sent meanwhile; it restarts the clocks rather than expire what they renewed. */
static bool check_pause(lease_table *t, int64_t at)
{
    if (!t->pause_ms || !t->last_tick || at - t->last_tick <= t->pause_ms) return false;
    restart_clocks(t, at);
    return true;
}

int lease_table_promote(lease_table *t, int64_t extend_ms)
{
    pthread_mutex_lock(&t->mu);
    t->primary = true;
    t->extend_ms = extend_ms;
    int rc = restart_clocks(t, now(t));
    pthread_mutex_unlock(&t->mu);
    return rc;
}

bool lease_table_tick(lease_table *t)
{
    pthread_mutex_lock(&t->mu);
    bool paused = false;
    if (t->primary) {
        int64_t at = now(t);
        paused = check_pause(t, at);
        t->last_tick = at;
    }
    pthread_mutex_unlock(&t->mu);
    return paused;
}

void lease_table_demote(lease_table *t)
{
    pthread_mutex_lock(&t->mu);
    t->primary = false;
    for (int w = 0; w < LEASE_HEAP_COUNT; w++) lease_heap_clear(&t->heaps[w]);
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct lease_entry *e = t->buckets[i]; e; e = e->next) e->expiry = NEVER;
    pthread_mutex_unlock(&t->mu);
}

bool lease_table_is_primary(lease_table *t)
{
    pthread_mutex_lock(&t->mu);
    bool p = t->primary;
    pthread_mutex_unlock(&t->mu);
    return p;
}

int lease_table_renew(lease_table *t, int64_t id, int64_t *ttl, bool *clear_checkpoint)
{
    pthread_mutex_lock(&t->mu);
    if (!t->primary) {
        pthread_mutex_unlock(&t->mu);
        return LEASE_ERR_NOT_PRIMARY;
    }
    int64_t at = now(t);
    check_pause(t, at);
    int rc = LEASE_OK;
    struct lease_entry *e = find(t, id);
    if (!e || e->expiry <= at) {
        rc = LEASE_ERR_NOT_FOUND;
    } else if (set_expiry(t, e, at + e->ttl * 1000) != 0) {
        rc = LEASE_ERR_NOMEM;
    } else {
        *ttl = e->ttl;
        /* Cleared through the log, not here: until the clearing checkpoint is applied the
         * stored remaining TTL is the older one, and the request is made again next time. */
        if (clear_checkpoint) *clear_checkpoint = e->remaining_ttl > 0;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

size_t lease_table_expired(lease_table *t, int64_t *ids, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&t->mu);
    if (t->primary) {
        lease_heap *h = &t->heaps[LEASE_HEAP_EXPIRY];
        int64_t at = now(t);
        check_pause(t, at);
        struct lease_entry *e;
        while (n < max && (e = lease_heap_top(h)) && e->key[LEASE_HEAP_EXPIRY] <= at) {
            ids[n++] = e->id;
            /* Its expiry stays in the past; only the next hand-out waits. */
            if (lease_heap_set(h, e, at + t->revoke_retry_ms) != 0) break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

size_t lease_table_due_checkpoints(lease_table *t, lease_checkpoint *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&t->mu);
    if (t->primary && t->checkpoint_interval_ms) {
        lease_heap *h = &t->heaps[LEASE_HEAP_CHECKPOINT];
        int64_t at = now(t);
        struct lease_entry *e;
        while (n < max && (e = lease_heap_top(h)) && e->key[LEASE_HEAP_CHECKPOINT] <= at) {
            if (lease_heap_set(h, e, at + t->checkpoint_interval_ms) != 0) break;
            if (e->expiry <= at) continue; /* expired: its revoke is coming */
            int64_t remaining = (e->expiry - at + 999) / 1000;
            /* A lease renewed since (remaining back at its TTL) needs no record. */
            if (remaining >= e->ttl) continue;
            out[n].id = e->id;
            out[n].remaining_ttl = remaining;
            n++;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* --- reading --------------------------------------------------------------------------- */

int lease_table_lookup(lease_table *t, int64_t id, lease_info *out)
{
    pthread_mutex_lock(&t->mu);
    struct lease_entry *e = find(t, id);
    if (e) {
        out->id = e->id;
        out->ttl = e->ttl;
        out->remaining_ttl = e->remaining_ttl;
        if (!t->primary) {
            out->remaining_ms = -1;
        } else {
            int64_t at = now(t);
            check_pause(t, at);
            int64_t left = e->expiry - at;
            out->remaining_ms = left > 0 ? left : 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return e ? LEASE_OK : LEASE_ERR_NOT_FOUND;
}

size_t lease_table_count(lease_table *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int lease_table_ids(lease_table *t, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    pthread_mutex_lock(&t->mu);
    int rc = LEASE_OK;
    if (t->count) {
        int64_t *v = malloc(t->count * sizeof(*v));
        if (!v) {
            rc = LEASE_ERR_NOMEM;
        } else {
            size_t k = 0;
            for (size_t i = 0; i < t->n_buckets; i++)
                for (struct lease_entry *e = t->buckets[i]; e; e = e->next) v[k++] = e->id;
            *ids = v;
            *n = k;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (*n) qsort(*ids, *n, sizeof(**ids), cmp_id);
    return rc;
}
