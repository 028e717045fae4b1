/* commands: coordctl's command table, its help texts and the code each command runs.
 *
 * A command has a name of one or two words ("put", "endpoint status"), its own flags (a
 * flag table and an options struct it initialises) and a run function that receives the
 * positional arguments. Global flags (cli_globals) are parsed together with the command's.
 * Help follows etcdctl's layout: NAME, USAGE, DESCRIPTION, OPTIONS, GLOBAL OPTIONS.
 */
#ifndef COORD_CLI_COMMANDS_H
#define COORD_CLI_COMMANDS_H

#include "cli.h"
#include "flags.h"
#include "libcoord.h"
#include "printer.h"

#include <stdio.h>

/* What a running command may use. */
typedef struct cli_ctx {
    cli_globals globals;
    printer out;
    FILE *in; /* standard input (put's value, txn's script) */
    cli_pool pool;
} cli_ctx;

typedef struct command {
    const char *name;  /* "put", "endpoint status" */
    const char *usage; /* after "coordctl ": "put [options] <key> <value>" */
    const char *short_help;
    const char *long_help; /* NULL: none; lines are indented by the help printer */
    const flag_def *flags;
    const size_t *n_flags; /* the table's length (a pointer: tables live in other files) */
    size_t opts_size;      /* bytes of the options struct the flags point into */
    void (*opts_init)(void *opts);
    int (*run)(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
} command;

extern const command cli_commands[];
extern const size_t cli_n_commands;
extern const flag_def cli_global_flags[];
extern const size_t cli_n_global_flags;

/* The command named by words[0] (and words[1] for two-word names); *n_words gets how many
 * words the name took. NULL if none matches. */
const command *cli_find_command(char *const *words, int n, int *n_words);

void cli_print_main_help(FILE *out);
void cli_print_command_help(FILE *out, const command *cmd);

/* Opens a client on the global endpoints, or on `only_endpoint` when it is not NULL. */
int cli_open_client(cli_ctx *ctx, const char *only_endpoint, coord_client **out, cli_err *e);
/* The endpoints of --endpoints, split at commas, in ctx's pool. */
int cli_endpoints(cli_ctx *ctx, const char ***list, size_t *n, cli_err *e);
/* A libcoord error as coordctl reports it. */
int cli_fail_rpc(cli_err *e, const coord_error *err);

/* The commands (cmd_*.c). */
int cmd_put(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_get(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_del(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_txn(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_compaction(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_endpoint_status(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_endpoint_health(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_member_list(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_version(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_ls(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_bench_put(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_bench_range(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);

/* Options of the commands that have their own beyond kvops.h's. */
typedef struct txn_opts {
    bool interactive;
} txn_opts;

typedef struct compaction_opts {
    bool physical;
} compaction_opts;

typedef struct ls_opts {
    bool recursive;
    int64_t rev;
    const char *consistency;
    int64_t page_size;
    bool keys_only;
} ls_opts;

typedef struct bench_opts {
    int64_t clients;
    int64_t conns;
    int64_t total;
    int64_t key_size;
    int64_t val_size;
    int64_t key_space_size;
    bool sequential_keys;
    const char *key_prefix; /* put: written before each key's key_size digits */
    const char *consistency;
    bool prefix;
} bench_opts;

void ls_opts_init(void *opts);
void bench_opts_init(void *opts);
extern const flag_def ls_flag_defs[];
extern const size_t n_ls_flag_defs;
extern const flag_def bench_put_flag_defs[];
extern const size_t n_bench_put_flag_defs;
extern const flag_def bench_range_flag_defs[];
extern const size_t n_bench_range_flag_defs;

#endif
