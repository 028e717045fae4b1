/* cli: what every coordctl module shares: exit codes, the error a step reports, the global
 * options, and a pool that owns the memory of one command.
 *
 * Exit codes are etcdctl's, so scripts written for it read ours the same way. A step that
 * fails fills a cli_err and returns its exit code; main prints "Error: <message>" and exits.
 */
#ifndef COORD_CLI_CLI_H
#define COORD_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_BAD_CONNECTION = 2,
    CLI_EXIT_INVALID_INPUT = 3, /* txn scripts */
    CLI_EXIT_BAD_FEATURE = 4,   /* a known flag with a value we do not support */
    CLI_EXIT_INTERRUPTED = 5,
    CLI_EXIT_IO = 6,
    CLI_EXIT_BAD_ARGS = 128,
};

typedef struct cli_err {
    int exit_code; /* CLI_EXIT_OK while nothing failed */
    char message[512];
} cli_err;

/* Records a failure; returns exit_code so callers can `return cli_fail(...)`. */
int cli_fail(cli_err *e, int exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef enum cli_format {
    CLI_FORMAT_SIMPLE,
    CLI_FORMAT_JSON,
    CLI_FORMAT_FIELDS,
} cli_format;

/* Flags every command accepts. endpoints points into argv or at the default. */
typedef struct cli_globals {
    const char *endpoints_csv; /* comma-separated, as given */
    int64_t dial_timeout_ms;
    int64_t command_timeout_ms;
    const char *write_out; /* "simple", "json" or "fields" */
    bool hex;
    bool help;
} cli_globals;

void cli_globals_init(cli_globals *g);

/* Owns the allocations of one command; everything is freed at once. */
typedef struct cli_pool {
    struct cli_pool_block *blocks;
} cli_pool;

/* Zeroed memory, or NULL when memory runs out. */
void *cli_pool_alloc(cli_pool *p, size_t size);
char *cli_pool_strndup(cli_pool *p, const char *s, size_t len);
void cli_pool_free(cli_pool *p);

#endif
