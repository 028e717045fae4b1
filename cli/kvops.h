/* kvops: the flags and arguments of `put`, `get` and `del`, turned into libcoord requests.
 *
 * Shared by the commands themselves and by `txn`, whose success and failure lines use the
 * same syntax ("put k v --prev-kv", "get k --prefix"). Rules and messages follow etcdctl 3.4:
 * --prefix and --from-key exclude each other and a range_end argument; an empty key with
 * --prefix or --from-key means every key ("\0" with range_end "\0").
 * Requests point into argv and into the pool given.
 */
#ifndef COORD_CLI_KVOPS_H
#define COORD_CLI_KVOPS_H

#include "cli.h"
#include "flags.h"
#include "libcoord.h"

#include <stdio.h>

typedef struct put_opts {
    const char *lease; /* hexadecimal lease id */
    bool prev_kv;
    bool ignore_value;
    bool ignore_lease;
} put_opts;

typedef struct get_opts {
    const char *consistency; /* "l" or "s" */
    const char *order;       /* "", ASCEND, DESCEND (any case) */
    const char *sort_by;     /* "", CREATE, KEY, MODIFY, VALUE, VERSION (any case) */
    int64_t limit;
    int64_t rev;
    bool prefix;
    bool from_key;
    bool keys_only;
    bool count_only;
    bool print_value_only;
} get_opts;

typedef struct del_opts {
    bool prefix;
    bool from_key;
    bool prev_kv;
} del_opts;

extern const flag_def put_flag_defs[];
extern const size_t n_put_flag_defs;
extern const flag_def get_flag_defs[];
extern const size_t n_get_flag_defs;
extern const flag_def del_flag_defs[];
extern const size_t n_del_flag_defs;

void put_opts_init(put_opts *o);
void get_opts_init(get_opts *o);
void del_opts_init(del_opts *o);

/* pos: KEY [VALUE]. Without VALUE (and without --ignore-value) the value is all of
 * value_source, read into the pool; value_source NULL means no such input. */
int build_put(const put_opts *o, int n_pos, char **pos, FILE *value_source, cli_pool *pool,
              coord_put_req *req, cli_err *e);
/* pos: KEY [RANGE_END] */
int build_get(const get_opts *o, int n_pos, char **pos, cli_pool *pool, coord_range_req *req,
              cli_err *e);
int build_del(const del_opts *o, int n_pos, char **pos, cli_pool *pool, coord_delete_req *req,
              cli_err *e);

/* Parses one request given as words ("put", "k", "v", "--prev-kv"), argv[0] naming the
 * operation. Flag errors and unknown operations are reported as "invalid txn request:
 * <line>" (CLI_EXIT_INVALID_INPUT); argument errors keep put/get/del's own messages. */
int parse_op_words(int argc, char **argv, const char *line, cli_pool *pool, coord_op *op,
                   cli_err *e);

#endif
