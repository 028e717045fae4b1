/* ls: a directory's children through coordpb.Coord/List, page by page, all at the revision
 * of the first page, so a listing is one consistent picture even while keys change. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>

const flag_def ls_flag_defs[] = {
    {"recursive", 'r', FLAG_BOOL, offsetof(ls_opts, recursive), "false",
     "list the whole tree below <dir>"},
    {"rev", 0, FLAG_INT64, offsetof(ls_opts, rev), "0", "list the tree as it was at this revision"},
    {"consistency", 0, FLAG_STRING, offsetof(ls_opts, consistency), "\"l\"",
     "Linearizable(l) or Serializable(s)"},
    {"page-size", 0, FLAG_INT64, offsetof(ls_opts, page_size), "1000",
     "children fetched per request"},
    {"keys-only", 0, FLAG_BOOL, offsetof(ls_opts, keys_only), "false",
     "fetch the children's keys without their values (json and fields output)"},
};
const size_t n_ls_flag_defs = sizeof(ls_flag_defs) / sizeof(ls_flag_defs[0]);

void ls_opts_init(void *opts)
{
    ls_opts *o = opts;
    o->consistency = "l";
    o->page_size = 1000;
}

/* Every page fetched (their memory) and the children in print order. */
typedef struct listing {
    coord_client *client;
    const ls_opts *opts;
    bool serializable;
    int64_t revision; /* --rev, or the first page's revision once it is known */
    coord_header header;
    coord_list_resp *pages;
    size_t n_pages, cap_pages;
    const coord_child **children;
    size_t n_children, cap_children;
} listing;

static int keep_page(listing *l, const coord_list_resp *page)
{
    if (l->n_pages == l->cap_pages) {
        size_t cap = l->cap_pages ? l->cap_pages * 2 : 8;
        coord_list_resp *bigger = realloc(l->pages, cap * sizeof(*bigger));
        if (!bigger) return -1;
        l->pages = bigger;
        l->cap_pages = cap;
    }
    l->pages[l->n_pages++] = *page;
    return 0;
}

static int add_child(listing *l, const coord_child *c)
{
    if (l->n_children == l->cap_children) {
        size_t cap = l->cap_children ? l->cap_children * 2 : 64;
        const coord_child **bigger = realloc(l->children, cap * sizeof(*bigger));
        if (!bigger) return -1;
        l->children = bigger;
        l->cap_children = cap;
    }
    l->children[l->n_children++] = c;
    return 0;
}

/* Lists dir, page after page; with --recursive each child with descendants is followed
 * by its own listing, depth first. */
static int list_dir(listing *l, coord_bytes dir, int depth, coord_error *err)
{
    if (depth > 4096) {
        snprintf(err->message, sizeof(err->message), "directory tree too deep");
        err->code = COORD_OUT_OF_RANGE;
        return err->code;
    }
    coord_bytes after = {NULL, 0};
    for (;;) {
        coord_list_req req = {
            .dir = dir,
            .revision = l->revision,
            .limit = l->opts->page_size > 0 ? l->opts->page_size : 0,
            .after = after,
            .serializable = l->serializable,
            .keys_only = l->opts->keys_only,
        };
        coord_list_resp page;
        int rc = coord_list(l->client, &req, &page, err);
        if (rc != COORD_OK) return rc;
        if (keep_page(l, &page) != 0) {
            coord_list_resp_free(&page);
            snprintf(err->message, sizeof(err->message), "out of memory");
            return err->code = COORD_RESOURCE_EXHAUSTED;
        }
        if (l->n_pages == 1) {
            l->header = page.header;
            if (l->revision <= 0) l->revision = page.header.revision;
        }
        for (size_t i = 0; i < page.n_children; i++) {
            const coord_child *c = &page.children[i];
            if (add_child(l, c) != 0) {
                snprintf(err->message, sizeof(err->message), "out of memory");
                return err->code = COORD_RESOURCE_EXHAUSTED;
            }
            if (l->opts->recursive && c->has_children) {
                rc = list_dir(l, c->key, depth + 1, err);
                if (rc != COORD_OK) return rc;
            }
        }
        /* A page with nothing in it cannot move `after` on: stop rather than loop. */
        if (!page.more || page.n_children == 0) return COORD_OK;
        after = page.children[page.n_children - 1].key;
    }
}

int cmd_ls(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const ls_opts *o = opts;
    if (n_pos != 1)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "ls command needs one argument as the directory");
    if (strcmp(o->consistency, "s") != 0 && strcmp(o->consistency, "l") != 0)
        return cli_fail(e, CLI_EXIT_BAD_FEATURE, "unknown consistency flag \"%s\"", o->consistency);
    listing l = {.opts = o, .serializable = o->consistency[0] == 's', .revision = o->rev};
    int rc = cli_open_client(ctx, NULL, &l.client, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_error err = {0};
    if (list_dir(&l, coord_str(pos[0]), 0, &err) != COORD_OK) {
        rc = cli_fail_rpc(e, &err);
    } else {
        ls_result r = {l.header, l.children, l.n_children};
        if (print_ls(&ctx->out, &r) != 0)
            rc = cli_fail(e, CLI_EXIT_ERROR, "cannot format the output");
    }
    for (size_t i = 0; i < l.n_pages; i++) coord_list_resp_free(&l.pages[i]);
    free(l.pages);
    free(l.children);
    coord_client_destroy(l.client);
    return rc;
}
