/* cmd_member: coordctl member add|remove|promote|update. */
#ifndef COORD_CLI_CMD_MEMBER_H
#define COORD_CLI_CMD_MEMBER_H

#include "commands.h"

typedef struct member_opts {
    const char *peer_urls; /* --peer-urls, comma-separated */
    bool learner;
    bool promote_when_caught_up;
} member_opts;

extern const flag_def member_add_flag_defs[];
extern const size_t n_member_add_flag_defs;
extern const flag_def member_update_flag_defs[];
extern const size_t n_member_update_flag_defs;

int cmd_member_add(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_member_remove(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_member_promote(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);
int cmd_member_update(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e);

#endif
