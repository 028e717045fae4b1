/* member add|remove|promote|update, move-leader: membership changes, printed as etcdctl prints
 * them. */
#include "cmd_member.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const flag_def member_add_flag_defs[] = {
    {"peer-urls", 0, FLAG_STRING, offsetof(member_opts, peer_urls), "\"\"",
     "comma separated peer URLs for the new member."},
    {"learner", 0, FLAG_BOOL, offsetof(member_opts, learner), "false",
     "indicates if the new member is raft learner"},
    {"promote-when-caught-up", 0, FLAG_BOOL, offsetof(member_opts, promote_when_caught_up), "false",
     "with --learner: the leader promotes the learner itself once it has caught up"},
};
const size_t n_member_add_flag_defs =
    sizeof(member_add_flag_defs) / sizeof(member_add_flag_defs[0]);

const flag_def member_update_flag_defs[] = {
    {"peer-urls", 0, FLAG_STRING, offsetof(member_opts, peer_urls), "\"\"",
     "comma separated peer URLs for the updated member."},
};
const size_t n_member_update_flag_defs = 1;

/* --peer-urls split at commas, in the command's pool. */
static int split_urls(cli_ctx *ctx, const char *csv, const char ***out, size_t *n, cli_err *e)
{
    if (!csv || !*csv) return cli_fail(e, CLI_EXIT_ERROR, "member peer urls not provided");
    size_t cap = 1;
    for (const char *p = csv; *p; p++) cap += *p == ',';
    const char **list = cli_pool_alloc(&ctx->pool, cap * sizeof(*list));
    char *copy = cli_pool_strndup(&ctx->pool, csv, strlen(csv));
    if (!list || !copy) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    size_t k = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) list[k++] = t;
    if (k == 0) return cli_fail(e, CLI_EXIT_ERROR, "member peer urls not provided");
    *out = list;
    *n = k;
    return CLI_EXIT_OK;
}

static int parse_id(const char *s, uint64_t *id, cli_err *e)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 16);
    if (!*s || *end)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "bad member ID arg (%s), expecting ID in Hex", s);
    *id = v;
    return CLI_EXIT_OK;
}

int cmd_member_add(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    member_opts *o = opts;
    if (n_pos != 1) return cli_fail(e, CLI_EXIT_BAD_ARGS, "member name not provided");
    if (o->promote_when_caught_up && !o->learner)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--promote-when-caught-up needs --learner");
    const char **urls;
    size_t n;
    int rc = split_urls(ctx, o->peer_urls, &urls, &n, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_client *c;
    if ((rc = cli_open_client(ctx, NULL, &c, e)) != CLI_EXIT_OK) return rc;
    coord_member_list_resp resp;
    coord_error err = {0};
    uint64_t id = 0;
    if (coord_member_add(c, urls, n, o->learner, o->promote_when_caught_up, &id, &resp, &err) !=
        COORD_OK) {
        rc = cli_fail_rpc(e, &err);
    } else {
        FILE *f = ctx->out.out;
        /* etcdctl pads IDs with spaces (%16x), not zeros. */
        fprintf(f, "Member %16" PRIx64 " added to cluster %16" PRIx64 "\n", id,
                resp.header.cluster_id);
        /* What the new member needs to be started with, as etcdctl prints it. */
        fprintf(f, "\nETCD_NAME=\"%s\"\nETCD_INITIAL_CLUSTER=\"", pos[0]);
        const char *sep = "";
        for (size_t i = 0; i < resp.n_members; i++) {
            const coord_member *m = &resp.members[i];
            const char *name = m->id == id ? pos[0] : m->name;
            for (size_t j = 0; j < m->n_peer_urls; j++, sep = ",")
                fprintf(f, "%s%s=%s", sep, name, m->peer_urls[j]);
        }
        fprintf(f,
                "\"\nETCD_INITIAL_ADVERTISE_PEER_URLS=\"%s\"\nETCD_INITIAL_CLUSTER_STATE="
                "\"existing\"\n",
                o->peer_urls);
    }
    coord_member_list_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

/* remove, promote and update: one ID, one line of output. */
static int member_change(cli_ctx *ctx, member_opts *o, int n_pos, char **pos, cli_err *e,
                         const char *verb)
{
    if (n_pos != 1) return cli_fail(e, CLI_EXIT_BAD_ARGS, "member ID is not provided");
    uint64_t id = 0;
    int rc = parse_id(pos[0], &id, e);
    if (rc != CLI_EXIT_OK) return rc;
    const char **urls = NULL;
    size_t n = 0;
    if (strcmp(verb, "updated") == 0 &&
        (rc = split_urls(ctx, o->peer_urls, &urls, &n, e)) != CLI_EXIT_OK)
        return rc;
    coord_client *c;
    if ((rc = cli_open_client(ctx, NULL, &c, e)) != CLI_EXIT_OK) return rc;
    coord_member_list_resp resp;
    coord_error err = {0};
    int code;
    if (strcmp(verb, "removed from") == 0)
        code = coord_member_remove(c, id, &resp, &err);
    else if (strcmp(verb, "promoted in") == 0)
        code = coord_member_promote(c, id, &resp, &err);
    else
        code = coord_member_update(c, id, urls, n, &resp, &err);
    if (code != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else
        fprintf(ctx->out.out, "Member %16" PRIx64 " %s cluster %16" PRIx64 "\n", id,
                strcmp(verb, "updated") == 0 ? "updated in" : verb, resp.header.cluster_id);
    coord_member_list_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

int cmd_member_remove(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    return member_change(ctx, opts, n_pos, pos, e, "removed from");
}

int cmd_member_promote(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    return member_change(ctx, opts, n_pos, pos, e, "promoted in");
}

int cmd_member_update(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    return member_change(ctx, opts, n_pos, pos, e, "updated");
}
