/* lease grant|revoke|timetolive|list|keep-alive, and register: etcdctl's lease commands with
 * its output in the simple, json and fields formats, and coord's service registration. */
#include "lease.h"
#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <nettle/base64.h>
#include <stdlib.h>
#include <string.h>

const flag_def lease_ttl_flag_defs[] = {
    {"keys", 0, FLAG_BOOL, offsetof(lease_opts, keys), "false", "Get keys attached to this lease"},
};
const size_t n_lease_ttl_flag_defs = 1;

const flag_def lease_keepalive_flag_defs[] = {
    {"once", 0, FLAG_BOOL, offsetof(lease_opts, once), "false",
     "Resets the keep-alive time to its original value and exits immediately"},
};
const size_t n_lease_keepalive_flag_defs = 1;

const flag_def lease_session_flag_defs[] = {
    {"ttl", 0, FLAG_INT64, offsetof(lease_opts, ttl), "10", "timeout for session"},
};
const size_t n_lease_session_flag_defs = 1;

void lease_opts_init(void *opts)
{
    lease_opts *o = opts;
    o->ttl = 10;
}

/* --- output ---------------------------------------------------------------------------- */

static void json_header(FILE *f, const coord_header *h)
{
    /* Go's omitempty: zero fields are left out. */
    const char *sep = "";
    if (h->cluster_id) fprintf(f, "%s\"cluster_id\":%" PRIu64, sep, h->cluster_id), sep = ",";
    if (h->member_id) fprintf(f, "%s\"member_id\":%" PRIu64, sep, h->member_id), sep = ",";
    if (h->revision) fprintf(f, "%s\"revision\":%" PRId64, sep, h->revision), sep = ",";
    if (h->raft_term) fprintf(f, "%s\"raft_term\":%" PRIu64, sep, h->raft_term);
}

static void fields_header(FILE *f, const coord_header *h)
{
    fprintf(f,
            "\"ClusterID\" : %" PRIu64 "\n\"MemberID\" : %" PRIu64 "\n\"Revision\" : %" PRId64
            "\n\"RaftTerm\" : %" PRIu64 "\n",
            h->cluster_id, h->member_id, h->revision, h->raft_term);
}

static int json_base64(FILE *f, coord_bytes b)
{
    char *enc = malloc(BASE64_ENCODE_RAW_LENGTH(b.len) + 1);
    if (!enc) return -1;
    base64_encode_raw(enc, b.len, b.ptr ? b.ptr : (const uint8_t *)"");
    fprintf(f, "\"%.*s\"", (int)BASE64_ENCODE_RAW_LENGTH(b.len), enc);
    free(enc);
    return 0;
}

/* A Go %q-free rendering of a key for the fields format: printable ASCII as is, the rest
 * escaped. */
static void fields_quoted(FILE *f, coord_bytes b)
{
    fputc('"', f);
    for (size_t i = 0; i < b.len; i++) {
        uint8_t ch = b.ptr[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            fputc(ch, f);
        else
            fprintf(f, "\\x%02x", ch);
    }
    fputc('"', f);
}

/* --- arguments ------------------------------------------------------------------------- */

static int parse_lease_id(const char *s, int64_t *id, cli_err *e)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 16);
    if (errno || !*s || *end)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "bad lease ID arg (strconv.ParseInt: parsing \"%s\": %s), expecting ID "
                        "in Hex",
                        s, errno == ERANGE ? "value out of range" : "invalid syntax");
    *id = v;
    return CLI_EXIT_OK;
}

static int open_client(cli_ctx *ctx, coord_client **c, cli_err *e)
{
    return cli_open_client(ctx, NULL, c, e);
}

/* --- commands -------------------------------------------------------------------------- */

int cmd_lease_grant(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts;
    if (n_pos != 1) return cli_fail(e, CLI_EXIT_BAD_ARGS, "lease grant command needs TTL argument");
    char *end;
    errno = 0;
    long long ttl = strtoll(pos[0], &end, 10);
    if (errno || !*pos[0] || *end)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "bad TTL (strconv.ParseInt: parsing \"%s\": invalid syntax)", pos[0]);
    coord_client *c;
    int rc = open_client(ctx, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_lease_grant_resp r;
    coord_error err = {0};
    if (coord_lease_grant(c, ttl, 0, &r, &err) != COORD_OK) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "failed to grant lease (%s)", err.message);
    } else {
        FILE *f = ctx->out.out;
        if (ctx->out.format == CLI_FORMAT_JSON) {
            fputc('{', f);
            json_header(f, &r.header);
            fprintf(f, ",\"ID\":%" PRId64 ",\"TTL\":%" PRId64 ",\"Error\":\"\"}\n", r.id, r.ttl);
        } else if (ctx->out.format == CLI_FORMAT_FIELDS) {
            fields_header(f, &r.header);
            fprintf(f, "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", r.id, r.ttl);
        } else {
            fprintf(f, "lease %016" PRIx64 " granted with TTL(%" PRId64 "s)\n", (uint64_t)r.id,
                    r.ttl);
        }
    }
    coord_client_destroy(c);
    return rc;
}

int cmd_lease_revoke(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts;
    if (n_pos != 1) return cli_fail(e, CLI_EXIT_BAD_ARGS, "lease revoke command needs 1 argument");
    int64_t id = 0;
    int rc = parse_lease_id(pos[0], &id, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_client *c;
    if ((rc = open_client(ctx, &c, e)) != CLI_EXIT_OK) return rc;
    coord_header h;
    coord_error err = {0};
    if (coord_lease_revoke(c, id, &h, &err) != COORD_OK) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "failed to revoke lease (%s)", err.message);
    } else {
        FILE *f = ctx->out.out;
        if (ctx->out.format == CLI_FORMAT_JSON) {
            fputs("{\"header\":{", f);
            json_header(f, &h);
            fputs("}}\n", f);
        } else if (ctx->out.format == CLI_FORMAT_FIELDS) {
            fields_header(f, &h);
        } else {
            fprintf(f, "lease %016" PRIx64 " revoked\n", (uint64_t)id);
        }
    }
    coord_client_destroy(c);
    return rc;
}

static int print_ttl(const printer *p, const coord_lease_ttl_resp *r, bool keys)
{
    FILE *f = p->out;
    if (p->format == CLI_FORMAT_JSON) {
        fputc('{', f);
        json_header(f, &r->header);
        fprintf(f, ",\"id\":%" PRId64 ",\"ttl\":%" PRId64 ",\"granted-ttl\":%" PRId64 ",\"keys\":",
                r->id, r->ttl, r->granted_ttl);
        if (!r->n_keys) {
            fputs("null", f);
        } else {
            fputc('[', f);
            for (size_t i = 0; i < r->n_keys; i++) {
                if (i) fputc(',', f);
                if (json_base64(f, r->keys[i]) != 0) return -1;
            }
            fputc(']', f);
        }
        fputs("}\n", f);
    } else if (p->format == CLI_FORMAT_FIELDS) {
        fields_header(f, &r->header);
        fprintf(f, "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n\"GrantedTTL\" : %" PRId64 "\n",
                r->id, r->ttl, r->granted_ttl);
        for (size_t i = 0; i < r->n_keys; i++) {
            fputs("\"Key\" : ", f);
            fields_quoted(f, r->keys[i]);
            fputc('\n', f);
        }
    } else if (r->granted_ttl == 0 && r->ttl == -1) {
        fprintf(f, "lease %016" PRIx64 " already expired\n", (uint64_t)r->id);
    } else {
        fprintf(f, "lease %016" PRIx64 " granted with TTL(%" PRId64 "s), remaining(%" PRId64 "s)",
                (uint64_t)r->id, r->granted_ttl, r->ttl);
        if (keys) {
            fputs(", attached keys([", f);
            for (size_t i = 0; i < r->n_keys; i++) {
                if (i) fputc(' ', f);
                fwrite(r->keys[i].ptr, 1, r->keys[i].len, f);
            }
            fputs("])", f);
        }
        fputc('\n', f);
    }
    return 0;
}

int cmd_lease_timetolive(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const lease_opts *o = opts;
    if (n_pos != 1)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "lease timetolive command needs lease ID as argument");
    int64_t id = 0;
    int rc = parse_lease_id(pos[0], &id, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_client *c;
    if ((rc = open_client(ctx, &c, e)) != CLI_EXIT_OK) return rc;
    coord_lease_ttl_resp r;
    coord_error err = {0};
    if (coord_lease_time_to_live(c, id, o->keys, &r, &err) != COORD_OK)
        rc = cli_fail(e, CLI_EXIT_BAD_CONNECTION, "%s", err.message);
    else if (print_ttl(&ctx->out, &r, o->keys) != 0)
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    coord_lease_ttl_resp_free(&r);
    coord_client_destroy(c);
    return rc;
}

int cmd_lease_list(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts;
    (void)pos;
    if (n_pos != 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "lease list takes no arguments");
    coord_client *c;
    int rc = open_client(ctx, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_lease_list_resp r;
    coord_error err = {0};
    if (coord_lease_list(c, &r, &err) != COORD_OK) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "failed to list leases (%s)", err.message);
    } else {
        FILE *f = ctx->out.out;
        if (ctx->out.format == CLI_FORMAT_JSON) {
            fputc('{', f);
            json_header(f, &r.header);
            fputs(",\"leases\":[", f);
            for (size_t i = 0; i < r.n_ids; i++)
                fprintf(f, "%s{\"id\":%" PRId64 "}", i ? "," : "", r.ids[i]);
            fputs("]}\n", f);
        } else if (ctx->out.format == CLI_FORMAT_FIELDS) {
            fields_header(f, &r.header);
            for (size_t i = 0; i < r.n_ids; i++) fprintf(f, "\"ID\" : %" PRId64 "\n", r.ids[i]);
        } else {
            fprintf(f, "found %zu leases\n", r.n_ids);
            for (size_t i = 0; i < r.n_ids; i++) fprintf(f, "%016" PRIx64 "\n", (uint64_t)r.ids[i]);
        }
    }
    coord_lease_list_resp_free(&r);
    coord_client_destroy(c);
    return rc;
}

static void print_keepalive(const printer *p, const coord_header *h, int64_t id, int64_t ttl)
{
    FILE *f = p->out;
    if (p->format == CLI_FORMAT_JSON) {
        fputc('{', f);
        json_header(f, h);
        fprintf(f, ",\"ID\":%" PRId64 ",\"TTL\":%" PRId64 "}\n", id, ttl);
    } else if (p->format == CLI_FORMAT_FIELDS) {
        fields_header(f, h);
        fprintf(f, "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", id, ttl);
    } else {
        fprintf(f, "lease %016" PRIx64 " keepalived with TTL(%" PRId64 ")\n", (uint64_t)id, ttl);
    }
    fflush(f);
}

int cmd_lease_keepalive(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const lease_opts *o = opts;
    if (n_pos != 1)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "lease keep-alive command needs lease ID as argument");
    int64_t id = 0;
    int rc = parse_lease_id(pos[0], &id, e);
    if (rc != CLI_EXIT_OK) return rc;
    session_block_signals();
    coord_client *c;
    if ((rc = open_client(ctx, &c, e)) != CLI_EXIT_OK) return rc;
    coord_keepalive *k = NULL;
    for (;;) {
        coord_error err = {0};
        coord_header h = {0};
        int64_t ttl = 0;
        int crc = k ? COORD_OK : coord_keepalive_open(c, &k, &err);
        if (crc == COORD_OK) crc = coord_keepalive_renew(k, id, &ttl, &h, &err);
        if (o->once) {
            if (crc != COORD_OK)
                rc = cli_fail(e, CLI_EXIT_BAD_CONNECTION, "%s", err.message);
            else if (ttl == 0)
                rc = cli_fail(e, CLI_EXIT_BAD_CONNECTION, "etcdserver: requested lease not found");
            else
                print_keepalive(&ctx->out, &h, id, ttl);
            break;
        }
        int64_t wait_ms = 500;
        if (crc == COORD_OK && ttl == 0) {
            if (ctx->out.format == CLI_FORMAT_SIMPLE)
                fprintf(ctx->out.out, "lease %016" PRIx64 " expired or revoked.\n", (uint64_t)id);
            break;
        }
        if (crc == COORD_OK) {
            print_keepalive(&ctx->out, &h, id, ttl);
            wait_ms = ttl * 1000 / 3;
        } else {
            coord_keepalive_close(k);
            k = NULL;
        }
        if (session_wait_signal(wait_ms)) break;
    }
    coord_keepalive_close(k);
    coord_client_destroy(c);
    return rc;
}

/* register DIR NAME VALUE: DIR/NAME = VALUE under a lease kept alive until a signal; if the
 * lease is lost (the server was away longer than the TTL), the key is registered again under
 * a new one. On SIGINT or SIGTERM the lease is revoked, which deletes the key. */
int cmd_register(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const lease_opts *o = opts;
    if (n_pos != 3)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "register takes a directory, a name and a value: register DIR NAME VALUE");
    if (o->ttl <= 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "--ttl must be a positive number");
    size_t dl = strlen(pos[0]);
    while (dl > 1 && pos[0][dl - 1] == '/') dl--;
    size_t kl = dl + 1 + strlen(pos[1]);
    char *key = cli_pool_alloc(&ctx->pool, kl + 1);
    if (!key) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    snprintf(key, kl + 1, "%.*s/%s", (int)dl, pos[0], pos[1]);
    if (dl == 1 && pos[0][0] == '/') snprintf(key, kl + 1, "/%s", pos[1]);
    session_block_signals();
    coord_client *c;
    int rc = open_client(ctx, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    cli_session *s = NULL;
    bool first = true;
    for (;;) {
        coord_error err = {0};
        rc = session_start(c, 0, o->ttl, &s, e);
        if (rc == CLI_EXIT_OK) {
            coord_put_req put = {
                .key = coord_str(key), .value = coord_str(pos[2]), .lease = session_lease(s)};
            coord_put_resp pr;
            if (coord_put(c, &put, &pr, &err) != COORD_OK)
                rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
            coord_put_resp_free(&pr);
        }
        if (rc == CLI_EXIT_OK) {
            fprintf(ctx->out.out, "%s %s under lease %016" PRIx64 " (TTL %" PRId64 "s)\n",
                    first ? "registered" : "registered again", key, (uint64_t)session_lease(s),
                    session_ttl(s));
            fflush(ctx->out.out);
            first = false;
            int sig = 0;
            while (!session_lost(s) && !(sig = session_wait_signal(100))) {
            }
            if (sig) break;
            fprintf(stderr, "coordctl: the lease of %s was lost; registering again\n", key);
        } else if (first) {
            break; /* nothing registered yet: report why */
        } else {
            fprintf(stderr, "coordctl: %s; trying again\n", e->message);
            *e = (cli_err){0};
        }
        session_end(s, true);
        s = NULL;
        if (!first && session_wait_signal(rc == CLI_EXIT_OK ? 0 : 1000)) {
            rc = CLI_EXIT_OK;
            break;
        }
    }
    /* Revoking deletes the key at once, instead of when the TTL runs out. */
    session_end(s, true);
    coord_client_destroy(c);
    return rc;
}
