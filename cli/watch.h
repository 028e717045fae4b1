/* watch: `coordctl watch`, etcdctl's watch (a key, a range, a prefix; --rev history, --prev-kv,
 * --progress-notify, -i for several watches on one stream) and coord's `--children DIR`, which
 * reports the immediate children of a directory as they appear and disappear.
 */
#ifndef COORD_CLI_WATCH_H
#define COORD_CLI_WATCH_H

#include "commands.h"

typedef struct watch_opts {
    bool prefix;
    bool prev_kv;
    bool progress_notify;
    bool interactive;
    bool children;
    int64_t rev;
} watch_opts;

extern const flag_def watch_flag_defs[];
extern const size_t n_watch_flag_defs;
void watch_opts_init(void *opts);
int cmd_watch(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);

#define WATCH_COMMAND_HELP                                                                         \
    "Prints each change of <key> (or of [key, range_end), or of every key starting with\n"         \
    "<key> with --prefix) as etcdctl does: the event type, the previous key and value with\n"      \
    "--prev-kv, then the key and its new value. --rev replays the history from that revision\n"    \
    "before going live. A watch canceled by the server (for instance because the history it\n"     \
    "needs was compacted) ends the command with exit code 5.\n"                                    \
    "\n"                                                                                           \
    "-i reads requests from standard input, all on one stream:\n"                                  \
    "  watch [--prefix] [--rev N] [--prev-kv] [--progress-notify] <key> [range_end]\n"             \
    "  progress            ask for a progress notification\n"                                      \
    "  cancel <watch-id>   cancel one watch (ids count from 0 in creation order)\n"                \
    "\n"                                                                                           \
    "--children <dir> prints the immediate children of <dir> (keys are paths separated\n"          \
    "by '/'), first those there are, then each that appears or disappears: \"+ <child>\" or\n"     \
    "\"- <child>\". A child exists while it is a key or has keys below it."

/* The command table's entry (commands.c). */
#define WATCH_COMMAND                                                                              \
    {                                                                                              \
        "watch", "watch [options] [key or prefix] [range_end]",                                    \
            "Watches events stream on keys or prefixes", WATCH_COMMAND_HELP, watch_flag_defs,      \
            &n_watch_flag_defs, sizeof(watch_opts), watch_opts_init, cmd_watch                     \
    }

#endif
