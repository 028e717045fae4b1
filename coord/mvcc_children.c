/* mvcc_children: the immediate children of a directory at one revision, about one seek each.
 *
 * A child c of dir owns the key c itself and the subtree c/...; one seek to escape(c) ‖ '0'
 * jumps over the whole subtree. Everything here works on escaped keys (mvcc_key.h): escaping
 * keeps byte order, and '/' and '0' are never escape bytes, so component boundaries and seek
 * targets can be cut from escaped bytes directly.
 *
 * Order is by child name in bytes. The subtle part: a sibling c‖x with x < '/' (say "web-1"
 * beside "web") sorts between the key c and c's subtree c/..., so
 *  - after the key c, the next key may be such a sibling; then c's subtree is probed with an
 *    extra seek to escape(c) ‖ '/' and the walk seeks back;
 *  - a child c that is not a key is first met through a sibling c‖x: before emitting the
 *    sibling, every unhandled proper prefix q of its name that ends before a byte < '/' is
 *    probed for a subtree (one seek there, one back; the last negative probe is remembered so
 *    "web-1", "web-2", ... probe "web" once);
 *  - keys of a subtree whose child was already handled are jumped over when met.
 * Names without bytes below '/' (the usual case) take none of these extra seeks. An empty
 * component (keys "dir//...") is the child named dir itself, listed first.
 *
 * Deleted descendants: a child is listed only if the key c is live at the revision or some key
 * below c/ is. Finding that live key steps key by key through the subtree (one settle per key,
 * mostly Next() calls), so a child whose first N descendants are deleted costs about N steps
 * until compaction removes those tombstones; a child whose descendants are all deleted costs a
 * walk of its whole (tombstoned) subtree. The cost is unbounded only for such subtrees, which
 * compaction shrinks; correctness never depends on it.
 */
#include "mvcc_internal.h"

#include <string.h>

struct lister {
    mvcc_txn *t;
    mvcc_cursor c;
    int64_t at;
    size_t dir_len;     /* escaped */
    mvcc_buf handled;   /* escaped name of the greatest child handled (or `after`); empty: none */
    mvcc_buf neg_probe; /* escaped name whose subtree was last found empty */
    mvcc_buf child;     /* escaped name of the child at hand */
    mvcc_buf target;    /* seek targets */
    mvcc_buf here;      /* escaped user key to come back to after a probe */
    int64_t limit, emitted;
    mvcc_child_fn fn;
    void *arg;
};

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;
    if (r != 0) return r;
    return an < bn ? -1 : an > bn;
}

/* The escaped user key of the version the cursor stands on. */
static const uint8_t *cur_escaped(struct lister *l, size_t *n)
{
    size_t klen;
    const uint8_t *k = mvcc_cursor_key(&l->c, &klen);
    *n = mvcc_key_valid(klen) ? mvcc_key_escaped_len(klen) : 0;
    return k;
}

static bool starts_with(const uint8_t *k, size_t kn, const uint8_t *p, size_t pn)
{
    return kn >= pn && memcmp(k, p, pn) == 0;
}

static int seek_to(struct lister *l, const uint8_t *p, size_t n, const char *tail, size_t tail_n)
{
    l->target.len = 0;
    if (mvcc_buf_append(&l->target, p, n) != 0 || mvcc_buf_append(&l->target, tail, tail_n) != 0)
        return MVCC_ERR_NOMEM;
    mvcc_cursor_seek(&l->c, l->target.p, l->target.len);
    return 0;
}

/* The cursor is at or before the subtree name‖'/' (at the newest version of some key). Walks
 * until a key live at l->at is found inside the subtree (*live = true, cursor on it) or the
 * cursor leaves the subtree (*live = false, cursor past it). */
static int find_live(struct lister *l, const uint8_t *name, size_t name_n, bool *live)
{
    *live = false;
    while (mvcc_cursor_valid(&l->c)) {
        size_t kn;
        const uint8_t *k = cur_escaped(l, &kn);
        if (!starts_with(k, kn, name, name_n) || kn == name_n || k[name_n] != '/') return 0;
        int r = mvcc_cursor_settle(&l->c, l->at);
        if (r < 0) return r;
        if (r == 0) continue;
        size_t vlen;
        const uint8_t *v = mvcc_cursor_value(&l->c, &vlen);
        mvcc_rec rec;
        if (mvcc_rec_decode(v, vlen, &rec) != 0) return MVCC_ERR_IO;
        if (!rec.tombstone) {
            *live = true;
            return 0;
        }
        r = mvcc_cursor_skip_key(&l->c);
        if (r < 0) return r;
    }
    return mvcc_cursor_error(&l->c);
}

/* Seeks to name‖'/' and looks for a live key below it. Leaves the cursor anywhere. */
static int probe_subtree(struct lister *l, const uint8_t *name, size_t name_n, bool *live)
{
    int rc = seek_to(l, name, name_n, "/", 1);
    if (rc != 0) return rc;
    return find_live(l, name, name_n, live);
}

static int emit(struct lister *l, const uint8_t *name, size_t name_n, bool is_key,
                bool has_children)
{
    l->handled.len = 0;
    if (mvcc_buf_append(&l->handled, name, name_n) != 0) return MVCC_ERR_NOMEM;
    if (!is_key && !has_children) return 0;
    /* hand out the unescaped name: decode through the kv-key decoder's layout */
    mvcc_buf *u = &l->t->user_key;
    u->len = 0;
    if (mvcc_buf_reserve(u, name_n ? name_n : 1) != 0) return MVCC_ERR_NOMEM;
    for (size_t i = 0; i < name_n; i++) {
        u->p[u->len++] = name[i];
        if (name[i] == 0x00) i++;
    }
    l->emitted++;
    int rc = l->fn(l->arg, u->p, u->len, is_key, has_children);
    if (rc < 0) return rc;
    if (rc > 0 || (l->limit > 0 && l->emitted >= l->limit)) return 1;
    return 0;
}

/* Before the child at hand (l->child) is handled: its unhandled proper prefixes that end before
 * a byte < '/' may be children (with a subtree only) that sort before it. */
static int probe_prefixes(struct lister *l)
{
    const uint8_t *name = l->child.p;
    size_t n = l->child.len;
    bool moved = false;
    int rc = 0;
    for (size_t j = l->dir_len; j < n; j++) {
        if (name[j] >= '/') continue;
        if (bytes_cmp(name, j, l->handled.p, l->handled.len) <= 0) continue;
        if (l->neg_probe.len == j && memcmp(l->neg_probe.p, name, j) == 0) continue;
        bool live;
        moved = true;
        rc = probe_subtree(l, name, j, &live);
        if (rc != 0) return rc;
        if (live) {
            rc = emit(l, name, j, false, true);
            if (rc != 0) return rc;
        } else {
            l->neg_probe.len = 0;
            if (mvcc_buf_append(&l->neg_probe, name, j) != 0) return MVCC_ERR_NOMEM;
        }
        if (name[j] == 0x00) j++; /* an escaped 0x00 is two bytes */
    }
    if (moved) mvcc_cursor_seek(&l->c, l->here.p, l->here.len);
    return 0;
}

/* One child, starting from the cursor on the newest version of its first key. */
static int list_one(struct lister *l)
{
    size_t kn;
    const uint8_t *k = cur_escaped(l, &kn);
    if (kn <= l->dir_len) return MVCC_ERR_IO;
    const uint8_t *slash = memchr(k + l->dir_len, '/', kn - l->dir_len);
    bool in_subtree = slash != NULL; /* the key is below the child, not the child itself */
    size_t cn = slash ? (size_t)(slash - k) : kn;
    l->child.len = l->here.len = 0;
    if (mvcc_buf_append(&l->child, k, cn) != 0 || mvcc_buf_append(&l->here, k, kn) != 0)
        return MVCC_ERR_NOMEM;
    const uint8_t *c = l->child.p;
    if (bytes_cmp(c, cn, l->handled.p, l->handled.len) <= 0)
        return seek_to(l, c, cn, "0", 1); /* a handled child's subtree */

    int rc = probe_prefixes(l);
    if (rc != 0) return rc;

    bool is_key = false, has_children = false;
    if (!in_subtree) {
        int r = mvcc_cursor_settle(&l->c, l->at);
        if (r < 0) return r;
        if (r == 1) {
            size_t vlen;
            const uint8_t *v = mvcc_cursor_value(&l->c, &vlen);
            mvcc_rec rec;
            if (mvcc_rec_decode(v, vlen, &rec) != 0) return MVCC_ERR_IO;
            is_key = !rec.tombstone;
            rc = mvcc_cursor_skip_key(&l->c);
            if (rc < 0) return rc;
        }
        /* the cursor is on the first key after c */
        if (mvcc_cursor_valid(&l->c)) {
            k = cur_escaped(l, &kn);
            if (starts_with(k, kn, c, cn) && kn > cn && k[cn] == '/') {
                rc = find_live(l, c, cn, &has_children);
                if (rc != 0) return rc;
                if (has_children) rc = seek_to(l, c, cn, "0", 1);
            } else if (starts_with(k, kn, c, cn) && kn > cn && k[cn] < '/') {
                /* a sibling c‖x sorts between c and c/: probe c/ and come back */
                rc = probe_subtree(l, c, cn, &has_children);
                if (rc == 0) rc = seek_to(l, c, cn, "\x00\x02", 2);
            }
            if (rc != 0) return rc;
        }
    } else {
        rc = find_live(l, c, cn, &has_children);
        if (rc != 0) return rc;
        if (has_children) rc = seek_to(l, c, cn, "0", 1);
        if (rc != 0) return rc;
    }
    return emit(l, c, cn, is_key, has_children);
}

int mvcc_txn_list_children(mvcc_txn *t, const uint8_t *dir, size_t dir_len, const uint8_t *after,
                           size_t after_len, int64_t rev, int64_t limit, mvcc_child_fn fn,
                           void *arg, uint64_t *seeks)
{
    *seeks = 0;
    if (dir_len == 0 || dir[dir_len - 1] != '/') return MVCC_ERR_INVALID;
    struct lister l = {.t = t, .limit = limit, .fn = fn, .arg = arg};
    int rc = mvcc_txn_read_rev(t, rev, &l.at);
    if (rc != 0) return rc;

    mvcc_buf lower = {0}, upper = {0};
    rc = MVCC_ERR_NOMEM;
    if (mvcc_key_append_escaped(&lower, dir, dir_len) != 0 ||
        mvcc_buf_append(&upper, lower.p, lower.len) != 0)
        goto free_bounds;
    upper.p[upper.len - 1] = '0'; /* every key below dir/ sorts before dir0 */
    l.dir_len = lower.len;
    rc = mvcc_cursor_open(t, STORAGE_CF_KV, lower.p, lower.len, upper.p, upper.len, &l.c);
    if (rc != 0) goto free_bounds;

    /* start after `after` (a child path under dir), or after dir's own key with nothing handled
     * yet (the empty name, the child "dir/" of keys "dir//...", is then still to come) */
    if (after_len >= dir_len && memcmp(after, dir, dir_len) == 0) {
        if (mvcc_key_append_escaped(&l.handled, after, after_len) != 0) {
            rc = MVCC_ERR_NOMEM;
            goto close_cursor;
        }
        rc = seek_to(&l, l.handled.p, l.handled.len, "\x00\x02", 2);
    } else {
        rc = seek_to(&l, lower.p, lower.len, "\x00\x02", 2);
    }
    while (rc == 0 && mvcc_cursor_valid(&l.c)) rc = list_one(&l);
    if (rc == 1) rc = 0;
    if (rc == 0) rc = mvcc_cursor_error(&l.c);
    *seeks = l.c.seeks;

close_cursor:
    mvcc_cursor_close(&l.c);
free_bounds:
    mvcc_buf_free(&lower);
    mvcc_buf_free(&upper);
    mvcc_buf_free(&l.handled);
    mvcc_buf_free(&l.neg_probe);
    mvcc_buf_free(&l.child);
    mvcc_buf_free(&l.target);
    mvcc_buf_free(&l.here);
    return rc;
}
