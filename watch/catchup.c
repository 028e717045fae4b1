/* catchup: brings unsynced watchers up to date from the store, one window of at most
 * window_max_revs revisions at a time (etcd sends at most 1000 revisions per catch-up
 * response), then moves them into the synced set.
 *
 * A window takes the waiting watchers whose next revision falls in it (those of streams that
 * still have too much queued stay parked), reads the window's changes once for all of them
 * without the lock, and sends each its part under the lock. A watcher that reached the rounds'
 * claimed revision joins the synced set; the others wait for the next window. Windows go round
 * the waiting revisions, so a watcher replaying a long history does not hold back one that is
 * nearly there.
 */
#include "watch_internal.h"

#include <stdlib.h>

static int take(watch_hub *h, watcher *w)
{
    if (h->n_taken == h->cap_taken) {
        size_t cap = h->cap_taken ? h->cap_taken * 2 : 64;
        watcher **v = realloc(h->taken, cap * sizeof(*v));
        if (!v) return WATCH_ERR_NOMEM;
        h->taken = v;
        h->cap_taken = cap;
    }
    h->taken[h->n_taken++] = w;
    return 0;
}

static bool ready(watch_hub *h, watcher *w)
{
    return stream_backlog(h, w->st) <= h->o.stream_backlog_max;
}

/* Picks the window and takes its watchers; returns false when every waiting watcher is
 * parked. hub.mu held. */
static bool take_window(watch_hub *h, int64_t *from_out, int64_t *to_out)
{
    h->mark++;
    int64_t lowest = INT64_MAX, lowest_after = INT64_MAX;
    for (watcher *w = h->unsynced; w; w = w->next) {
        if (!ready(h, w)) continue;
        if (w->next_rev < lowest) lowest = w->next_rev;
        if (w->next_rev >= h->catchup_cursor && w->next_rev < lowest_after)
            lowest_after = w->next_rev;
    }
    if (lowest == INT64_MAX) return false;
    int64_t from = lowest_after != INT64_MAX ? lowest_after : lowest;
    int64_t to = from + h->o.window_max_revs - 1;
    h->n_taken = 0;
    for (watcher *w = h->unsynced; w;) {
        watcher *next = w->next;
        if (w->next_rev >= from && w->next_rev <= to && ready(h, w) && take(h, w) == 0) {
            if (w->prev)
                w->prev->next = w->next;
            else
                h->unsynced = w->next;
            if (w->next) w->next->prev = w->prev;
            w->prev = w->next = NULL;
            w->state = W_CATCHUP;
        }
        w = next;
    }
    /* Past this window's end, so that the next window starts with whoever is further on. */
    h->catchup_cursor = to + 2;
    *from_out = from;
    *to_out = to;
    return h->n_taken > 0;
}

static void give_back(watch_hub *h, watcher *w)
{
    w->state = W_UNSYNCED;
    w->prev = NULL;
    w->next = h->unsynced;
    if (h->unsynced) h->unsynced->prev = w;
    h->unsynced = w;
}

/* Ends the window: frees the canceled, and returns the others to a set. hub.mu held. */
static void return_taken(watch_hub *h, int64_t compacted)
{
    for (size_t i = 0; i < h->n_taken; i++) {
        watcher *w = h->taken[i];
        if (w->dead) {
            h->n_unsynced--;
            watcher_free(h, w);
        } else if (w->next_rev < compacted) {
            h->n_unsynced--;
            w->st->n_unsynced--;
            w->state = W_ENDED;
            send_compacted(h, w, compacted);
            stream_try_progress(h, w->st);
        } else if (w->next_rev > h->claimed_rev) {
            watcher_sync(h, w);
        } else {
            give_back(h, w);
        }
    }
    h->n_taken = 0;
}

int catchup_window(watch_hub *h)
{
    const watch_reader *r = &h->o.reader;
    int64_t from, to;
    pthread_mutex_lock(&h->mu);
    bool have = h->unsynced && take_window(h, &from, &to);
    pthread_mutex_unlock(&h->mu);
    if (!have) return 0;

    void *view;
    int64_t store_rev, compacted = 0;
    int rc = r->open(r->arg, &view, &store_rev, &compacted);
    if (rc) {
        pthread_mutex_lock(&h->mu);
        return_taken(h, 0);
        pthread_mutex_unlock(&h->mu);
        return rc;
    }
    if (from < compacted) {
        pthread_mutex_lock(&h->mu);
        return_taken(h, compacted);
        pthread_mutex_unlock(&h->mu);
        r->close(view);
        return 1;
    }
    if (to > store_rev) to = store_rev;
    watch_batch *b = &h->window;
    rc = batch_read(b, r, view, from, to, h->o.round_max_bytes);
    if (rc == 0) rc = deliver_buf_reserve(&h->window_out, b->n);
    if (rc == 0) {
        /* Taken watchers belong to this thread: index them without the lock. */
        index_clear(&h->window_ix);
        for (size_t i = 0; i < h->n_taken; i++) index_insert(&h->window_ix, h->taken[i]);
        hits_collect(&h->window_hits, &h->window_ix, b);
        index_clear(&h->window_ix);
        if (h->window_hits.oom) rc = WATCH_ERR_NOMEM;
    }
    if (rc == 0) batch_read_prevs(b, r, view); /* a failed read only leaves prev_kv out */

    pthread_mutex_lock(&h->mu);
    if (rc == 0) {
        const watch_hits *hs = &h->window_hits;
        for (size_t i = 0; i < hs->n;) {
            watcher *w = hs->v[i].w;
            size_t j = i;
            while (j < hs->n && hs->v[j].w == w) j++;
            if (!w->dead) deliver(h, &h->window_out, w, b, hs->v + i, j - i, b->to);
            i = j;
        }
        /* Those without events in the window have still been brought up to its end. */
        for (size_t i = 0; i < h->n_taken; i++)
            if (h->taken[i]->next_rev <= b->to) h->taken[i]->next_rev = b->to + 1;
    }
    return_taken(h, 0);
    pthread_mutex_unlock(&h->mu);
    r->close(view);
    return rc == 0 ? 1 : rc;
}
