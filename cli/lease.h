/* lease, lock, elect and register: coordctl's commands for leases and what stands on them.
 * The command table (commands.c) names these; their flags and options live here. */
#ifndef COORD_CLI_LEASE_H
#define COORD_CLI_LEASE_H

#include "commands.h"

typedef struct lease_opts {
    bool keys;   /* timetolive --keys */
    bool once;   /* keep-alive --once */
    int64_t ttl; /* lock, elect, register: the session lease's TTL in seconds */
    bool listen; /* elect -l */
} lease_opts;

void lease_opts_init(void *opts);
void lock_opts_init(void *opts);
void elect_opts_init(void *opts);

extern const flag_def lease_ttl_flag_defs[];
extern const size_t n_lease_ttl_flag_defs;
extern const flag_def lease_keepalive_flag_defs[];
extern const size_t n_lease_keepalive_flag_defs;
extern const flag_def lease_session_flag_defs[];
extern const size_t n_lease_session_flag_defs;
extern const flag_def lease_elect_flag_defs[];
extern const size_t n_lease_elect_flag_defs;

int cmd_lease_grant(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_lease_revoke(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_lease_timetolive(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_lease_list(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_lease_keepalive(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_register(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_lock(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_elect(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);

#endif
