#include "commands.h"

#include "cmd_member.h"

#include "kvops.h"
#include "lease.h"
#include "watch.h"

#include <stdlib.h>
#include <string.h>

#ifndef COORDCTL_VERSION
#define COORDCTL_VERSION "0.0.0"
#endif

const flag_def cli_global_flags[] = {
    {"endpoints", 0, FLAG_STRING, offsetof(cli_globals, endpoints_csv), "[127.0.0.1:2379]",
     "gRPC endpoints, comma-separated"},
    {"dial-timeout", 0, FLAG_DURATION, offsetof(cli_globals, dial_timeout_ms), "2s",
     "how long to wait for a connection to one endpoint"},
    {"command-timeout", 0, FLAG_DURATION, offsetof(cli_globals, command_timeout_ms), "5s",
     "how long one request may take, failover and retries included"},
    {"write-out", 'w', FLAG_STRING, offsetof(cli_globals, write_out), "\"simple\"",
     "output format (simple, json, fields)"},
    {"hex", 0, FLAG_BOOL, offsetof(cli_globals, hex), "false",
     "print keys and values as hex escapes (\\x..)"},
    {"help", 'h', FLAG_BOOL, offsetof(cli_globals, help), "false", "help for coordctl"},
};
const size_t cli_n_global_flags = sizeof(cli_global_flags) / sizeof(cli_global_flags[0]);

static const flag_def txn_flag_defs[] = {
    {"interactive", 'i', FLAG_BOOL, offsetof(txn_opts, interactive), "false",
     "prompt for each part of the transaction"},
};
static const size_t n_txn_flag_defs = 1;
static const size_t no_flags = 0;

static const flag_def compaction_flag_defs[] = {
    {"physical", 0, FLAG_BOOL, offsetof(compaction_opts, physical), "false",
     "'true' to wait until the old revisions are physically removed"},
};
static const size_t n_compaction_flag_defs = 1;

static void put_init(void *o)
{
    put_opts_init(o);
}

static void get_init(void *o)
{
    get_opts_init(o);
}

static void del_init(void *o)
{
    del_opts_init(o);
}

static void zero_init(void *o)
{
    (void)o; /* the options struct is zeroed before this runs */
}

#define FLAGS(t) t, &n_##t
#define NO_FLAGS NULL, &no_flags

const command cli_commands[] = {
    {"bench put", "bench put [options]", "Measures the throughput and latency of puts",
     "Runs --total puts from --clients threads sharing --conns gRPC connections, each put\n"
     "timed, and prints a summary (ops/s, latency percentiles, errors). Keys are\n"
     "--key-size digits (after --key-prefix) drawn from --key-space-size distinct keys (at\n"
     "random, or in order with --sequential-keys); values are --val-size bytes.",
     FLAGS(bench_put_flag_defs), sizeof(bench_opts), bench_opts_init, cmd_bench_put},
    {"bench range", "bench range [options] <key> [range_end]",
     "Measures the throughput and latency of ranges",
     "Runs --total ranges of <key> (or of [key, range_end), or of a prefix with --prefix)\n"
     "from --clients threads sharing --conns gRPC connections, each range timed, and\n"
     "prints a summary (ops/s, latency percentiles, errors).",
     FLAGS(bench_range_flag_defs), sizeof(bench_opts), bench_opts_init, cmd_bench_range},
    {"compaction", "compaction [options] <revision>",
     "Discards the key history older than a revision", NULL, FLAGS(compaction_flag_defs),
     sizeof(compaction_opts), zero_init, cmd_compaction},
    {"del", "del [options] <key> [range_end]",
     "Removes a key or the keys of a range [key, range_end)", NULL, FLAGS(del_flag_defs),
     sizeof(del_opts), del_init, cmd_del},
    {"elect", "elect <election-name> [proposal]", "Observes and participates in leader election",
     "With a proposal, campaigns and holds the leadership until interrupted; with -l, prints\n"
     "each leader as it changes.",
     FLAGS(lease_elect_flag_defs), sizeof(lease_opts), elect_opts_init, cmd_elect},
    {"endpoint health", "endpoint health",
     "Checks whether each endpoint in `--endpoints` can serve a quorum read", NULL, NO_FLAGS, 0,
     zero_init, cmd_endpoint_health},
    {"endpoint status", "endpoint status", "Prints the status of each endpoint in `--endpoints`",
     "In the simple output format each endpoint gets one comma-separated line:\n"
     "endpoint, ID, version, db size, is leader, is learner, raft term, raft index,\n"
     "raft applied index, errors.",
     NO_FLAGS, 0, zero_init, cmd_endpoint_status},
    {"get", "get [options] <key> [range_end]", "Reads a key or the keys of a range", NULL,
     FLAGS(get_flag_defs), sizeof(get_opts), get_init, cmd_get},
    {"lease grant", "lease grant <ttl>", "Creates leases", NULL, NO_FLAGS, sizeof(lease_opts),
     lease_opts_init, cmd_lease_grant},
    {"lease keep-alive", "lease keep-alive [options] <leaseID>", "Keeps leases alive (renew)", NULL,
     FLAGS(lease_keepalive_flag_defs), sizeof(lease_opts), lease_opts_init, cmd_lease_keepalive},
    {"lease list", "lease list", "List all active leases", NULL, NO_FLAGS, sizeof(lease_opts),
     lease_opts_init, cmd_lease_list},
    {"lease revoke", "lease revoke <leaseID>", "Revokes leases", NULL, NO_FLAGS, sizeof(lease_opts),
     lease_opts_init, cmd_lease_revoke},
    {"lease timetolive", "lease timetolive <leaseID> [options]", "Get lease information", NULL,
     FLAGS(lease_ttl_flag_defs), sizeof(lease_opts), lease_opts_init, cmd_lease_timetolive},
    {"lock", "lock <lockname> [exec-command arg1 arg2 ...]", "Acquires a named lock",
     "Holds the lock until interrupted, or while the command runs (put -- before a command\n"
     "that has flags). The command gets COORD_LOCK_KEY (the lock's key), COORD_LOCK_REV (its\n"
     "create revision, for fencing: create(key) = rev holds only while the lock is held),\n"
     "and etcdctl's ETCD_LOCK_KEY and ETCD_LOCK_REV.",
     FLAGS(lease_session_flag_defs), sizeof(lease_opts), lock_opts_init, cmd_lock},
    {"ls", "ls [options] <dir>", "Lists the children of a directory",
     "Keys are paths separated by '/'. ls prints the immediate children of <dir>, one\n"
     "per line, in key order, all read at one revision; a child that has keys below it\n"
     "is marked with a trailing '/'. With --recursive the whole tree below <dir> is\n"
     "printed, each directory followed by its own children. Pages of --page-size\n"
     "children are fetched as needed.",
     FLAGS(ls_flag_defs), sizeof(ls_opts), ls_opts_init, cmd_ls},
    {"member list", "member list", "Lists the members of the cluster",
     "In the simple output format each member gets one comma-separated line:\n"
     "ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.",
     NO_FLAGS, 0, zero_init, cmd_member_list},
    {"member add", "member add <memberName> [options]", "Adds a member into the cluster",
     "Prints the settings the new member starts with (--initial-cluster-state existing).\n"
     "With --learner --promote-when-caught-up (coord's own), the leader promotes the\n"
     "learner to a voting member by itself once its log has caught up.",
     FLAGS(member_add_flag_defs), sizeof(member_opts), zero_init, cmd_member_add},
    {"member promote", "member promote <memberID>", "Promotes a non-voting member in the cluster",
     NULL, NO_FLAGS, sizeof(member_opts), zero_init, cmd_member_promote},
    {"member remove", "member remove <memberID>", "Removes a member from the cluster", NULL,
     NO_FLAGS, sizeof(member_opts), zero_init, cmd_member_remove},
    {"member update", "member update <memberID> [options]", "Updates a member in the cluster",
     NULL, FLAGS(member_update_flag_defs), sizeof(member_opts), zero_init, cmd_member_update},
    {"put", "put [options] <key> <value> (<value> can also be given from stdin)",
     "Writes a key into the store",
     "Writes <value> under <key>.\n"
     "\n"
     "A <value> that begins with '-' would be read as a flag; put '--' before it:\n"
     "\n"
     "$ put <key> -- <value>\n"
     "$ put -- <key> <value>\n"
     "\n"
     "Without a <value> argument (and without --ignore-value) the value is read from\n"
     "standard input, to its end. For example,\n"
     "$ cat file | put <key>\n"
     "stores the content of the file under <key>.",
     FLAGS(put_flag_defs), sizeof(put_opts), put_init, cmd_put},
    {"register", "register <dir> <name> <value> [options]",
     "Registers a service: dir/name = value, kept alive until interrupted",
     "Puts <dir>/<name> = <value> under a lease of --ttl seconds and keeps the lease alive\n"
     "until SIGINT or SIGTERM, then revokes it (the key goes at once). If coordctl dies,\n"
     "the key goes when the lease runs out. A lease that was lost is replaced.",
     FLAGS(lease_session_flag_defs), sizeof(lease_opts), lease_opts_init, cmd_register},
    {"txn", "txn [options]", "Runs several requests as one atomic transaction",
     "Reads a transaction from standard input and sends it as one request. It has three\n"
     "parts, each ended by an empty line:\n"
     "1) conditions, one per line, all of which must hold,\n"
     "2) the requests to run when they all hold,\n"
     "3) the requests to run otherwise.\n"
     "\n"
     "A condition is target(\"key\") op \"operand\", with target one of value (val),\n"
     "version (ver), create (c), mod (m) or lease, and op one of =, !=, < and >.\n"
     "target(\"key\", \"range_end\") tests every key of [key, range_end). Requests are\n"
     "written as put, get and del commands with their flags.\n"
     "\n"
     "Example (with -i each part is prompted for):\n"
     "\n"
     "mod(\"key1\") > \"0\"\n"
     "\n"
     "put key1 \"overwrote-key1\"\n"
     "\n"
     "put key1 \"created-key1\"\n"
     "put key2 \"some extra key\"\n",
     FLAGS(txn_flag_defs), sizeof(txn_opts), zero_init, cmd_txn},
    {"version", "version", "Prints the version of coordctl", NULL, NO_FLAGS, 0, zero_init,
     cmd_version},
    WATCH_COMMAND,
};
const size_t cli_n_commands = sizeof(cli_commands) / sizeof(cli_commands[0]);

const command *cli_find_command(char *const *words, int n, int *n_words)
{
    if (n < 1) return NULL;
    for (size_t i = 0; i < cli_n_commands; i++) {
        const char *name = cli_commands[i].name;
        const char *space = strchr(name, ' ');
        if (!space) {
            if (strcmp(name, words[0]) == 0) return *n_words = 1, &cli_commands[i];
            continue;
        }
        size_t first = (size_t)(space - name);
        if (n >= 2 && strlen(words[0]) == first && strncmp(name, words[0], first) == 0 &&
            strcmp(space + 1, words[1]) == 0)
            return *n_words = 2, &cli_commands[i];
    }
    return NULL;
}

static void print_indented(FILE *out, const char *text)
{
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        fprintf(out, "\t%.*s\n", (int)len, line);
        if (!nl) break;
        line = nl + 1;
    }
}

static void print_global_options(FILE *out, const char *heading, bool with_help)
{
    fprintf(out, "%s:\n", heading);
    flags_print_help(out, cli_global_flags, cli_n_global_flags - (with_help ? 0 : 1), NULL);
    fputc('\n', out);
}

void cli_print_main_help(FILE *out)
{
    fputs("NAME:\n"
          "\tcoordctl - A command line client for coord (and for etcd 3.4)\n"
          "\n"
          "USAGE:\n"
          "\tcoordctl [flags] <command> [arguments]\n"
          "\tEach flag below may also come from the environment as COORDCTL_<FLAG>,\n"
          "\te.g. COORDCTL_ENDPOINTS=10.0.0.1:2379,10.0.0.2:2379; flags given win.\n"
          "\n"
          "VERSION:\n"
          "\t" COORDCTL_VERSION "\n"
          "\n"
          "API VERSION:\n"
          "\t3.4\n"
          "\n"
          "\n"
          "COMMANDS:\n",
          out);
    typedef struct {
        const char *name, *help;
    } entry;
    entry list[sizeof(cli_commands) / sizeof(cli_commands[0]) + 1];
    size_t n = 0, widest = 0;
    for (size_t i = 0; i < cli_n_commands; i++)
        list[n++] = (entry){cli_commands[i].name, cli_commands[i].short_help};
    list[n++] = (entry){"help", "Help about any command"};
    /* Sorted by name, as a tiny insertion sort: the table is short. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(list[j - 1].name, list[j].name) > 0; j--) {
            entry t = list[j];
            list[j] = list[j - 1];
            list[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i].name) > widest) widest = strlen(list[i].name);
    /* A tab stop every 8 columns; the names start at column 8. */
    size_t column = ((8 + widest) / 8 + 1) * 8;
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "\t%s", list[i].name);
        for (size_t at = 8 + strlen(list[i].name); at < column; at = (at / 8 + 1) * 8)
            fputc('\t', out);
        fprintf(out, "%s\n", list[i].help);
    }
    fputc('\n', out);
    print_global_options(out, "OPTIONS", true);
}

void cli_print_command_help(FILE *out, const command *cmd)
{
    const char *last_word = strrchr(cmd->name, ' ');
    last_word = last_word ? last_word + 1 : cmd->name;
    fprintf(out, "NAME:\n\t%s - %s\n\nUSAGE:\n\tcoordctl %s [flags]\n\n", cmd->name,
            cmd->short_help, cmd->usage);
    if (cmd->long_help) {
        fputs("DESCRIPTION:\n", out);
        print_indented(out, cmd->long_help);
        fputc('\n', out);
    }
    char help_usage[64];
    snprintf(help_usage, sizeof(help_usage), "help for %s", last_word);
    flag_def help = {"help", 'h', FLAG_BOOL, 0, "false", help_usage};
    fputs("OPTIONS:\n", out);
    flags_print_help(out, cmd->flags, *cmd->n_flags, &help);
    fputc('\n', out);
    print_global_options(out, "GLOBAL OPTIONS", false);
}

int cli_endpoints(cli_ctx *ctx, const char ***list, size_t *n, cli_err *e)
{
    const char *csv = ctx->globals.endpoints_csv;
    size_t count = 1;
    for (const char *p = csv; *p; p++) count += *p == ',';
    const char **eps = cli_pool_alloc(&ctx->pool, count * sizeof(*eps));
    if (!eps) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    size_t k = 0;
    for (const char *p = csv;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len) {
            eps[k] = cli_pool_strndup(&ctx->pool, p, len);
            if (!eps[k++]) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        }
        if (!comma) break;
        p = comma + 1;
    }
    if (k == 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "no endpoints given");
    *list = eps;
    *n = k;
    return CLI_EXIT_OK;
}

int cli_open_client(cli_ctx *ctx, const char *only_endpoint, coord_client **out, cli_err *e)
{
    const char **eps;
    size_t n;
    if (only_endpoint) {
        eps = &only_endpoint;
        n = 1;
    } else {
        int rc = cli_endpoints(ctx, &eps, &n, e);
        if (rc != CLI_EXIT_OK) return rc;
    }
    coord_config cfg = {
        .endpoints = eps,
        .n_endpoints = n,
        .dial_timeout_ms = (int)ctx->globals.dial_timeout_ms,
        .command_timeout_ms = (int)ctx->globals.command_timeout_ms,
    };
    coord_error err = {0};
    if (coord_client_create(&cfg, out, &err) != COORD_OK)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "%s", err.message);
    return CLI_EXIT_OK;
}

int cli_fail_rpc(cli_err *e, const coord_error *err)
{
    return cli_fail(e, CLI_EXIT_ERROR, "%s", err->message);
}
