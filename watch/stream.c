/* stream: one client's Watch call — its watcher IDs, creates, cancels and progress requests —
 * and the moves of a watcher between the synced and unsynced sets. */
#include "watch_internal.h"

#include <stdlib.h>
#include <string.h>

/* etcd's texts (mvcc/watcher.go, v3rpc/rpctypes). */
#define REASON_EMPTY_RANGE  "mvcc: watcher range is empty"
#define REASON_DUPLICATE_ID "mvcc: duplicate watch ID provided on the WatchStream"
#define REASON_COMPACTED    "etcdserver: mvcc: required revision has been compacted"

/* ---- the ID table ---- */

static size_t id_slot(int64_t id, size_t mask)
{
    uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x ^ (x >> 29)) & mask;
}

watcher *idt_get(const id_table *t, int64_t id)
{
    if (!t->cap) return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = id_slot(id, mask);; i = (i + 1) & mask) {
        watcher *w = t->slots[i];
        if (!w) return NULL;
        if (w->id == id) return w;
    }
}

static void idt_place(watcher **slots, size_t cap, watcher *w)
{
    size_t mask = cap - 1;
    size_t i = id_slot(w->id, mask);
    while (slots[i]) i = (i + 1) & mask;
    slots[i] = w;
}

int idt_put(id_table *t, watcher *w)
{
    if ((t->count + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        watcher **slots = calloc(cap, sizeof(*slots));
        if (!slots) return WATCH_ERR_NOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i]) idt_place(slots, cap, t->slots[i]);
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    idt_place(t->slots, t->cap, w);
    t->count++;
    return 0;
}

void idt_del(id_table *t, int64_t id)
{
    if (!t->cap) return;
    size_t mask = t->cap - 1;
    size_t i = id_slot(id, mask);
    while (t->slots[i] && t->slots[i]->id != id) i = (i + 1) & mask;
    if (!t->slots[i]) return;
    t->slots[i] = NULL;
    t->count--;
    /* Linear probing: pull later members of the run back over the hole when their home slot
     * does not lie between the hole and where they sit. */
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t home = id_slot(t->slots[j]->id, mask);
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        t->slots[i] = t->slots[j];
        t->slots[j] = NULL;
        i = j;
    }
}

void idt_free(id_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---- watcher moves (hub.mu held) ---- */

static void stream_free(watch_hub *h, watch_stream *st)
{
    (void)h;
    idt_free(&st->ids);
    free(st);
}

static void stream_unref(watch_hub *h, watch_stream *st)
{
    if (--st->refs == 0) stream_free(h, st);
}

void watcher_free(watch_hub *h, watcher *w)
{
    watch_stream *st = w->st;
    free(w);
    h->n_watchers--;
    stream_unref(h, st);
}

static void unsynced_push(watch_hub *h, watcher *w)
{
    w->state = W_UNSYNCED;
    w->prev = NULL;
    w->next = h->unsynced;
    if (h->unsynced) h->unsynced->prev = w;
    h->unsynced = w;
}

static void unsynced_unlink(watch_hub *h, watcher *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        h->unsynced = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

void watcher_unsync(watch_hub *h, watcher *w, int64_t from)
{
    index_remove(&h->synced, w);
    h->n_synced--;
    if (w->next_rev < from) w->next_rev = from;
    unsynced_push(h, w);
    h->n_unsynced++;
    w->st->n_unsynced++;
    pthread_cond_signal(&h->catchup_cv);
}

void watcher_sync(watch_hub *h, watcher *w)
{
    w->state = W_SYNCED;
    index_insert(&h->synced, w);
    h->n_synced++;
    h->n_unsynced--;
    w->st->n_unsynced--;
    stream_try_progress(h, w->st);
}

/* Takes w out of whatever holds it, without a reply; w has left the ID table already. */
static void watcher_detach(watch_hub *h, watcher *w)
{
    switch (w->state) {
    case W_SYNCED:
        index_remove(&h->synced, w);
        h->n_synced--;
        if (h->round_busy) {
            /* The running round may still hold it: it goes when the round ends. */
            w->state = W_GRAVE;
            w->next = h->grave;
            h->grave = w;
        } else {
            watcher_free(h, w);
        }
        break;
    case W_UNSYNCED:
        unsynced_unlink(h, w);
        h->n_unsynced--;
        w->st->n_unsynced--;
        watcher_free(h, w);
        break;
    case W_CATCHUP:
        w->dead = 1;
        w->st->n_unsynced--;
        break;
    case W_ENDED:
        watcher_free(h, w);
        break;
    default:
        break;
    }
}

size_t stream_backlog(watch_hub *h, watch_stream *st)
{
    if (st->backlog_mark != h->mark) {
        st->backlog = st->sink.backlog(st->sink_arg);
        st->backlog_mark = h->mark;
    }
    return st->backlog;
}

void stream_try_progress(watch_hub *h, watch_stream *st)
{
    /* The revision must cover every event already sent on the stream and leave none of the
     * stream's watchers short of it: all in sync, and not below anything the client saw. */
    if (!st->progress_wanted || st->closed || st->n_unsynced > 0 ||
        h->delivered_rev < st->max_sent_rev)
        return;
    st->progress_wanted = false;
    h->n_progress_wanted--;
    watch_response r = {.watch_id = -1, .revision = h->delivered_rev};
    send_response(h, st, &r);
}

/* ---- the stream API ---- */

int watch_stream_open(watch_hub *h, const watch_sink *sink, void *sink_arg, watch_stream **out)
{
    watch_stream *st = calloc(1, sizeof(*st));
    if (!st) return WATCH_ERR_NOMEM;
    st->h = h;
    st->sink = *sink;
    st->sink_arg = sink_arg;
    st->refs = 1;
    pthread_mutex_lock(&h->mu);
    st->next = h->streams;
    if (h->streams) h->streams->prev = st;
    h->streams = st;
    h->n_streams++;
    pthread_mutex_unlock(&h->mu);
    *out = st;
    return WATCH_OK;
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static void refuse_create(watch_hub *h, watch_stream *st, const char *reason, int64_t rev)
{
    watch_response r = {.watch_id = -1,
                        .created = true,
                        .canceled = true,
                        .cancel_reason = reason,
                        .revision = rev};
    send_response(h, st, &r);
}

int watch_stream_create(watch_stream *st, const watch_create_req *rq)
{
    static const uint8_t zero_key = 0;
    watch_hub *h = st->h;
    const uint8_t *key = rq->key;
    size_t key_len = rq->key_len;
    if (key_len == 0) { /* etcd: "\0" is the smallest key */
        key = &zero_key;
        key_len = 1;
    }
    size_t end_len = rq->range_end_len;
    bool from_key = end_len == 1 && rq->range_end[0] == 0;
    const char *reason = NULL;
    if (rq->start_revision < 0)
        reason = REASON_COMPACTED;
    else if (end_len && !from_key && key_cmp(key, key_len, rq->range_end, end_len) >= 0)
        reason = REASON_EMPTY_RANGE;
    if (key_len >= UINT32_MAX || end_len >= UINT32_MAX) return WATCH_ERR_INVALID;

    int rc = WATCH_OK;
    pthread_mutex_lock(&h->mu);
    if (st->closed) goto done;
    int64_t cur = h->o.reader.current_rev(h->o.reader.arg);
    int64_t id = rq->watch_id;
    if (!reason && id == 0) {
        while (idt_get(&st->ids, st->next_auto_id)) st->next_auto_id++;
        id = st->next_auto_id;
    } else if (!reason && idt_get(&st->ids, id)) {
        reason = REASON_DUPLICATE_ID;
    }
    if (reason) {
        refuse_create(h, st, reason, cur);
        goto done;
    }
    size_t stored_end = from_key ? 0 : end_len;
    watcher *w = calloc(1, sizeof(*w) + key_len + stored_end);
    if (!w) {
        rc = WATCH_ERR_NOMEM;
        goto done;
    }
    w->st = st;
    w->id = id;
    w->key_len = (uint32_t)key_len;
    w->end_len = from_key ? WATCH_END_ALL : (uint32_t)end_len;
    memcpy(w->bytes, key, key_len);
    if (stored_end) memcpy(w->bytes + key_len, rq->range_end, stored_end);
    w->opts = (uint8_t)((rq->no_put ? W_NOPUT : 0) | (rq->no_delete ? W_NODELETE : 0) |
                        (rq->prev_kv ? W_PREV_KV : 0) | (rq->progress_notify ? W_PROGRESS : 0) |
                        (rq->fragment ? W_FRAGMENT : 0));
    w->next_rev = rq->start_revision > 0 ? rq->start_revision : cur + 1;
    if (idt_put(&st->ids, w) != 0) {
        free(w);
        rc = WATCH_ERR_NOMEM;
        goto done;
    }
    if (rq->watch_id == 0) st->next_auto_id++;
    st->refs++;
    h->n_watchers++;
    if (w->opts & W_PROGRESS) st->n_progress++;

    /* The create response goes first; events can only follow once w is in a set. */
    watch_response r = {.watch_id = id, .created = true, .revision = cur};
    send_response(h, st, &r);
    if (w->next_rev <= h->claimed_rev) {
        unsynced_push(h, w);
        h->n_unsynced++;
        st->n_unsynced++;
        pthread_cond_signal(&h->catchup_cv);
    } else {
        w->state = W_SYNCED;
        index_insert(&h->synced, w);
        h->n_synced++;
    }
done:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int watch_stream_cancel(watch_stream *st, int64_t id)
{
    watch_hub *h = st->h;
    pthread_mutex_lock(&h->mu);
    watcher *w = st->closed ? NULL : idt_get(&st->ids, id);
    if (w) {
        idt_del(&st->ids, id);
        if (w->opts & W_PROGRESS) st->n_progress--;
        watcher_detach(h, w);
        watch_response r = {
            .watch_id = id, .canceled = true, .revision = h->o.reader.current_rev(h->o.reader.arg)};
        send_response(h, st, &r);
        stream_try_progress(h, st);
    }
    pthread_mutex_unlock(&h->mu);
    return WATCH_OK;
}

int watch_stream_progress(watch_stream *st)
{
    watch_hub *h = st->h;
    pthread_mutex_lock(&h->mu);
    if (!st->closed && !st->progress_wanted) {
        st->progress_wanted = true;
        h->n_progress_wanted++;
    }
    stream_try_progress(h, st);
    pthread_mutex_unlock(&h->mu);
    return WATCH_OK;
}

void watch_stream_close(watch_stream *st)
{
    watch_hub *h = st->h;
    pthread_mutex_lock(&h->mu);
    st->closed = true;
    if (st->progress_wanted) {
        st->progress_wanted = false;
        h->n_progress_wanted--;
    }
    /* The open reference keeps st alive while its watchers go. */
    for (size_t i = 0; i < st->ids.cap; i++)
        if (st->ids.slots[i]) watcher_detach(h, st->ids.slots[i]);
    idt_free(&st->ids);
    st->n_progress = 0;
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    h->n_streams--;
    stream_unref(h, st);
    pthread_mutex_unlock(&h->mu);
}
