/* index: which watchers a changed key concerns. Single keys (the common case, and the one that
 * scales to many watchers) are a hash lookup; ranges are checked one by one. */
#include "watch_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

bool watcher_holds(const watcher *w, const uint8_t *key, size_t key_len)
{
    if (w->end_len == 0) return key_len == w->key_len && memcmp(key, watcher_key(w), key_len) == 0;
    if (key_cmp(key, key_len, watcher_key(w), w->key_len) < 0) return false;
    return w->end_len == WATCH_END_ALL || key_cmp(key, key_len, watcher_end(w), w->end_len) < 0;
}

void index_init(watch_index *ix)
{
    memset(ix, 0, sizeof(*ix));
}

void index_free(watch_index *ix)
{
    free(ix->buckets);
    memset(ix, 0, sizeof(*ix));
}

static void list_push(watcher **head, watcher *w)
{
    w->prev = NULL;
    w->next = *head;
    if (*head) (*head)->prev = w;
    *head = w;
}

static void list_unlink(watcher **head, watcher *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        *head = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static watcher **bucket_of(const watch_index *ix, const uint8_t *key, size_t len)
{
    return &ix->buckets[hash_bytes(key, len) & (ix->nbuckets - 1)];
}

static void grow(watch_index *ix)
{
    size_t n = ix->nbuckets ? ix->nbuckets * 2 : 64;
    watcher **nb = calloc(n, sizeof(*nb));
    if (!nb) return;
    watcher **old = ix->buckets;
    size_t old_n = ix->nbuckets;
    ix->buckets = nb;
    ix->nbuckets = n;
    for (size_t i = 0; i < old_n; i++) {
        watcher *w = old[i];
        while (w) {
            watcher *next = w->next;
            list_push(bucket_of(ix, watcher_key(w), w->key_len), w);
            w = next;
        }
    }
    free(old);
}

void index_insert(watch_index *ix, watcher *w)
{
    if (w->end_len == 0 && ix->nkeys >= ix->nbuckets) grow(ix);
    if (w->end_len != 0 || !ix->nbuckets) {
        /* A single key lands here only when not even the first table could be allocated;
         * watcher_holds matches it all the same. */
        w->in_ranges = 1;
        list_push(&ix->ranges, w);
        ix->nranges++;
        return;
    }
    w->in_ranges = 0;
    list_push(bucket_of(ix, watcher_key(w), w->key_len), w);
    ix->nkeys++;
}

void index_remove(watch_index *ix, watcher *w)
{
    if (w->in_ranges) {
        w->in_ranges = 0;
        list_unlink(&ix->ranges, w);
        ix->nranges--;
        return;
    }
    list_unlink(bucket_of(ix, watcher_key(w), w->key_len), w);
    ix->nkeys--;
}

void index_match(const watch_index *ix, const uint8_t *key, size_t key_len, index_match_fn fn,
                 void *arg)
{
    if (ix->nbuckets) {
        for (watcher *w = *bucket_of(ix, key, key_len); w;) {
            watcher *next = w->next;
            if (w->key_len == key_len && memcmp(watcher_key(w), key, key_len) == 0) fn(arg, w);
            w = next;
        }
    }
    for (watcher *w = ix->ranges; w;) {
        watcher *next = w->next;
        if (watcher_holds(w, key, key_len)) fn(arg, w);
        w = next;
    }
}

void index_clear(watch_index *ix)
{
    if (ix->nbuckets) memset(ix->buckets, 0, ix->nbuckets * sizeof(*ix->buckets));
    ix->ranges = NULL;
    ix->nkeys = ix->nranges = 0;
}

void index_each(const watch_index *ix, index_match_fn fn, void *arg)
{
    for (size_t i = 0; i < ix->nbuckets; i++) {
        for (watcher *w = ix->buckets[i]; w;) {
            watcher *next = w->next;
            fn(arg, w);
            w = next;
        }
    }
    for (watcher *w = ix->ranges; w;) {
        watcher *next = w->next;
        fn(arg, w);
        w = next;
    }
}

/* ---- hits ---- */

struct collect {
    watch_hits *hs;
    watch_batch *b;
    size_t ev;
};

static void collect_one(void *arg, watcher *w)
{
    struct collect *c = arg;
    watch_hits *hs = c->hs;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 256;
        watch_hit *v = realloc(hs->v, cap * sizeof(*v));
        if (!v) {
            hs->oom = true;
            return;
        }
        hs->v = v;
        hs->cap = cap;
    }
    hs->v[hs->n++] = (watch_hit){w, c->ev};
    const watch_event *e = &c->b->evs[c->ev];
    /* etcd gives no prev_kv for a creation: there was nothing before it. */
    if ((w->opts & W_PREV_KV) && !(e->type == WATCH_PUT && e->kv.version == 1))
        c->b->need_prev[c->ev] = true;
}

static int hit_cmp(const void *a, const void *b)
{
    const watch_hit *x = a, *y = b;
    uintptr_t wx = (uintptr_t)x->w, wy = (uintptr_t)y->w;
    if (wx != wy) return wx < wy ? -1 : 1;
    return x->ev < y->ev ? -1 : x->ev > y->ev;
}

void hits_collect(watch_hits *hs, const watch_index *ix, watch_batch *b)
{
    hs->n = 0;
    hs->oom = false;
    struct collect c = {hs, b, 0};
    for (c.ev = 0; c.ev < b->n; c.ev++) {
        const watch_kv *kv = &b->evs[c.ev].kv;
        index_match(ix, kv->key, kv->key_len, collect_one, &c);
    }
    if (hs->n > 1) qsort(hs->v, hs->n, sizeof(*hs->v), hit_cmp);
}

void hits_free(watch_hits *hs)
{
    free(hs->v);
    memset(hs, 0, sizeof(*hs));
}
