/* hub: the synced watchers' rounds, progress ticks, and the hub's life (threads, stop, free).
 *
 * A round reads the changes after claimed_rev from a fresh view (no lock), matches them against
 * the synced set and claims their revisions (lock), reads the prev_kv the matches need (no
 * lock), then hands each watcher its events (lock). A watcher whose stream has too much queued
 * leaves the synced set instead and is caught up from the store later. Rounds run on the
 * notifier thread, or — small ones, when no lock is in the way — on the thread that notifies.
 */
#include "watch_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_PROGRESS_MS (10 * 60 * 1000)
#define DEFAULT_BACKLOG     (4u << 20)
#define DEFAULT_RESPONSE    (2u << 20)
#define DEFAULT_WINDOW_REVS 1000
#define DEFAULT_ROUND_BYTES (8u << 20)
/* The notifier also looks at the store this often without being told, so a write that some
 * path forgot to announce is late, never lost. */
#define IDLE_LOOK_MS 1000
#define RETRY_MS     100
/* An inline round scans the range watchers under the lock; past this many it is not small. */
#define INLINE_MAX_RANGES 64

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec deadline_at(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    return ts;
}

static int cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a)) return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc ? -1 : 0;
}

/* ---- compaction ---- */

struct compact_sweep {
    watch_hub *h;
    int64_t compacted;
};

static void end_if_compacted(void *arg, watcher *w)
{
    struct compact_sweep *cs = arg;
    if (w->next_rev >= cs->compacted) return;
    index_remove(&cs->h->synced, w);
    cs->h->n_synced--;
    w->state = W_ENDED;
    send_compacted(cs->h, w, cs->compacted);
}

/* The history after claimed_rev was compacted before a round could read it: synced watchers
 * that still need it are ended as etcd ends a watcher that fell behind a compaction. */
static void end_compacted_synced(watch_hub *h, int64_t compacted)
{
    struct compact_sweep cs = {h, compacted};
    index_each(&h->synced, end_if_compacted, &cs);
    h->claimed_rev = h->delivered_rev = compacted - 1;
}

/* ---- rounds ---- */

static void free_grave(watch_hub *h)
{
    while (h->grave) {
        watcher *w = h->grave;
        h->grave = w->next;
        watcher_free(h, w);
    }
}

static void progress_waiting_streams(watch_hub *h)
{
    if (!h->n_progress_wanted) return;
    for (watch_stream *st = h->streams; st; st = st->next) stream_try_progress(h, st);
}

/* Hands each watcher of the round's hits its events; a watcher whose stream holds too much
 * leaves the synced set instead. Then the round's revisions count as delivered. mu held. */
static void deliver_round(watch_hub *h, int64_t from)
{
    const watch_batch *b = &h->round;
    const watch_hits *hs = &h->round_hits;
    for (size_t i = 0; i < hs->n;) {
        watcher *w = hs->v[i].w;
        size_t j = i;
        while (j < hs->n && hs->v[j].w == w) j++;
        if (w->state == W_SYNCED) {
            if (stream_backlog(h, w->st) > h->o.stream_backlog_max)
                watcher_unsync(h, w, from);
            else
                deliver(h, &h->round_out, w, b, hs->v + i, j - i, b->to);
        }
        i = j;
    }
    h->delivered_rev = b->to;
    progress_waiting_streams(h);
}

/* One round. Returns 1 when it claimed revisions, 0 when the store had nothing new, < 0 on an
 * error (nothing claimed then). round_mu held. */
static int hub_round(watch_hub *h)
{
    const watch_reader *r = &h->o.reader;
    void *view;
    int64_t store_rev, compacted;
    int rc = r->open(r->arg, &view, &store_rev, &compacted);
    if (rc) return rc;
    int64_t from = h->claimed_rev + 1;
    if (from < compacted) {
        pthread_mutex_lock(&h->mu);
        end_compacted_synced(h, compacted);
        pthread_mutex_unlock(&h->mu);
        from = compacted;
    }
    if (store_rev < from) {
        r->close(view);
        return 0;
    }
    int64_t to = store_rev;
    if (to - from >= h->o.window_max_revs) to = from + h->o.window_max_revs - 1;
    watch_batch *b = &h->round;
    rc = batch_read(b, r, view, from, to, h->o.round_max_bytes);
    if (rc == 0) rc = deliver_buf_reserve(&h->round_out, b->n);
    if (rc) goto done_close;

    pthread_mutex_lock(&h->mu);
    h->mark++;
    hits_collect(&h->round_hits, &h->synced, b);
    if (h->round_hits.oom) {
        pthread_mutex_unlock(&h->mu);
        rc = WATCH_ERR_NOMEM;
        goto done_close;
    }
    h->claimed_rev = b->to;
    h->round_busy = true;
    pthread_mutex_unlock(&h->mu);

    /* A failed prev_kv read leaves those events without it rather than holding back the
     * revisions just claimed. */
    batch_read_prevs(b, r, view);

    pthread_mutex_lock(&h->mu);
    deliver_round(h, from);
    h->round_busy = false;
    free_grave(h);
    pthread_mutex_unlock(&h->mu);
    rc = 1;
done_close:
    r->close(view);
    return rc;
}

/* A whole round on the notifying thread, for a small revision, or nothing at all: it gives up
 * (returning 0, nothing claimed) when a lock is taken, the history was compacted, or the round
 * is not small. Returns 1 when everything up to rev has been delivered. round_mu held. */
static int hub_round_inline(watch_hub *h, int64_t rev)
{
    const watch_reader *r = &h->o.reader;
    if (pthread_mutex_trylock(&h->mu) != 0) return 0;
    if (h->n_synced == 0) {
        /* Nobody to match: the revisions are claimed without reading them. */
        if (rev > h->claimed_rev) h->claimed_rev = h->delivered_rev = rev;
        progress_waiting_streams(h);
        pthread_mutex_unlock(&h->mu);
        return 1;
    }
    pthread_mutex_unlock(&h->mu);

    void *view;
    int64_t store_rev, compacted;
    if (r->open(r->arg, &view, &store_rev, &compacted) != 0) return 0;
    int rc = 0;
    int64_t from = h->claimed_rev + 1;
    if (from < compacted) goto done_close;
    if (store_rev < from) {
        rc = 1;
        goto done_close;
    }
    watch_batch *b = &h->round;
    if (store_rev - from >= h->o.window_max_revs ||
        batch_read(b, r, view, from, store_rev, h->o.round_max_bytes) != 0 || b->to != store_rev ||
        b->n > h->o.inline_max_events || deliver_buf_reserve(&h->round_out, b->n) != 0)
        goto done_close;
    if (pthread_mutex_trylock(&h->mu) != 0) goto done_close;
    if (h->synced.nranges > INLINE_MAX_RANGES) goto done_unlock;
    hits_collect(&h->round_hits, &h->synced, b);
    if (h->round_hits.oom || h->round_hits.n > h->o.inline_max_events) goto done_unlock;
    h->mark++;
    h->claimed_rev = b->to;
    /* Few events, and prev_kv rarely asked for: reading them under the lock is cheap here. */
    batch_read_prevs(b, r, view);
    deliver_round(h, from);
    free_grave(h);
    rc = b->to >= rev;
done_unlock:
    pthread_mutex_unlock(&h->mu);
done_close:
    r->close(view);
    return rc;
}

void watch_hub_tick(watch_hub *h)
{
    pthread_mutex_lock(&h->mu);
    for (watch_stream *st = h->streams; st; st = st->next) {
        if (!st->n_progress) continue;
        for (size_t i = 0; i < st->ids.cap; i++) {
            watcher *w = st->ids.slots[i];
            if (!w || !(w->opts & W_PROGRESS)) continue;
            /* etcd: only a synced watcher that got no events since the last tick. */
            if (w->state == W_SYNCED && !w->sent_since_tick &&
                h->delivered_rev >= st->max_sent_rev) {
                watch_response r = {.watch_id = w->id, .revision = h->delivered_rev};
                send_response(h, st, &r);
            }
            w->sent_since_tick = 0;
        }
    }
    pthread_mutex_unlock(&h->mu);
}

static int locked_round(watch_hub *h)
{
    pthread_mutex_lock(&h->round_mu);
    int rc = hub_round(h);
    pthread_mutex_unlock(&h->round_mu);
    return rc;
}

int watch_hub_poll(watch_hub *h)
{
    int n = 0;
    for (;;) {
        int a = locked_round(h);
        if (a < 0) return a;
        int b = catchup_window(h);
        if (b < 0) return b;
        if (!a && !b) return n;
        n += a + b;
    }
}

/* ---- threads ---- */

static void *notifier_main(void *arg)
{
    watch_hub *h = arg;
    int64_t next_tick = now_ms() + h->o.progress_interval_ms;
    int64_t next_look = now_ms() + IDLE_LOOK_MS;
    for (;;) {
        pthread_mutex_lock(&h->wake_mu);
        for (;;) {
            if (h->wake_stop || h->wake_pending) break;
            int64_t now = now_ms();
            if (now >= next_tick || now >= next_look) break;
            struct timespec ts = deadline_at(next_tick < next_look ? next_tick : next_look);
            pthread_cond_timedwait(&h->wake_cv, &h->wake_mu, &ts);
        }
        bool stop = h->wake_stop;
        h->wake_pending = false;
        pthread_mutex_unlock(&h->wake_mu);
        if (stop) break;
        int64_t now = now_ms();
        if (now >= next_tick) {
            watch_hub_tick(h);
            next_tick = now + h->o.progress_interval_ms;
        }
        next_look = now + IDLE_LOOK_MS;
        int rc;
        while ((rc = locked_round(h)) > 0) {
        }
        if (rc < 0) next_look = now + RETRY_MS; /* the store failed us: look again soon */
    }
    return NULL;
}

void *catchup_thread(void *arg)
{
    watch_hub *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        if (!h->unsynced) {
            pthread_cond_wait(&h->catchup_cv, &h->mu);
            continue;
        }
        pthread_mutex_unlock(&h->mu);
        int rc = catchup_window(h);
        pthread_mutex_lock(&h->mu);
        if (rc <= 0 && !h->stopping) {
            /* Every waiting watcher's stream is still full (or the store failed): look again
             * shortly, or as soon as another watcher arrives. */
            struct timespec ts = deadline_at(now_ms() + (rc < 0 ? RETRY_MS : 10));
            pthread_cond_timedwait(&h->catchup_cv, &h->mu, &ts);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- life ---- */

void watch_hub_notify(watch_hub *h, int64_t rev)
{
    if (h->o.inline_max_events && pthread_mutex_trylock(&h->round_mu) == 0) {
        int done = hub_round_inline(h, rev);
        pthread_mutex_unlock(&h->round_mu);
        if (done) return;
    }
    pthread_mutex_lock(&h->wake_mu);
    h->wake_pending = true;
    pthread_cond_signal(&h->wake_cv);
    pthread_mutex_unlock(&h->wake_mu);
}

int watch_hub_create(const watch_hub_opts *opts, watch_hub **out)
{
    if (!opts->reader.open || !opts->reader.changes || !opts->reader.get || !opts->reader.close ||
        !opts->reader.current_rev)
        return WATCH_ERR_INVALID;
    watch_hub *h = calloc(1, sizeof(*h));
    if (!h) return WATCH_ERR_NOMEM;
    h->o = *opts;
    if (h->o.progress_interval_ms <= 0) h->o.progress_interval_ms = DEFAULT_PROGRESS_MS;
    if (!h->o.stream_backlog_max) h->o.stream_backlog_max = DEFAULT_BACKLOG;
    if (!h->o.response_max_bytes) h->o.response_max_bytes = DEFAULT_RESPONSE;
    if (h->o.window_max_revs <= 0) h->o.window_max_revs = DEFAULT_WINDOW_REVS;
    if (!h->o.round_max_bytes) h->o.round_max_bytes = DEFAULT_ROUND_BYTES;
    if (pthread_mutex_init(&h->mu, NULL)) goto fail_free_hub;
    if (pthread_mutex_init(&h->round_mu, NULL)) goto fail_destroy_mu;
    if (pthread_mutex_init(&h->wake_mu, NULL)) goto fail_destroy_round_mu;
    if (cond_init_monotonic(&h->catchup_cv)) goto fail_destroy_wake_mu;
    if (cond_init_monotonic(&h->wake_cv)) goto fail_destroy_catchup_cv;
    index_init(&h->synced);
    index_init(&h->window_ix);
    batch_init(&h->round);
    batch_init(&h->window);
    /* Synced watchers are served from the store's current revision on. */
    h->claimed_rev = h->delivered_rev = h->o.reader.current_rev(h->o.reader.arg);
    h->catchup_cursor = 0;
    if (!h->o.manual) {
        if (pthread_create(&h->notifier, NULL, notifier_main, h)) goto fail_destroy_wake_cv;
        if (pthread_create(&h->catcher, NULL, catchup_thread, h)) {
            pthread_mutex_lock(&h->wake_mu);
            h->wake_stop = true;
            pthread_cond_signal(&h->wake_cv);
            pthread_mutex_unlock(&h->wake_mu);
            pthread_join(h->notifier, NULL);
            goto fail_destroy_wake_cv;
        }
        h->threads = true;
    }
    *out = h;
    return WATCH_OK;

fail_destroy_wake_cv:
    pthread_cond_destroy(&h->wake_cv);
fail_destroy_catchup_cv:
    pthread_cond_destroy(&h->catchup_cv);
fail_destroy_wake_mu:
    pthread_mutex_destroy(&h->wake_mu);
fail_destroy_round_mu:
    pthread_mutex_destroy(&h->round_mu);
fail_destroy_mu:
    pthread_mutex_destroy(&h->mu);
fail_free_hub:
    free(h);
    return WATCH_ERR_NOMEM;
}

void watch_hub_stop(watch_hub *h)
{
    if (!h->threads) return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_broadcast(&h->catchup_cv);
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_lock(&h->wake_mu);
    h->wake_stop = true;
    pthread_cond_signal(&h->wake_cv);
    pthread_mutex_unlock(&h->wake_mu);
    pthread_join(h->notifier, NULL);
    pthread_join(h->catcher, NULL);
    h->threads = false;
}

void watch_hub_destroy(watch_hub *h)
{
    if (!h) return;
    watch_hub_stop(h);
    /* Streams are closed by now; what remains are records nobody can reach any more. */
    free_grave(h);
    index_free(&h->synced);
    index_free(&h->window_ix);
    batch_free(&h->round);
    batch_free(&h->window);
    hits_free(&h->round_hits);
    hits_free(&h->window_hits);
    deliver_buf_free(&h->round_out);
    deliver_buf_free(&h->window_out);
    free(h->taken);
    pthread_cond_destroy(&h->wake_cv);
    pthread_cond_destroy(&h->catchup_cv);
    pthread_mutex_destroy(&h->wake_mu);
    pthread_mutex_destroy(&h->round_mu);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void watch_hub_get_stats(watch_hub *h, watch_hub_stats *out)
{
    pthread_mutex_lock(&h->mu);
    out->streams = h->n_streams;
    out->watchers = h->n_watchers;
    out->synced = h->n_synced;
    out->unsynced = h->n_unsynced;
    out->delivered_rev = h->delivered_rev;
    pthread_mutex_unlock(&h->mu);
}
