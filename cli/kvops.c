#include "kvops.h"

#include "textfmt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const flag_def put_flag_defs[] = {
    {"lease", 0, FLAG_STRING, offsetof(put_opts, lease), "\"0\"",
     "lease ID (in hexadecimal) to attach to the key"},
    {"prev-kv", 0, FLAG_BOOL, offsetof(put_opts, prev_kv), "false",
     "also print the key-value pair as it was before this write"},
    {"ignore-value", 0, FLAG_BOOL, offsetof(put_opts, ignore_value), "false",
     "keep the key's current value (only the lease changes)"},
    {"ignore-lease", 0, FLAG_BOOL, offsetof(put_opts, ignore_lease), "false",
     "keep the key's current lease"},
};
const size_t n_put_flag_defs = sizeof(put_flag_defs) / sizeof(put_flag_defs[0]);

const flag_def get_flag_defs[] = {
    {"consistency", 0, FLAG_STRING, offsetof(get_opts, consistency), "\"l\"",
     "Linearizable(l) or Serializable(s)"},
    {"order", 0, FLAG_STRING, offsetof(get_opts, order), "\"\"",
     "Order of results; ASCEND or DESCEND (ASCEND by default)"},
    {"sort-by", 0, FLAG_STRING, offsetof(get_opts, sort_by), "\"\"",
     "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION"},
    {"limit", 0, FLAG_INT64, offsetof(get_opts, limit), "0",
     "Maximum number of keys returned (0: no limit)"},
    {"prefix", 0, FLAG_BOOL, offsetof(get_opts, prefix), "false",
     "Get every key that starts with <key>"},
    {"from-key", 0, FLAG_BOOL, offsetof(get_opts, from_key), "false",
     "Get every key greater than or equal to <key> (byte order)"},
    {"rev", 0, FLAG_INT64, offsetof(get_opts, rev), "0",
     "Read the keys as they were at this revision"},
    {"keys-only", 0, FLAG_BOOL, offsetof(get_opts, keys_only), "false",
     "Get the keys without their values"},
    {"count-only", 0, FLAG_BOOL, offsetof(get_opts, count_only), "false",
     "Get only the number of keys in the range"},
    {"print-value-only", 0, FLAG_BOOL, offsetof(get_opts, print_value_only), "false",
     "Print values without their keys (\"simple\" output format only)"},
};
const size_t n_get_flag_defs = sizeof(get_flag_defs) / sizeof(get_flag_defs[0]);

const flag_def del_flag_defs[] = {
    {"prefix", 0, FLAG_BOOL, offsetof(del_opts, prefix), "false",
     "delete every key that starts with <key>"},
    {"prev-kv", 0, FLAG_BOOL, offsetof(del_opts, prev_kv), "false",
     "print the deleted key-value pairs"},
    {"from-key", 0, FLAG_BOOL, offsetof(del_opts, from_key), "false",
     "delete every key greater than or equal to <key> (byte order)"},
};
const size_t n_del_flag_defs = sizeof(del_flag_defs) / sizeof(del_flag_defs[0]);

void put_opts_init(put_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->lease = "0";
}

void get_opts_init(get_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->consistency = "l";
    o->order = "";
    o->sort_by = "";
}

void del_opts_init(del_opts *o)
{
    memset(o, 0, sizeof(*o));
}

static const uint8_t zero_byte[1] = {0};

/* The key/range_end pair for KEY [RANGE_END] with --prefix / --from-key, as etcdctl sets it. */
static int key_range(bool prefix, bool from_key, int n_pos, char **pos, cli_pool *pool,
                     coord_bytes *key, coord_bytes *end, cli_err *e)
{
    if (prefix && from_key)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "`--prefix` and `--from-key` cannot be set at the same time, choose one");
    *key = coord_str(pos[0]);
    *end = (coord_bytes){NULL, 0};
    if (n_pos > 1) {
        if (prefix || from_key)
            return cli_fail(e, CLI_EXIT_BAD_ARGS,
                            "too many arguments, only accept one argument when `--prefix` or "
                            "`--from-key` is set");
        *end = coord_str(pos[1]);
    }
    if (prefix || from_key) {
        if (key->len == 0) {
            /* The empty key is not a key: "every key" is spelled ["\0", "\0"). */
            *key = (coord_bytes){zero_byte, 1};
            *end = (coord_bytes){zero_byte, 1};
        } else if (from_key) {
            *end = (coord_bytes){zero_byte, 1};
        } else {
            uint8_t *buf = cli_pool_alloc(pool, key->len);
            if (!buf) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
            *end = coord_prefix_end(*key, buf);
        }
    }
    return CLI_EXIT_OK;
}

static int read_all(FILE *in, cli_pool *pool, coord_bytes *out)
{
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return -1;
    for (;;) {
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                return -1;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, in);
        len += n;
        if (n == 0) break;
    }
    int rc = ferror(in) ? -1 : 0;
    char *copy = rc == 0 ? cli_pool_strndup(pool, (const char *)buf, len) : NULL;
    free(buf);
    if (!copy) return -1;
    *out = (coord_bytes){(const uint8_t *)copy, len};
    return 0;
}

int build_put(const put_opts *o, int n_pos, char **pos, FILE *value_source, cli_pool *pool,
              coord_put_req *req, cli_err *e)
{
    static const char *const usage =
        "put command needs 1 argument and input from stdin or 2 arguments";
    memset(req, 0, sizeof(*req));
    if (n_pos == 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "%s", usage);
    req->key = coord_str(pos[0]);
    if (o->ignore_value && n_pos > 1)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "put command needs only 1 argument when 'ignore-value' is set");
    if (!o->ignore_value) {
        if (n_pos > 1) {
            req->value = coord_str(pos[1]);
        } else {
            if (!value_source || read_all(value_source, pool, &req->value) != 0 ||
                req->value.len == 0)
                return cli_fail(e, CLI_EXIT_BAD_ARGS, "%s", usage);
        }
    }
    int64_t lease;
    if (parse_int64(o->lease, 16, &lease) != 0)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "bad lease ID (%s is not a hexadecimal number), expecting ID in Hex",
                        o->lease);
    req->lease = lease;
    req->prev_kv = o->prev_kv;
    req->ignore_value = o->ignore_value;
    req->ignore_lease = o->ignore_lease;
    return CLI_EXIT_OK;
}

int build_get(const get_opts *o, int n_pos, char **pos, cli_pool *pool, coord_range_req *req,
              cli_err *e)
{
    memset(req, 0, sizeof(*req));
    if (n_pos == 0)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "get command needs one argument as key and an optional argument as "
                        "range_end");
    if (o->prefix && o->from_key)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "`--prefix` and `--from-key` cannot be set at the same time, choose one");
    if (o->keys_only && o->count_only)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "`--keys-only` and `--count-only` cannot be set at the same time, choose "
                        "one");
    if (strcmp(o->consistency, "s") == 0)
        req->serializable = true;
    else if (strcmp(o->consistency, "l") != 0)
        return cli_fail(e, CLI_EXIT_BAD_FEATURE, "unknown consistency flag \"%s\"", o->consistency);

    int rc = key_range(o->prefix, o->from_key, n_pos, pos, pool, &req->key, &req->range_end, e);
    if (rc != CLI_EXIT_OK) return rc;
    req->limit = o->limit;
    if (o->rev > 0) req->revision = o->rev;

    if (strcasecmp(o->order, "ASCEND") == 0)
        req->sort_order = COORD_SORT_ASCEND;
    else if (strcasecmp(o->order, "DESCEND") == 0)
        req->sort_order = COORD_SORT_DESCEND;
    else if (o->order[0] != '\0')
        return cli_fail(e, CLI_EXIT_BAD_FEATURE, "bad sort order %s", o->order);

    static const struct {
        const char *name;
        coord_sort_target target;
    } targets[] = {{"CREATE", COORD_SORT_CREATE},
                   {"KEY", COORD_SORT_KEY},
                   {"MODIFY", COORD_SORT_MOD},
                   {"VALUE", COORD_SORT_VALUE},
                   {"VERSION", COORD_SORT_VERSION}};
    req->sort_target = COORD_SORT_KEY;
    if (o->sort_by[0] != '\0') {
        size_t i = 0;
        while (i < 5 && strcasecmp(o->sort_by, targets[i].name) != 0) i++;
        if (i == 5) return cli_fail(e, CLI_EXIT_BAD_FEATURE, "bad sort target %s", o->sort_by);
        req->sort_target = targets[i].target;
    }
    req->keys_only = o->keys_only;
    req->count_only = o->count_only;
    return CLI_EXIT_OK;
}

int build_del(const del_opts *o, int n_pos, char **pos, cli_pool *pool, coord_delete_req *req,
              cli_err *e)
{
    memset(req, 0, sizeof(*req));
    if (n_pos == 0 || n_pos > 2)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "del command needs one argument as key and an optional argument as "
                        "range_end");
    int rc = key_range(o->prefix, o->from_key, n_pos, pos, pool, &req->key, &req->range_end, e);
    if (rc != CLI_EXIT_OK) return rc;
    req->prev_kv = o->prev_kv;
    return CLI_EXIT_OK;
}

int parse_op_words(int argc, char **argv, const char *line, cli_pool *pool, coord_op *op,
                   cli_err *e)
{
    int n_pos;
    char **pos;
    cli_err flag_err = {0};
    memset(op, 0, sizeof(*op));
    if (strcmp(argv[0], "put") == 0) {
        put_opts o;
        put_opts_init(&o);
        flag_set set = {put_flag_defs, n_put_flag_defs, &o};
        if (flags_parse(argc, argv, &set, 1, &n_pos, &pos, &flag_err) != CLI_EXIT_OK)
            return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn request: %s", line);
        op->type = COORD_OP_PUT;
        return build_put(&o, n_pos, pos, NULL, pool, &op->u.put, e);
    }
    if (strcmp(argv[0], "get") == 0) {
        get_opts o;
        get_opts_init(&o);
        flag_set set = {get_flag_defs, n_get_flag_defs, &o};
        if (flags_parse(argc, argv, &set, 1, &n_pos, &pos, &flag_err) != CLI_EXIT_OK)
            return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn request: %s", line);
        op->type = COORD_OP_RANGE;
        return build_get(&o, n_pos, pos, pool, &op->u.range, e);
    }
    if (strcmp(argv[0], "del") == 0) {
        del_opts o;
        del_opts_init(&o);
        flag_set set = {del_flag_defs, n_del_flag_defs, &o};
        if (flags_parse(argc, argv, &set, 1, &n_pos, &pos, &flag_err) != CLI_EXIT_OK)
            return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn request: %s", line);
        op->type = COORD_OP_DELETE;
        return build_del(&o, n_pos, pos, pool, &op->u.del, e);
    }
    return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn request: %s", line);
}
