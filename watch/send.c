/* send: turning a watcher's events into responses — filters, cuts between revisions, etcd's
 * fragments — and handing them to the stream's sink. Everything here runs with hub.mu held. */
#include "watch_internal.h"

#include <stdlib.h>
#include <string.h>

/* Header, watch_id and flags of a response, generously. */
#define RESPONSE_OVERHEAD 64

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t int_field(int64_t v)
{
    return v ? 1 + varint_size((uint64_t)v) : 0;
}

static size_t bytes_field(size_t len)
{
    return len ? 1 + varint_size(len) + len : 0;
}

static size_t kv_size(const watch_kv *kv)
{
    return bytes_field(kv->key_len) + int_field(kv->create_revision) + int_field(kv->mod_revision) +
           int_field(kv->version) + bytes_field(kv->value_len) + int_field(kv->lease);
}

static size_t sub_field(size_t len)
{
    return 1 + varint_size(len) + len;
}

size_t watch_event_wire_size(const watch_event *e)
{
    size_t n = int_field(e->type) + sub_field(kv_size(&e->kv));
    if (e->has_prev) n += sub_field(kv_size(&e->prev));
    return sub_field(n);
}

int deliver_buf_reserve(deliver_buf *d, size_t n)
{
    if (n <= d->cap) return 0;
    watch_event *evs = realloc(d->evs, n * sizeof(*evs));
    if (!evs) return WATCH_ERR_NOMEM;
    d->evs = evs;
    d->cap = n;
    return 0;
}

void deliver_buf_free(deliver_buf *d)
{
    free(d->evs);
    memset(d, 0, sizeof(*d));
}

int send_response(watch_hub *h, watch_stream *st, const watch_response *r)
{
    (void)h;
    if (st->closed) return -1;
    int rc = st->sink.send(st->sink_arg, r);
    if (r->revision > st->max_sent_rev) st->max_sent_rev = r->revision;
    /* Keep the cached backlog honest within one round, so one round cannot push far past the
     * bound before the next look at the sink. */
    size_t bytes = RESPONSE_OVERHEAD;
    for (size_t i = 0; i < r->n_events; i++) bytes += watch_event_wire_size(&r->events[i]);
    st->backlog += bytes;
    return rc;
}

static void send_part(watch_hub *h, watcher *w, const watch_event *evs, size_t n, int64_t rev,
                      bool fragment)
{
    watch_response r = {
        .watch_id = w->id, .revision = rev, .fragment = fragment, .events = evs, .n_events = n};
    send_response(h, w->st, &r);
}

/* etcd's sendFragments: fill each fragment until the next event would reach the limit (at
 * least one event each); all but the last carry fragment=true. */
static void send_fragments(watch_hub *h, watcher *w, const watch_event *evs, size_t n, int64_t rev)
{
    size_t max = h->o.response_max_bytes;
    size_t p = 0;
    while (p < n) {
        size_t q = p, size = RESPONSE_OVERHEAD;
        while (q < n) {
            size_t es = watch_event_wire_size(&evs[q]);
            if (q > p && size + es >= max) break;
            size += es;
            q++;
        }
        send_part(h, w, evs + p, q - p, rev, q < n);
        p = q;
    }
}

/* Sends evs[0..n) in responses of whole revisions up to the size limit each (always at least
 * one revision). A part's header revision is its last event's revision, except the last part's,
 * which is `to`: the watcher has then been sent everything up to `to`. */
static void emit(watch_hub *h, watcher *w, const watch_event *evs, size_t n, int64_t to)
{
    size_t max = h->o.response_max_bytes;
    size_t i = 0;
    while (i < n) {
        size_t j = i, size = RESPONSE_OVERHEAD;
        while (j < n) {
            int64_t rev = evs[j].kv.mod_revision;
            size_t m = j, rev_size = 0;
            while (m < n && evs[m].kv.mod_revision == rev)
                rev_size += watch_event_wire_size(&evs[m++]);
            if (j > i && size + rev_size > max) break;
            size += rev_size;
            j = m;
        }
        int64_t rev = j == n ? to : evs[j - 1].kv.mod_revision;
        if (size >= max && (w->opts & W_FRAGMENT) && j - i >= 2)
            send_fragments(h, w, evs + i, j - i, rev);
        else
            send_part(h, w, evs + i, j - i, rev, false);
        i = j;
    }
}

void deliver(watch_hub *h, deliver_buf *out, watcher *w, const watch_batch *b,
             const watch_hit *hits, size_t n_hits, int64_t to)
{
    size_t k = 0;
    for (size_t i = 0; i < n_hits && k < out->cap; i++) {
        const watch_event *e = &b->evs[hits[i].ev];
        if (e->kv.mod_revision < w->next_rev || e->kv.mod_revision > to) continue;
        if (e->type == WATCH_PUT && (w->opts & W_NOPUT)) continue;
        if (e->type == WATCH_DELETE && (w->opts & W_NODELETE)) continue;
        out->evs[k] = *e;
        if (!(w->opts & W_PREV_KV)) out->evs[k].has_prev = false;
        k++;
    }
    if (k > 0) {
        emit(h, w, out->evs, k, to);
        w->sent_since_tick = 1;
    }
    if (to + 1 > w->next_rev) w->next_rev = to + 1;
}

void send_compacted(watch_hub *h, watcher *w, int64_t compacted)
{
    /* etcd's answer to a watcher that needs history compaction removed: the header revision is
     * 0 there, and nothing more comes for this ID. */
    watch_response r = {
        .watch_id = w->id, .canceled = true, .compact_revision = compacted, .revision = 0};
    send_response(h, w->st, &r);
}
