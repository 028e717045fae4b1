/* batch: the changes of a run of revisions, copied out of a store view so they outlive it and
 * can be matched and sent with the hub's lock held but no store read under it. */
#include "watch_internal.h"

#include <stdlib.h>
#include <string.h>

/* The bytes of keys and values, in blocks that never move (events point into them). */
typedef struct batch_block {
    struct batch_block *next;
    size_t used, cap;
    uint8_t data[];
} batch_block;

#define BLOCK_MIN (64 * 1024)

void batch_init(watch_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void batch_reset(watch_batch *b)
{
    /* Keep the first block: a steady stream of small rounds then allocates nothing. */
    batch_block *keep = NULL;
    for (batch_block *k = b->blocks; k;) {
        batch_block *next = k->next;
        if (!keep && k->cap == BLOCK_MIN) {
            keep = k;
            keep->next = NULL;
            keep->used = 0;
        } else {
            free(k);
        }
        k = next;
    }
    b->blocks = keep;
    b->n = 0;
    b->bytes = 0;
    b->from = b->to = 0;
}

void batch_free(watch_batch *b)
{
    batch_reset(b);
    free(b->blocks);
    free(b->evs);
    free(b->need_prev);
    memset(b, 0, sizeof(*b));
}

static const uint8_t *copy_bytes(watch_batch *b, const uint8_t *p, size_t n)
{
    if (n == 0) return NULL;
    batch_block *k = b->blocks;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        batch_block *nk = malloc(sizeof(*nk) + cap);
        if (!nk) return NULL;
        nk->used = 0;
        nk->cap = cap;
        /* A large one-off block goes behind the current one so the current keeps filling. */
        if (k && cap > BLOCK_MIN) {
            nk->next = k->next;
            k->next = nk;
        } else {
            nk->next = k;
            b->blocks = nk;
        }
        k = nk;
    }
    uint8_t *dst = k->data + k->used;
    memcpy(dst, p, n);
    k->used += n;
    b->bytes += n;
    return dst;
}

static int copy_kv(watch_batch *b, watch_kv *dst, const watch_kv *src)
{
    *dst = *src;
    dst->key = copy_bytes(b, src->key, src->key_len);
    dst->value = copy_bytes(b, src->value, src->value_len);
    if ((src->key_len && !dst->key) || (src->value_len && !dst->value)) return WATCH_ERR_NOMEM;
    return 0;
}

static int reserve(watch_batch *b)
{
    if (b->n < b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 256;
    watch_event *evs = realloc(b->evs, cap * sizeof(*evs));
    if (!evs) return WATCH_ERR_NOMEM;
    b->evs = evs;
    bool *np = realloc(b->need_prev, cap * sizeof(*np));
    if (!np) return WATCH_ERR_NOMEM;
    b->need_prev = np;
    b->cap = cap;
    return 0;
}

struct reading {
    watch_batch *b;
    size_t max_bytes;
    int64_t last_rev; /* revision of the last event read */
    bool cut;         /* stopped at a revision boundary because the budget was spent */
};

static int read_one(void *arg, const watch_kv *kv, bool is_delete)
{
    struct reading *rd = arg;
    watch_batch *b = rd->b;
    if (kv->mod_revision != rd->last_rev && b->n > 0 && b->bytes >= rd->max_bytes) {
        rd->cut = true;
        return 1;
    }
    int rc = reserve(b);
    if (rc) return rc;
    watch_event *e = &b->evs[b->n];
    memset(e, 0, sizeof(*e));
    e->type = is_delete ? WATCH_DELETE : WATCH_PUT;
    if (is_delete) {
        watch_kv k = {.key = kv->key, .key_len = kv->key_len, .mod_revision = kv->mod_revision};
        rc = copy_kv(b, &e->kv, &k);
    } else {
        rc = copy_kv(b, &e->kv, kv);
    }
    if (rc) return rc;
    b->need_prev[b->n] = false;
    b->n++;
    rd->last_rev = kv->mod_revision;
    return 0;
}

int batch_read(watch_batch *b, const watch_reader *r, void *view, int64_t from, int64_t to,
               size_t max_bytes)
{
    batch_reset(b);
    struct reading rd = {.b = b, .max_bytes = max_bytes};
    int rc = r->changes(view, from, to, read_one, &rd);
    if (rc < 0) {
        batch_reset(b);
        return rc;
    }
    b->from = from;
    b->to = rd.cut ? rd.last_rev : to;
    return 0;
}

int batch_read_prevs(watch_batch *b, const watch_reader *r, void *view)
{
    for (size_t i = 0; i < b->n; i++) {
        if (!b->need_prev[i]) continue;
        watch_event *e = &b->evs[i];
        watch_kv prev;
        bool found = false;
        int rc = r->get(view, e->kv.key, e->kv.key_len, e->kv.mod_revision - 1, &prev, &found);
        if (rc == WATCH_ERR_COMPACTED) continue; /* etcd sends the event without it */
        if (rc < 0) return rc;
        if (!found) continue;
        rc = copy_kv(b, &e->prev, &prev);
        if (rc) return rc;
        e->has_prev = true;
    }
    return 0;
}
