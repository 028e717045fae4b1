#include "recipe.h"

#include "apply.h"
#include "pbx.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
    struct job *next;
    recipe_job_fn fn;
    void *arg;
};

/* A waitDeletes in progress. */
struct waiter {
    struct waiter *next;
    uint8_t *prefix;
    size_t prefix_len;
    int64_t max_create_rev;
    bool dirty; /* a key under the prefix went away (or it is new): check it again */
    recipe_wait_fn done;
    void *arg;
};

enum observer_state {
    OBS_CHECK,     /* look up the leader in the next snapshot */
    OBS_NO_LEADER, /* wait for the first put under the prefix */
    OBS_FOLLOWING, /* pass on the puts of the leader's key until it is deleted */
};

struct recipe_observer {
    recipe_observer *next;
    uint8_t *prefix;
    size_t prefix_len;
    enum observer_state state;
    uint8_t *key; /* OBS_FOLLOWING: the leader's key */
    size_t key_len;
    recipe_leader_fn send;
    void *arg;
};

struct recipe_engine {
    coord_server *s;
    /* The on_revision hook that was there before ours: called first, always. */
    void (*next_fn)(void *arg, int64_t rev);
    void *next_arg;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    bool stopping, stopped;
    struct job *jobs, *jobs_tail;
    int64_t notified;  /* the latest revision the store told of */
    int64_t processed; /* change records read up to here (waiters and observers follow) */
    bool recheck;      /* some waiter or observer needs a look at the next snapshot */
    struct waiter *waiters;
    recipe_observer *observers;
};

coord_server *recipe_server(recipe_engine *r)
{
    return r->s;
}

/* --- key helpers ----------------------------------------------------------------------- */

size_t recipe_prefix_end(const uint8_t *prefix, size_t prefix_len, uint8_t *end)
{
    size_t n = prefix_len;
    while (n > 0 && prefix[n - 1] == 0xff) n--;
    if (n == 0) {
        end[0] = 0;
        return 1;
    }
    memcpy(end, prefix, n);
    end[n - 1]++;
    return n;
}

static bool has_prefix(const uint8_t *key, size_t key_len, const uint8_t *prefix, size_t len)
{
    return key_len >= len && (len == 0 || memcmp(key, prefix, len) == 0);
}

struct pick {
    int64_t max_create_rev;
    bool last;
    bool found;
    recipe_kv best;
    int rc;
};

static int copy_into(recipe_kv *dst, const mvcc_kv *kv)
{
    uint8_t *k = malloc(kv->key_len ? kv->key_len : 1);
    uint8_t *v = malloc(kv->value_len ? kv->value_len : 1);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    if (kv->key_len) memcpy(k, kv->key, kv->key_len);
    if (kv->value_len) memcpy(v, kv->value, kv->value_len);
    recipe_kv_free(dst);
    *dst = (recipe_kv){
        k,           kv->key_len, v, kv->value_len, kv->create_revision, kv->mod_revision,
        kv->version, kv->lease};
    return 0;
}

static int pick_visit(void *arg, const mvcc_kv *kv)
{
    struct pick *p = arg;
    if (p->max_create_rev > 0 && kv->create_revision > p->max_create_rev) return 0;
    if (p->found && (p->last ? kv->create_revision <= p->best.create_revision
                             : kv->create_revision >= p->best.create_revision))
        return 0;
    if (copy_into(&p->best, kv) != 0) return MVCC_ERR_NOMEM;
    p->found = true;
    return 0;
}

int recipe_pick(mvcc_txn *t, const uint8_t *prefix, size_t prefix_len, int64_t max_create_rev,
                bool last, recipe_kv *out, bool *found)
{
    uint8_t *end = malloc(prefix_len ? prefix_len : 1);
    if (!end) return MVCC_ERR_NOMEM;
    size_t end_len = recipe_prefix_end(prefix, prefix_len, end);
    struct pick p = {.max_create_rev = max_create_rev, .last = last};
    int rc = mvcc_txn_range(t, prefix, prefix_len, end, end_len, 0, pick_visit, &p);
    free(end);
    if (rc != MVCC_OK) {
        recipe_kv_free(&p.best);
        return rc;
    }
    *found = p.found;
    if (out)
        *out = p.best;
    else
        recipe_kv_free(&p.best);
    return MVCC_OK;
}

void recipe_kv_free(recipe_kv *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

/* --- the engine's thread --------------------------------------------------------------- */

struct change_ctx {
    recipe_engine *r;
};

/* A change of the store, in revision order: which waiters and observers it concerns. */
static int on_change(void *arg, const mvcc_kv *kv, bool is_delete)
{
    recipe_engine *r = ((struct change_ctx *)arg)->r;
    if (is_delete)
        for (struct waiter *w = r->waiters; w; w = w->next)
            if (has_prefix(kv->key, kv->key_len, w->prefix, w->prefix_len)) w->dirty = true;
    for (recipe_observer *o = r->observers; o; o = o->next) {
        if (!has_prefix(kv->key, kv->key_len, o->prefix, o->prefix_len)) continue;
        if (o->state == OBS_NO_LEADER && !is_delete) {
            uint8_t *k = malloc(kv->key_len ? kv->key_len : 1);
            if (!k) {
                o->state = OBS_CHECK;
                r->recheck = true;
                continue;
            }
            memcpy(k, kv->key, kv->key_len);
            free(o->key);
            o->key = k;
            o->key_len = kv->key_len;
            o->state = OBS_FOLLOWING;
            o->send(o->arg, kv->mod_revision, kv);
        } else if (o->state == OBS_FOLLOWING && kv->key_len == o->key_len &&
                   memcmp(kv->key, o->key, kv->key_len) == 0) {
            if (is_delete) {
                o->state = OBS_CHECK; /* the leader is gone: find the next one */
                r->recheck = true;
            } else {
                o->send(o->arg, kv->mod_revision, kv);
            }
        }
    }
    return 0;
}

static bool waiter_clear(struct waiter *w, mvcc_txn *t, int *rc)
{
    bool found = false;
    *rc = recipe_pick(t, w->prefix, w->prefix_len, w->max_create_rev, true, NULL, &found);
    return *rc == MVCC_OK && !found;
}

static void observer_check(recipe_observer *o, mvcc_txn *t)
{
    recipe_kv kv = {0};
    bool found = false;
    if (recipe_pick(t, o->prefix, o->prefix_len, 0, false, &kv, &found) != MVCC_OK) return;
    if (!found) {
        o->state = OBS_NO_LEADER;
        return;
    }
    free(o->key);
    o->key = kv.key;
    o->key_len = kv.key_len;
    kv.key = NULL;
    o->state = OBS_FOLLOWING;
    mvcc_kv view = {o->key,          o->key_len, kv.value, kv.value_len, kv.create_revision,
                    kv.mod_revision, kv.version, kv.lease};
    o->send(o->arg, mvcc_txn_rev(t), &view);
    recipe_kv_free(&kv);
}

/* One round: the changes since the last round, then the checks they call for, all against one
 * snapshot; the waiters found clear are answered with that snapshot, outside the lock. */
static void round_once(recipe_engine *r)
{
    mvcc_txn *t;
    if (mvcc_read_begin(r->s->kv, &t) != MVCC_OK) return;
    int64_t at = mvcc_txn_rev(t);
    struct waiter *ready = NULL;
    pthread_mutex_lock(&r->mu);
    if (at > r->processed) {
        struct change_ctx cc = {r};
        int rc = mvcc_changes(t, r->processed + 1, at, on_change, &cc);
        if (rc != MVCC_OK) {
            /* History is gone (compacted) or unreadable: look at everything again. */
            for (struct waiter *w = r->waiters; w; w = w->next) w->dirty = true;
            for (recipe_observer *o = r->observers; o; o = o->next) o->state = OBS_CHECK;
        }
        r->processed = at;
    }
    r->recheck = false;
    struct waiter **pp = &r->waiters;
    while (*pp) {
        struct waiter *w = *pp;
        int rc = MVCC_OK;
        if (w->dirty && waiter_clear(w, t, &rc)) {
            *pp = w->next;
            w->next = ready;
            ready = w;
            continue;
        }
        w->dirty = rc != MVCC_OK; /* a failed read is tried again next round */
        if (w->dirty) r->recheck = true;
        pp = &w->next;
    }
    for (recipe_observer *o = r->observers; o; o = o->next)
        if (o->state == OBS_CHECK) observer_check(o, t);
    pthread_mutex_unlock(&r->mu);
    while (ready) {
        struct waiter *w = ready;
        ready = w->next;
        w->done(r, w->arg, COORD_OK, t);
        free(w->prefix);
        free(w);
    }
    mvcc_txn_end(t);
}

static void *engine_main(void *arg)
{
    recipe_engine *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        if (r->jobs) {
            struct job *j = r->jobs;
            r->jobs = j->next;
            if (!r->jobs) r->jobs_tail = NULL;
            pthread_mutex_unlock(&r->mu);
            j->fn(r, j->arg, false);
            free(j);
            pthread_mutex_lock(&r->mu);
        } else if ((r->notified > r->processed && (r->waiters || r->observers)) || r->recheck) {
            pthread_mutex_unlock(&r->mu);
            round_once(r);
            pthread_mutex_lock(&r->mu);
        } else {
            /* Nobody follows the history: skip it instead of reading every revision back. A
             * waiter or observer that arrives later first looks at a fresh snapshot (recheck). */
            if (!r->waiters && !r->observers) r->processed = r->notified;
            pthread_cond_wait(&r->cv, &r->mu);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void on_revision(void *arg, int64_t rev)
{
    recipe_engine *r = arg;
    if (r->next_fn) r->next_fn(r->next_arg, rev);
    pthread_mutex_lock(&r->mu);
    if (rev > r->notified) {
        r->notified = rev;
        /* Woken only when someone waits on the history: no wake-up per write otherwise. */
        if (r->waiters || r->observers) pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

/* --- life ------------------------------------------------------------------------------ */

int recipe_create(coord_server *s, recipe_engine **out)
{
    recipe_engine *r = calloc(1, sizeof(*r));
    if (!r) return -1;
    r->s = s;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->processed = r->notified = mvcc_current_rev(s->kv);
    if (pthread_create(&r->thread, NULL, engine_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return -1;
    }
    r->started = true;
    r->next_fn = s->on_revision;
    r->next_arg = s->on_revision_arg;
    s->on_revision = on_revision;
    s->on_revision_arg = r;
    *out = r;
    return 0;
}

void recipe_stop(recipe_engine *r)
{
    if (!r || !r->started) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = false;
    /* From here on every step fails at once, on the thread that posts it. */
    pthread_mutex_lock(&r->mu);
    r->stopped = true;
    struct job *jobs = r->jobs;
    r->jobs = r->jobs_tail = NULL;
    struct waiter *waiters = r->waiters;
    r->waiters = NULL;
    pthread_mutex_unlock(&r->mu);
    while (jobs) {
        struct job *j = jobs;
        jobs = j->next;
        j->fn(r, j->arg, true);
        free(j);
    }
    while (waiters) {
        struct waiter *w = waiters;
        waiters = w->next;
        w->done(r, w->arg, COORD_ERR_STOPPED, NULL);
        free(w->prefix);
        free(w);
    }
}

void recipe_free(recipe_engine *r)
{
    if (!r) return;
    recipe_stop(r);
    while (r->observers) {
        recipe_observer *o = r->observers;
        r->observers = o->next;
        free(o->prefix);
        free(o->key);
        free(o);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* --- steps ----------------------------------------------------------------------------- */

void recipe_post(recipe_engine *r, recipe_job_fn fn, void *arg)
{
    struct job *j = malloc(sizeof(*j));
    pthread_mutex_lock(&r->mu);
    bool stopped = r->stopped;
    if (j && !stopped) {
        j->next = NULL;
        j->fn = fn;
        j->arg = arg;
        if (r->jobs_tail)
            r->jobs_tail->next = j;
        else
            r->jobs = j;
        r->jobs_tail = j;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (!j || stopped) {
        free(j);
        fn(r, arg, true); /* no memory to queue it, or no thread to run it: it fails here */
    }
}

struct proposed {
    recipe_engine *r;
    recipe_result_fn done;
    void *arg;
    coord_err err;
    grpc_slice body;
    bool has_body;
};

static void proposed_job(recipe_engine *r, void *arg, bool stopped)
{
    struct proposed *p = arg;
    coord_err err = stopped && p->err == COORD_OK && !p->has_body ? COORD_ERR_STOPPED : p->err;
    if (p->has_body)
        p->done(r, p->arg, err, GRPC_SLICE_START_PTR(p->body), GRPC_SLICE_LENGTH(p->body));
    else
        p->done(r, p->arg, err == COORD_OK ? COORD_ERR_INTERNAL : err, NULL, 0);
    if (p->has_body) grpc_slice_unref(p->body);
    free(p);
}

/* On the applying thread: keep the answer and hand it to the engine. */
static void proposal_applied(void *arg, coord_err err, grpc_byte_buffer *response)
{
    struct proposed *p = arg;
    p->err = err;
    if (err == COORD_OK && response) {
        grpc_byte_buffer_reader rd;
        if (grpc_byte_buffer_reader_init(&rd, response)) {
            p->body = grpc_byte_buffer_reader_readall(&rd);
            p->has_body = true;
            grpc_byte_buffer_reader_destroy(&rd);
        }
    }
    if (response) grpc_byte_buffer_destroy(response);
    recipe_post(p->r, proposed_job, p);
}

void recipe_propose(recipe_engine *r, int type, const pb_msgdesc_t *desc, const void *msg,
                    recipe_result_fn done, void *arg)
{
    coord_server *s = r->s;
    struct proposed *p = calloc(1, sizeof(*p));
    uint8_t *req = NULL, *entry = NULL;
    size_t req_len, len;
    if (!p) goto fail_answer;
    p->r = r;
    p->done = done;
    p->arg = arg;
    if (pbx_encode_alloc(desc, msg, &req, &req_len) != 0) goto fail_answer;
    if ((int64_t)(req_len + ENTRY_HEADER_LEN) > s->cfg->max_request_bytes) {
        p->err = COORD_ERR_REQUEST_TOO_LARGE;
        goto fail_post;
    }
    uint64_t id = server_next_request_id(s);
    entry = entry_build((enum entry_type)type, id, req, req_len, &len);
    if (!entry) goto fail_answer;
    if (wait_register(s->waits, id, proposal_applied, p, server_now_ms() + s->request_timeout_ms) !=
        0)
        goto fail_answer;
    if (node_propose(s->log, entry, len) != 0 && wait_forget(s->waits, id)) {
        p->err = COORD_ERR_STOPPED;
        goto fail_post;
    }
    free(entry);
    free(req);
    return;

fail_answer:
    if (p) p->err = COORD_ERR_INTERNAL;
fail_post:
    free(entry);
    free(req);
    if (!p) {
        done(r, arg, COORD_ERR_INTERNAL, NULL, 0);
        return;
    }
    recipe_post(r, proposed_job, p);
}

void recipe_wait_deletes(recipe_engine *r, const uint8_t *prefix, size_t prefix_len,
                         int64_t max_create_rev, recipe_wait_fn done, void *arg)
{
    struct waiter *w = calloc(1, sizeof(*w));
    uint8_t *copy = malloc(prefix_len ? prefix_len : 1);
    if (!w || !copy) {
        free(w);
        free(copy);
        done(r, arg, COORD_ERR_INTERNAL, NULL);
        return;
    }
    if (prefix_len) memcpy(copy, prefix, prefix_len);
    *w = (struct waiter){.prefix = copy,
                         .prefix_len = prefix_len,
                         .max_create_rev = max_create_rev,
                         .dirty = true, /* first look: at the engine's next snapshot */
                         .done = done,
                         .arg = arg};
    pthread_mutex_lock(&r->mu);
    bool stopped = r->stopped;
    if (!stopped) {
        w->next = r->waiters;
        r->waiters = w;
        r->recheck = true;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (stopped) {
        free(copy);
        free(w);
        done(r, arg, COORD_ERR_STOPPED, NULL);
    }
}

int recipe_observe(recipe_engine *r, const uint8_t *prefix, size_t prefix_len,
                   recipe_leader_fn send, void *arg, recipe_observer **out)
{
    recipe_observer *o = calloc(1, sizeof(*o));
    uint8_t *copy = malloc(prefix_len ? prefix_len : 1);
    if (!o || !copy) {
        free(o);
        free(copy);
        return -1;
    }
    if (prefix_len) memcpy(copy, prefix, prefix_len);
    o->prefix = copy;
    o->prefix_len = prefix_len;
    o->state = OBS_CHECK;
    o->send = send;
    o->arg = arg;
    pthread_mutex_lock(&r->mu);
    o->next = r->observers;
    r->observers = o;
    r->recheck = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    *out = o;
    return 0;
}

void recipe_unobserve(recipe_engine *r, recipe_observer *o)
{
    if (!o) return;
    pthread_mutex_lock(&r->mu);
    recipe_observer **pp = &r->observers;
    while (*pp && *pp != o) pp = &(*pp)->next;
    if (*pp) *pp = o->next;
    pthread_mutex_unlock(&r->mu);
    free(o->prefix);
    free(o->key);
    free(o);
}
