#include "fake_store.h"

#include <stdlib.h>
#include <string.h>

static char *dup_bytes(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) abort();
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}

void fs_init(fake_store *fs)
{
    memset(fs, 0, sizeof(*fs));
    pthread_mutex_init(&fs->mu, NULL);
    fs->rev = 1;
}

void fs_free(fake_store *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->ch[i].key);
        free(fs->ch[i].value);
    }
    free(fs->ch);
    pthread_mutex_destroy(&fs->mu);
}

/* The latest change of key at or below rev, or NULL. */
static const fake_change *latest(const fake_store *fs, size_t n, const char *key, size_t key_len,
                                 int64_t rev)
{
    for (size_t i = n; i-- > 0;) {
        const fake_change *c = &fs->ch[i];
        if (c->rev <= rev && c->key_len == key_len && memcmp(c->key, key, key_len) == 0) return c;
    }
    return NULL;
}

static void add_change(fake_store *fs, const char *key, const char *value, size_t value_len,
                       bool del)
{
    size_t key_len = strlen(key);
    const fake_change *prev = latest(fs, fs->n, key, key_len, fs->rev + 1);
    bool live = prev && !prev->del;
    if (del && !live) return;
    int64_t prev_version = live ? prev->version : 0, prev_create = live ? prev->create_rev : 0;
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? fs->cap * 2 : 64;
        fs->ch = realloc(fs->ch, fs->cap * sizeof(*fs->ch));
        if (!fs->ch) abort();
    }
    fake_change *c = &fs->ch[fs->n++];
    memset(c, 0, sizeof(*c));
    c->rev = fs->rev + 1;
    c->del = del;
    c->key = dup_bytes(key, key_len);
    c->key_len = key_len;
    if (!del) {
        c->value = dup_bytes(value, value_len);
        c->value_len = value_len;
        c->version = live ? prev_version + 1 : 1;
        c->create_rev = live ? prev_create : c->rev;
    }
    fs->in_txn++;
}

void fs_txn_begin(fake_store *fs)
{
    pthread_mutex_lock(&fs->mu);
    fs->in_txn = 0;
}

void fs_txn_put(fake_store *fs, const char *key, const char *value)
{
    add_change(fs, key, value, strlen(value), false);
}

void fs_txn_del(fake_store *fs, const char *key)
{
    add_change(fs, key, NULL, 0, true);
}

int64_t fs_txn_end(fake_store *fs)
{
    if (fs->in_txn) fs->rev++;
    int64_t rev = fs->rev;
    pthread_mutex_unlock(&fs->mu);
    return rev;
}

int64_t fs_put_n(fake_store *fs, const char *key, const char *value, size_t value_len)
{
    fs_txn_begin(fs);
    add_change(fs, key, value, value_len, false);
    return fs_txn_end(fs);
}

int64_t fs_put(fake_store *fs, const char *key, const char *value)
{
    return fs_put_n(fs, key, value, strlen(value));
}

int64_t fs_del(fake_store *fs, const char *key)
{
    fs_txn_begin(fs);
    fs_txn_del(fs, key);
    return fs_txn_end(fs);
}

void fs_compact(fake_store *fs, int64_t rev)
{
    pthread_mutex_lock(&fs->mu);
    fs->compacted = rev;
    pthread_mutex_unlock(&fs->mu);
}

/* ---- reader ---- */

typedef struct fake_view {
    fake_store *fs;
    int64_t rev;
    size_t n; /* changes visible */
    char *get_buf;
} fake_view;

static int r_open(void *arg, void **view, int64_t *rev, int64_t *compacted)
{
    fake_store *fs = arg;
    pthread_mutex_lock(&fs->mu);
    if (fs->fail_opens > 0) {
        fs->fail_opens--;
        pthread_mutex_unlock(&fs->mu);
        return WATCH_ERR_IO;
    }
    fs->opens++;
    fake_view *v = calloc(1, sizeof(*v));
    if (!v) abort();
    v->fs = fs;
    v->rev = fs->rev;
    v->n = fs->n; /* a writer holds mu for its whole txn: nothing is pending */
    *rev = fs->rev;
    *compacted = fs->compacted;
    pthread_mutex_unlock(&fs->mu);
    *view = v;
    return 0;
}

static int r_changes(void *view, int64_t from, int64_t to, watch_change_fn fn, void *fn_arg)
{
    fake_view *v = view;
    fake_store *fs = v->fs;
    pthread_mutex_lock(&fs->mu);
    int rc = 0;
    if (from < fs->compacted) {
        rc = WATCH_ERR_COMPACTED;
        goto done;
    }
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        const fake_change *c = &fs->ch[i];
        if (c->rev < from || c->rev > to || c->rev > v->rev) continue;
        watch_kv kv = {
            .key = (const uint8_t *)c->key, .key_len = c->key_len, .mod_revision = c->rev};
        if (!c->del) {
            kv.value = (const uint8_t *)c->value;
            kv.value_len = c->value_len;
            kv.create_revision = c->create_rev;
            kv.version = c->version;
        }
        rc = fn(fn_arg, &kv, c->del);
    }
    if (rc > 0) rc = 0;
done:
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

static int r_get(void *view, const uint8_t *key, size_t key_len, int64_t rev, watch_kv *out,
                 bool *found)
{
    fake_view *v = view;
    fake_store *fs = v->fs;
    pthread_mutex_lock(&fs->mu);
    *found = false;
    int rc = 0;
    if (rev < fs->compacted) {
        rc = WATCH_ERR_COMPACTED;
    } else {
        const fake_change *c = latest(fs, v->n, (const char *)key, key_len, rev);
        if (c && !c->del) {
            free(v->get_buf);
            v->get_buf = dup_bytes(c->value, c->value_len);
            *out = (watch_kv){.key = key,
                              .key_len = key_len,
                              .value = (const uint8_t *)v->get_buf,
                              .value_len = c->value_len,
                              .create_revision = c->create_rev,
                              .mod_revision = c->rev,
                              .version = c->version};
            *found = true;
        }
    }
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

static void r_close(void *view)
{
    fake_view *v = view;
    free(v->get_buf);
    free(v);
}

static int64_t r_current(void *arg)
{
    fake_store *fs = arg;
    pthread_mutex_lock(&fs->mu);
    int64_t rev = fs->rev;
    pthread_mutex_unlock(&fs->mu);
    return rev;
}

watch_reader fs_reader(fake_store *fs)
{
    return (watch_reader){.open = r_open,
                          .changes = r_changes,
                          .get = r_get,
                          .close = r_close,
                          .current_rev = r_current,
                          .arg = fs};
}

/* ---- sink ---- */

void sink_init(fake_sink *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
}

void sink_clear(fake_sink *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        rec_resp *r = &s->v[i];
        for (size_t j = 0; j < r->n; j++) {
            free(r->evs[j].key);
            free(r->evs[j].value);
            free(r->evs[j].prev_value);
        }
        free(r->evs);
        free(r->reason);
    }
    s->n = 0;
    pthread_mutex_unlock(&s->mu);
}

void sink_free(fake_sink *s)
{
    sink_clear(s);
    free(s->v);
    pthread_mutex_destroy(&s->mu);
}

size_t sink_count(fake_sink *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int s_send(void *arg, const watch_response *r)
{
    fake_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v) abort();
    }
    rec_resp *c = &s->v[s->n++];
    memset(c, 0, sizeof(*c));
    c->watch_id = r->watch_id;
    c->revision = r->revision;
    c->compact_revision = r->compact_revision;
    c->created = r->created;
    c->canceled = r->canceled;
    c->fragment = r->fragment;
    if (r->cancel_reason) c->reason = dup_bytes(r->cancel_reason, strlen(r->cancel_reason));
    c->n = r->n_events;
    c->evs = calloc(r->n_events ? r->n_events : 1, sizeof(*c->evs));
    if (!c->evs) abort();
    for (size_t i = 0; i < r->n_events; i++) {
        const watch_event *e = &r->events[i];
        rec_event *d = &c->evs[i];
        d->type = e->type;
        d->key = dup_bytes(e->kv.key, e->kv.key_len);
        d->value = dup_bytes(e->kv.value, e->kv.value_len);
        d->value_len = e->kv.value_len;
        d->mod_rev = e->kv.mod_revision;
        d->create_rev = e->kv.create_revision;
        d->version = e->kv.version;
        d->has_prev = e->has_prev;
        if (e->has_prev) {
            d->prev_value = dup_bytes(e->prev.value, e->prev.value_len);
            d->prev_mod_rev = e->prev.mod_revision;
        }
    }
    s->sends++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static size_t s_backlog(void *arg)
{
    fake_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    size_t b = s->backlog;
    pthread_mutex_unlock(&s->mu);
    return b;
}

const watch_sink *sink_ops(void)
{
    static const watch_sink ops = {.send = s_send, .backlog = s_backlog};
    return &ops;
}
