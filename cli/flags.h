/* flags: command-line flags described once, parsed with getopt_long and shown in help.
 *
 * A flag table names each flag, its type and where its value goes: an offset into a struct
 * the caller passes at parse time (no globals). Flags of several tables (a command's own and
 * the global ones) are parsed together, so global flags work before or after the command's
 * arguments, as in etcdctl: `coordctl get foo -w json`. Booleans take an optional value
 * (`--prefix`, `--prefix=false`); other flags take `--name value` or `--name=value`.
 * Positional arguments keep their order; `--` ends the flags.
 */
#ifndef COORD_CLI_FLAGS_H
#define COORD_CLI_FLAGS_H

#include "cli.h"

#include <stddef.h>
#include <stdio.h>

typedef enum flag_type {
    FLAG_BOOL,     /* bool */
    FLAG_STRING,   /* const char * (points into argv) */
    FLAG_INT64,    /* int64_t, Go base-0 syntax */
    FLAG_DURATION, /* int64_t milliseconds, from Go syntax ("5s", "500ms") */
} flag_type;

typedef struct flag_def {
    const char *name; /* long name, without "--" */
    char shorthand;   /* 0: none */
    flag_type type;
    size_t offset;        /* where the value goes in the target struct */
    const char *def_text; /* the default as help shows it: "false", "\"l\"", "0", "5s" */
    const char *usage;
} flag_def;

typedef struct flag_set {
    const flag_def *defs;
    size_t n_defs;
    void *target; /* the struct the offsets refer to */
} flag_set;

/* Parses argv[1..argc) (argv[0] is the command's name) and sets values in each set's target.
 * Positional arguments are moved, in order, to the front of *pos (pointing into argv, which
 * is permuted). Returns CLI_EXIT_OK, or an exit code with e filled ("unknown flag: --x"). */
int flags_parse(int argc, char **argv, const flag_set *sets, size_t n_sets, int *n_pos, char ***pos,
                cli_err *e);

/* Sets each flag of `set` named in the environment as PREFIX_NAME (upper case, '-' as '_':
 * COORDCTL_DIAL_TIMEOUT=3s), before argv is parsed, so flags on the command line win. */
int flags_from_env(const flag_set *set, const char *prefix, cli_err *e);

/* Help lines for a table, sorted by name and aligned as etcdctl does:
 * "  -w, --write-out=\"simple\"\t\tset the output format...". `extra` (may be NULL) is one
 * more flag shown in the same block (the per-command "-h, --help"). */
void flags_print_help(FILE *out, const flag_def *defs, size_t n_defs, const flag_def *extra);

#endif
