/* watch: `coordctl watch` on libcoord's watch stream. Output is etcdctl's simple format; every
 * response is flushed at once, so a pipe or a file sees events as they come. */
#include "watch.h"

#include "textfmt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const flag_def watch_flag_defs[] = {
    {"prefix", 0, FLAG_BOOL, offsetof(watch_opts, prefix), "false",
     "Watch on a prefix if prefix is set"},
    {"prev-kv", 0, FLAG_BOOL, offsetof(watch_opts, prev_kv), "false",
     "get the previous key-value pair before the event happens"},
    {"rev", 0, FLAG_INT64, offsetof(watch_opts, rev), "0", "Revision to start watching"},
    {"progress-notify", 0, FLAG_BOOL, offsetof(watch_opts, progress_notify), "false",
     "get periodic watch progress notification from server"},
    {"interactive", 'i', FLAG_BOOL, offsetof(watch_opts, interactive), "false", "Interactive mode"},
    {"children", 0, FLAG_BOOL, offsetof(watch_opts, children), "false",
     "report the immediate children of <dir> that appear and disappear"},
};
const size_t n_watch_flag_defs = sizeof(watch_flag_defs) / sizeof(watch_flag_defs[0]);

void watch_opts_init(void *opts)
{
    memset(opts, 0, sizeof(watch_opts));
}

/* ---- printing ---- */

static void print_bytes(const printer *p, coord_bytes b)
{
    if (p->hex)
        fmt_hex_escaped(p->out, b.ptr, b.len);
    else if (b.len)
        fwrite(b.ptr, 1, b.len, p->out);
    fputc('\n', p->out);
}

static void print_event(const printer *p, const coord_event *ev)
{
    fputs(ev->type == COORD_EVENT_DELETE ? "DELETE\n" : "PUT\n", p->out);
    if (ev->has_prev_kv) {
        print_bytes(p, ev->prev_kv.key);
        print_bytes(p, ev->prev_kv.value);
    }
    print_bytes(p, ev->kv.key);
    print_bytes(p, ev->kv.value);
}

/* Prints one response as etcdctl does. Returns true when it ended a watch (canceled). */
static bool print_response(const printer *p, const coord_watch_resp *r)
{
    bool ended = false;
    /* The answer to our own cancel (etcd gives its own cancels a reason or a compacted
     * revision) needs no word. */
    bool ours = r->canceled && !r->compact_revision && !(r->cancel_reason && *r->cancel_reason);
    if (r->canceled && !ours) {
        const char *why = r->compact_revision
                              ? "etcdserver: mvcc: required revision has been compacted"
                              : r->cancel_reason;
        fprintf(stderr, "watch was canceled (%s)\n", why && *why ? why : "canceled");
        ended = true;
    } else if (!r->created && !r->canceled && r->n_events == 0) {
        fprintf(p->out, "progress notify: %lld\n", (long long)r->header.revision);
    }
    for (size_t i = 0; i < r->n_events; i++) print_event(p, &r->events[i]);
    fflush(p->out);
    return ended;
}

/* ---- the request of one watch ---- */

/* Fills req from key, optional range_end and the options (etcdctl's rules). The prefix end
 * goes into end_buf (key.len + 1 bytes). */
static int make_request(const watch_opts *o, const char *key, const char *range_end,
                        uint8_t *end_buf, coord_watch_req *req, cli_err *e)
{
    memset(req, 0, sizeof(*req));
    if (o->prefix && range_end)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "`range_end` and `--prefix` are mutually exclusive");
    req->key = coord_str(key);
    if (o->prefix) req->range_end = coord_prefix_end(req->key, end_buf);
    if (range_end) req->range_end = coord_str(range_end);
    req->start_revision = o->rev;
    req->prev_kv = o->prev_kv;
    req->progress_notify = o->progress_notify;
    return CLI_EXIT_OK;
}

static int open_stream(cli_ctx *ctx, coord_client **client, coord_watch_stream **ws, cli_err *e)
{
    int rc = cli_open_client(ctx, NULL, client, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_error err = {0};
    if (coord_watch_open(*client, ws, &err) != COORD_OK) {
        coord_client_destroy(*client);
        return cli_fail(e, CLI_EXIT_BAD_CONNECTION, "%s", err.message);
    }
    return CLI_EXIT_OK;
}

/* Receives and prints until a watch ends (exit 5, as etcdctl) or the stream does. With
 * `until_all_ended`, only once every watch created on the stream has ended. */
static int print_until_end(cli_ctx *ctx, coord_watch_stream *ws, bool interactive, cli_err *e)
{
    size_t live = 0;
    for (;;) {
        coord_watch_resp r;
        coord_error err = {0};
        int rc = coord_watch_recv(ws, -1, &r, &err);
        if (rc != COORD_OK) return cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        if (r.created && !r.canceled) live++;
        bool ended = print_response(&ctx->out, &r);
        coord_watch_resp_free(&r);
        if (ended && !interactive)
            return cli_fail(e, CLI_EXIT_INTERRUPTED, "watch is canceled by the server");
        if (ended && live > 0) live--;
    }
}

/* ---- interactive ---- */

/* Splits line into words at blanks; "double quotes" group. Returns the count (at most max). */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *w = p, *out = p;
        bool quoted = false;
        while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'))) {
            if (*p == '"') {
                quoted = !quoted;
                p++;
                continue;
            }
            *out++ = *p++;
        }
        if (*p) p++;
        *out = '\0';
        words[n++] = w;
    }
    return n;
}

typedef struct stdin_reader {
    cli_ctx *ctx;
    coord_watch_stream *ws;
} stdin_reader;

/* One request line: "watch ...", "progress" or "cancel ID". Returns false when it is not one
 * (the reason is printed). */
static bool run_line(stdin_reader *sr, char *line)
{
    char *w[64];
    int n = split_words(line, w, 64);
    if (n == 0) return true;
    coord_error err = {0};
    int rc = COORD_OK;
    if (strcmp(w[0], "progress") == 0 && n == 1) {
        rc = coord_watch_progress(sr->ws, &err);
    } else if (strcmp(w[0], "cancel") == 0 && n == 2) {
        int64_t id;
        if (parse_int64(w[1], 10, &id) != 0) {
            fprintf(stderr, "Invalid watch id %s\n", w[1]);
            return false;
        }
        rc = coord_watch_cancel(sr->ws, id, &err);
    } else if (strcmp(w[0], "watch") == 0) {
        watch_opts o = {0};
        const char *args[2] = {NULL, NULL};
        int n_args = 0;
        for (int i = 1; i < n; i++) {
            const char *a = w[i];
            if (strcmp(a, "--prefix") == 0) {
                o.prefix = true;
            } else if (strcmp(a, "--prev-kv") == 0) {
                o.prev_kv = true;
            } else if (strcmp(a, "--progress-notify") == 0) {
                o.progress_notify = true;
            } else if (strcmp(a, "--rev") == 0 || strncmp(a, "--rev=", 6) == 0) {
                const char *v = a[5] == '=' ? a + 6 : (i + 1 < n ? w[++i] : "");
                if (parse_int64(v, 0, &o.rev) != 0) {
                    fprintf(stderr, "Invalid revision %s\n", v);
                    return false;
                }
            } else if (a[0] == '-' && a[1] == '-' && a[2]) {
                fprintf(stderr, "Invalid flag %s\n", a);
                return false;
            } else if (n_args < 2) {
                args[n_args++] = a;
            } else {
                fprintf(stderr, "Invalid command %s (too many arguments)\n", line);
                return false;
            }
        }
        if (n_args < 1) {
            fprintf(stderr, "Invalid command %s (a key is needed)\n", line);
            return false;
        }
        uint8_t *end_buf = malloc(strlen(args[0]) + 1);
        if (!end_buf) return false;
        coord_watch_req req;
        cli_err e = {0};
        if (make_request(&o, args[0], args[1], end_buf, &req, &e) != CLI_EXIT_OK) {
            fprintf(stderr, "%s\n", e.message);
            free(end_buf);
            return false;
        }
        rc = coord_watch_create(sr->ws, &req, &err);
        free(end_buf);
    } else {
        fprintf(stderr, "Invalid command %s (only support watch, progress and cancel)\n", w[0]);
        return false;
    }
    if (rc != COORD_OK) fprintf(stderr, "%s\n", err.message);
    return rc == COORD_OK;
}

static void free_line(void *arg)
{
    free(*(char **)arg);
}

/* Reads requests until the input ends (the watches then go on until the command is
 * interrupted) or the thread is canceled, which only happens while it waits for input: a
 * request being sent is never cut short. */
static void *read_stdin(void *arg)
{
    stdin_reader *sr = arg;
    char *line = NULL;
    size_t cap = 0;
    pthread_cleanup_push(free_line, &line);
    while (getline(&line, &cap, sr->ctx->in) >= 0) {
        int was;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &was);
        run_line(sr, line);
        pthread_setcancelstate(was, NULL);
    }
    pthread_cleanup_pop(1);
    return NULL;
}

static int watch_interactive(cli_ctx *ctx, cli_err *e)
{
    coord_client *client;
    coord_watch_stream *ws;
    int rc = open_stream(ctx, &client, &ws, e);
    if (rc != CLI_EXIT_OK) return rc;
    stdin_reader sr = {ctx, ws};
    pthread_t t;
    if (pthread_create(&t, NULL, read_stdin, &sr) != 0) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "cannot start the input reader");
    } else {
        rc = print_until_end(ctx, ws, true, e);
        /* The stream is over: stop the reader (it waits for input, or finishes the request it
         * is sending) before the stream goes. */
        pthread_cancel(t);
        pthread_join(t, NULL);
    }
    coord_watch_close(ws);
    coord_client_destroy(client);
    return rc;
}

/* ---- children of a directory ---- */

/* The children present, sorted, owned. */
typedef struct child_set {
    char **v;
    size_t *len;
    size_t n, cap;
} child_set;

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* Index of name in the set, or -(insertion point) - 1. */
static long set_find(const child_set *s, const char *name, size_t len)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = bytes_cmp(s->v[mid], s->len[mid], name, len);
        if (c == 0) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

static int set_add(child_set *s, const char *name, size_t len, size_t at)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof(*v));
        if (!v) return -1;
        s->v = v;
        size_t *l = realloc(s->len, cap * sizeof(*l));
        if (!l) return -1;
        s->len = l;
        s->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, name, len);
    copy[len] = 0;
    memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
    memmove(s->len + at + 1, s->len + at, (s->n - at) * sizeof(*s->len));
    s->v[at] = copy;
    s->len[at] = len;
    s->n++;
    return 0;
}

static void set_remove(child_set *s, size_t at)
{
    free(s->v[at]);
    memmove(s->v + at, s->v + at + 1, (s->n - at - 1) * sizeof(*s->v));
    memmove(s->len + at, s->len + at + 1, (s->n - at - 1) * sizeof(*s->len));
    s->n--;
}

static void set_free(child_set *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    free(s->len);
}

static void print_child(const printer *p, char sign, const char *name, size_t len)
{
    fprintf(p->out, "%c ", sign);
    print_bytes(p, (coord_bytes){(const uint8_t *)name, len});
}

typedef struct children_watch {
    cli_ctx *ctx;
    coord_client *client;
    const char *dir;
    size_t dir_len;
    child_set present;
    child_set gone; /* children whose keys were deleted in the revision being read */
} children_watch;

/* Does the child have a key, or keys below it, at revision rev? Two reads: the child's own
 * key, then the first key of its "child/" prefix. */
static int child_exists(children_watch *cw, const char *child, size_t len, int64_t rev,
                        bool *exists, coord_error *err)
{
    char *below = malloc(len + 1);
    if (!below) return COORD_RESOURCE_EXHAUSTED;
    memcpy(below, child, len);
    below[len] = '/';
    uint8_t *end = malloc(len + 1);
    if (!end) {
        free(below);
        return COORD_RESOURCE_EXHAUSTED;
    }
    coord_range_req own = {
        .key = {(const uint8_t *)child, len}, .revision = rev, .limit = 1, .keys_only = true};
    coord_range_req sub = own;
    sub.key = (coord_bytes){(const uint8_t *)below, len + 1};
    sub.range_end = coord_prefix_end(sub.key, end);
    *exists = false;
    int rc = COORD_OK;
    for (int i = 0; i < 2 && rc == COORD_OK && !*exists; i++) {
        coord_range_resp r;
        rc = coord_range(cw->client, i == 0 ? &own : &sub, &r, err);
        if (rc == COORD_OK) *exists = r.n_kvs > 0;
        coord_range_resp_free(&r);
    }
    free(end);
    free(below);
    return rc;
}

/* The child a key of the directory belongs to: the directory plus the next path component. */
static bool child_of(const children_watch *cw, coord_bytes key, size_t *child_len)
{
    if (key.len <= cw->dir_len || memcmp(key.ptr, cw->dir, cw->dir_len) != 0) return false;
    const uint8_t *rest = key.ptr + cw->dir_len;
    size_t n = key.len - cw->dir_len;
    const uint8_t *slash = memchr(rest, '/', n);
    *child_len = cw->dir_len + (slash ? (size_t)(slash - rest) : n);
    return true;
}

/* Decides, at the end of revision rev, which children whose keys were deleted are gone. */
static int settle_revision(children_watch *cw, int64_t rev, cli_err *e)
{
    for (size_t i = 0; i < cw->gone.n; i++) {
        bool exists;
        coord_error err = {0};
        int rc = child_exists(cw, cw->gone.v[i], cw->gone.len[i], rev, &exists, &err);
        if (rc != COORD_OK) return cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        long at = set_find(&cw->present, cw->gone.v[i], cw->gone.len[i]);
        if (!exists && at >= 0) {
            print_child(&cw->ctx->out, '-', cw->gone.v[i], cw->gone.len[i]);
            set_remove(&cw->present, (size_t)at);
        }
    }
    while (cw->gone.n) set_remove(&cw->gone, cw->gone.n - 1);
    return CLI_EXIT_OK;
}

static int children_event(children_watch *cw, const coord_event *ev, cli_err *e)
{
    size_t len;
    if (!child_of(cw, ev->kv.key, &len)) return CLI_EXIT_OK;
    const char *child = (const char *)ev->kv.key.ptr;
    long at = set_find(&cw->present, child, len);
    if (ev->type == COORD_EVENT_PUT) {
        if (at < 0) {
            if (set_add(&cw->present, child, len, (size_t)(-at - 1)) != 0)
                return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
            print_child(&cw->ctx->out, '+', child, len);
        }
    } else if (at >= 0) {
        long g = set_find(&cw->gone, child, len);
        if (g < 0 && set_add(&cw->gone, child, len, (size_t)(-g - 1)) != 0)
            return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    }
    return CLI_EXIT_OK;
}

static int list_present(children_watch *cw, int64_t *rev, cli_err *e)
{
    coord_bytes after = {NULL, 0};
    *rev = 0;
    for (;;) {
        coord_list_req req = {.dir = {(const uint8_t *)cw->dir, cw->dir_len},
                              .revision = *rev,
                              .limit = 1000,
                              .after = after,
                              .keys_only = true};
        coord_list_resp page;
        coord_error err = {0};
        if (coord_list(cw->client, &req, &page, &err) != COORD_OK)
            return cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        if (*rev == 0) *rev = page.header.revision;
        for (size_t i = 0; i < page.n_children; i++) {
            coord_bytes k = page.children[i].key;
            long at = set_find(&cw->present, (const char *)k.ptr, k.len);
            if (at < 0 && set_add(&cw->present, (const char *)k.ptr, k.len, (size_t)(-at - 1))) {
                coord_list_resp_free(&page);
                return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
            }
            print_child(&cw->ctx->out, '+', (const char *)k.ptr, k.len);
        }
        bool more = page.more && page.n_children > 0;
        /* The next page starts after this one's last child, kept in the set. */
        if (more) {
            coord_bytes last = page.children[page.n_children - 1].key;
            long at = set_find(&cw->present, (const char *)last.ptr, last.len);
            after = (coord_bytes){(const uint8_t *)cw->present.v[at], cw->present.len[at]};
        }
        coord_list_resp_free(&page);
        if (!more) break;
    }
    fflush(cw->ctx->out.out);
    return CLI_EXIT_OK;
}

static int watch_children(cli_ctx *ctx, const char *dir_arg, cli_err *e)
{
    size_t n = strlen(dir_arg);
    char *dir = malloc(n + 2);
    if (!dir) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    memcpy(dir, dir_arg, n + 1);
    if (n == 0 || dir[n - 1] != '/') dir[n++] = '/', dir[n] = 0;
    children_watch cw = {.ctx = ctx, .dir = dir, .dir_len = n};
    coord_watch_stream *ws = NULL;
    int rc = open_stream(ctx, &cw.client, &ws, e);
    if (rc != CLI_EXIT_OK) goto done_free_dir;
    int64_t rev;
    rc = list_present(&cw, &rev, e);
    if (rc != CLI_EXIT_OK) goto done_close;
    uint8_t end_buf[4096];
    uint8_t *end = n + 1 <= sizeof(end_buf) ? end_buf : malloc(n + 1);
    if (!end) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        goto done_close;
    }
    coord_watch_req req = {.key = {(const uint8_t *)dir, n}, .start_revision = rev + 1};
    req.range_end = coord_prefix_end(req.key, end);
    coord_error err = {0};
    rc = coord_watch_create(ws, &req, &err);
    if (end != end_buf) free(end);
    if (rc != COORD_OK) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        goto done_close;
    }
    for (;;) {
        coord_watch_resp r;
        if (coord_watch_recv(ws, -1, &r, &err) != COORD_OK) {
            rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
            break;
        }
        if (r.canceled) {
            print_response(&ctx->out, &r);
            coord_watch_resp_free(&r);
            rc = cli_fail(e, CLI_EXIT_INTERRUPTED, "watch is canceled by the server");
            break;
        }
        rc = CLI_EXIT_OK;
        for (size_t i = 0; i < r.n_events && rc == CLI_EXIT_OK; i++) {
            rc = children_event(&cw, &r.events[i], e);
            bool last_of_rev = i + 1 == r.n_events ||
                               r.events[i + 1].kv.mod_revision != r.events[i].kv.mod_revision;
            if (rc == CLI_EXIT_OK && last_of_rev)
                rc = settle_revision(&cw, r.events[i].kv.mod_revision, e);
        }
        fflush(ctx->out.out);
        coord_watch_resp_free(&r);
        if (rc != CLI_EXIT_OK) break;
    }
done_close:
    coord_watch_close(ws);
    coord_client_destroy(cw.client);
    set_free(&cw.present);
    set_free(&cw.gone);
done_free_dir:
    free(dir);
    return rc;
}

/* ---- the command ---- */

int cmd_watch(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const watch_opts *o = opts;
    if (ctx->out.format != CLI_FORMAT_SIMPLE)
        return cli_fail(e, CLI_EXIT_BAD_FEATURE, "watch prints the simple output format only");
    if (o->interactive) {
        if (n_pos != 0)
            return cli_fail(e, CLI_EXIT_BAD_ARGS, "watch -i takes its requests on stdin");
        return watch_interactive(ctx, e);
    }
    if (o->children) {
        if (n_pos != 1)
            return cli_fail(e, CLI_EXIT_BAD_ARGS, "watch --children needs one argument: <dir>");
        return watch_children(ctx, pos[0], e);
    }
    if (n_pos < 1 || n_pos > 2)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "bad number of arguments (running a command on "
                        "each event is not supported)");
    uint8_t *end_buf = malloc(strlen(pos[0]) + 1);
    if (!end_buf) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    coord_watch_req req;
    int rc = make_request(o, pos[0], n_pos == 2 ? pos[1] : NULL, end_buf, &req, e);
    coord_client *client = NULL;
    coord_watch_stream *ws = NULL;
    if (rc == CLI_EXIT_OK) rc = open_stream(ctx, &client, &ws, e);
    if (rc == CLI_EXIT_OK) {
        coord_error err = {0};
        if (coord_watch_create(ws, &req, &err) != COORD_OK)
            rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        else
            rc = print_until_end(ctx, ws, false, e);
        coord_watch_close(ws);
        coord_client_destroy(client);
    }
    free(end_buf);
    return rc;
}
