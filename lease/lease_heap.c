#include "lease_heap.h"

#include <stdlib.h>

static int64_t key_of(const lease_heap *h, size_t i)
{
    return h->items[i]->key[h->which];
}

static void place(lease_heap *h, size_t i, struct lease_entry *e)
{
    h->items[i] = e;
    e->pos[h->which] = i;
}

static void sift_up(lease_heap *h, size_t i)
{
    struct lease_entry *e = h->items[i];
    int64_t k = e->key[h->which];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (key_of(h, parent) <= k) break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, e);
}

static void sift_down(lease_heap *h, size_t i)
{
    struct lease_entry *e = h->items[i];
    int64_t k = e->key[h->which];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && key_of(h, child + 1) < key_of(h, child)) child++;
        if (key_of(h, child) >= k) break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, e);
}

struct lease_entry *lease_heap_top(const lease_heap *h)
{
    return h->n ? h->items[0] : NULL;
}

int lease_heap_set(lease_heap *h, struct lease_entry *e, int64_t key)
{
    size_t i = e->pos[h->which];
    if (i != LEASE_HEAP_NONE) {
        int64_t old = e->key[h->which];
        e->key[h->which] = key;
        if (key < old)
            sift_up(h, i);
        else
            sift_down(h, i);
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct lease_entry **items = realloc(h->items, cap * sizeof(*items));
        if (!items) return -1;
        h->items = items;
        h->cap = cap;
    }
    e->key[h->which] = key;
    h->items[h->n] = e;
    e->pos[h->which] = h->n;
    sift_up(h, h->n++);
    return 0;
}

void lease_heap_remove(lease_heap *h, struct lease_entry *e)
{
    size_t i = e->pos[h->which];
    if (i == LEASE_HEAP_NONE) return;
    e->pos[h->which] = LEASE_HEAP_NONE;
    struct lease_entry *last = h->items[--h->n];
    if (i == h->n) return;
    h->items[i] = last;
    last->pos[h->which] = i;
    /* The moved entry may belong above or below slot i. */
    if (i > 0 && key_of(h, (i - 1) / 2) > last->key[h->which])
        sift_up(h, i);
    else
        sift_down(h, i);
}

void lease_heap_clear(lease_heap *h)
{
    for (size_t i = 0; i < h->n; i++) h->items[i]->pos[h->which] = LEASE_HEAP_NONE;
    h->n = 0;
}

void lease_heap_free(lease_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}
