/* put, get, del, txn and compaction. */
#include "commands.h"
#include "kvops.h"
#include "textfmt.h"
#include "txn_parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

static int printed(int rc, cli_err *e)
{
    return rc == 0 ? CLI_EXIT_OK : cli_fail(e, CLI_EXIT_ERROR, "cannot format the output");
}

int cmd_put(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    coord_put_req req;
    int rc = build_put(opts, n_pos, pos, ctx->in, &ctx->pool, &req, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_client *c;
    rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_put_resp resp;
    coord_error err = {0};
    if (coord_put(c, &req, &resp, &err) != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else
        rc = printed(print_put(&ctx->out, &resp), e);
    coord_put_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

int cmd_get(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const get_opts *o = opts;
    coord_range_req req;
    int rc = build_get(o, n_pos, pos, &ctx->pool, &req, e);
    if (rc != CLI_EXIT_OK) return rc;
    if (o->print_value_only && ctx->out.format != CLI_FORMAT_SIMPLE)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "print-value-only is only for `--write-out=simple`");
    ctx->out.value_only = o->print_value_only;
    ctx->out.count_only = o->count_only;
    coord_client *c;
    rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_range_resp resp;
    coord_error err = {0};
    if (coord_range(c, &req, &resp, &err) != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else
        rc = printed(print_range(&ctx->out, &resp), e);
    coord_range_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

int cmd_del(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    coord_delete_req req;
    int rc = build_del(opts, n_pos, pos, &ctx->pool, &req, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_client *c;
    rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_delete_resp resp;
    coord_error err = {0};
    if (coord_delete(c, &req, &resp, &err) != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else
        rc = printed(print_delete(&ctx->out, &resp), e);
    coord_delete_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

int cmd_txn(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const txn_opts *o = opts;
    (void)pos;
    if (n_pos != 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "txn command does not accept argument");
    coord_txn_req req;
    int rc = txn_parse(ctx->in, o->interactive ? ctx->out.out : NULL, &ctx->pool, &req, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_client *c;
    rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_txn_resp resp;
    coord_error err = {0};
    if (coord_txn(c, &req, &resp, &err) != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else
        rc = printed(print_txn(&ctx->out, &resp), e);
    coord_txn_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

/* A decimal integer too big for int64 (etcdctl tells it from bad syntax). */
static bool all_digits(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

int cmd_compaction(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const compaction_opts *o = opts;
    if (n_pos != 1) return cli_fail(e, CLI_EXIT_BAD_ARGS, "compaction command needs 1 argument");
    int64_t rev;
    if (parse_int64(pos[0], 10, &rev) != 0)
        return cli_fail(e, CLI_EXIT_ERROR, "strconv.ParseInt: parsing \"%s\": %s", pos[0],
                        all_digits(pos[0]) ? "value out of range" : "invalid syntax");
    coord_client *c;
    int rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_error err = {0};
    if (coord_compact(c, rev, o->physical, NULL, &err) != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else
        fprintf(ctx->out.out, "compacted revision %" PRId64 "\n", rev);
    coord_client_destroy(c);
    return rc;
}
