#include "txn_parse.h"

#include "kvops.h"
#include "textfmt.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(uint8_t *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* One escape after a backslash at *p; appends its bytes to out. */
static int unescape(const char **p, uint8_t *out, size_t *w)
{
    char c = *(*p)++;
    switch (c) {
    case 'a':
        out[(*w)++] = '\a';
        return 0;
    case 'b':
        out[(*w)++] = '\b';
        return 0;
    case 'f':
        out[(*w)++] = '\f';
        return 0;
    case 'n':
        out[(*w)++] = '\n';
        return 0;
    case 'r':
        out[(*w)++] = '\r';
        return 0;
    case 't':
        out[(*w)++] = '\t';
        return 0;
    case 'v':
        out[(*w)++] = '\v';
        return 0;
    case '\\':
        out[(*w)++] = '\\';
        return 0;
    case '"':
        out[(*w)++] = '"';
        return 0;
    case 'x': {
        int hi = hex_digit((*p)[0]), lo = hi < 0 ? -1 : hex_digit((*p)[1]);
        if (lo < 0) return -1;
        out[(*w)++] = (uint8_t)(hi * 16 + lo);
        *p += 2;
        return 0;
    }
    case 'u':
    case 'U': {
        int digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int i = 0; i < digits; i++) {
            int d = hex_digit((*p)[i]);
            if (d < 0) return -1;
            cp = cp * 16 + (uint32_t)d;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
        *p += digits;
        *w += put_utf8(out + *w, cp);
        return 0;
    }
    default:
        if (c >= '0' && c <= '7') {
            unsigned v = (unsigned)(c - '0');
            for (int i = 0; i < 2; i++) {
                char d = (*p)[i];
                if (d < '0' || d > '7') return -1;
                v = v * 8 + (unsigned)(d - '0');
            }
            if (v > 255) return -1;
            out[(*w)++] = (uint8_t)v;
            *p += 2;
            return 0;
        }
        return -1;
    }
}

int txn_unquote(const char **p, cli_pool *pool, char **out, size_t *len)
{
    const char *s = *p;
    char quote = *s;
    if (quote != '"' && quote != '`') return -1;
    /* No escape makes its text longer, so the rest of the input bounds the result. */
    uint8_t *buf = cli_pool_alloc(pool, strlen(s) + 1);
    if (!buf) return -1;
    size_t w = 0;
    s++;
    for (;;) {
        char c = *s;
        if (c == '\0' || c == '\n') return -1;
        s++;
        if (c == quote) break;
        if (c == '\\' && quote == '"') {
            if (unescape(&s, buf, &w) != 0) return -1;
            continue;
        }
        buf[w++] = (uint8_t)c;
    }
    buf[w] = '\0';
    *p = s;
    *out = (char *)buf;
    *len = w;
    return 0;
}

int txn_split_words(const char *line, cli_pool *pool, char ***words, int *n_words)
{
    size_t cap = strlen(line) + 1;
    char **list = cli_pool_alloc(pool, cap * sizeof(*list));
    if (!list) return -1;
    int n = 0;
    const char *p = line;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0') break;
        if (*p == '"') {
            size_t len;
            if (txn_unquote(&p, pool, &list[n], &len) != 0) return -1;
        } else if (*p == '\'') {
            const char *close = strchr(p + 1, '\'');
            if (!close) return -1;
            list[n] = cli_pool_strndup(pool, p + 1, (size_t)(close - p - 1));
            p = close + 1;
        } else {
            const char *start = p;
            while (*p && !isspace((unsigned char)*p)) p++;
            list[n] = cli_pool_strndup(pool, start, (size_t)(p - start));
        }
        if (!list[n]) return -1;
        n++;
    }
    *words = list;
    *n_words = n;
    return 0;
}

static const char *skip_blanks(const char *p)
{
    while (isspace((unsigned char)*p)) p++;
    return p;
}

/* etcdctl's report of a compare it could not read, with what it had read so far. */
static int malformed(cli_err *e, const char *line, const char *target, size_t target_len,
                     const char *key, size_t key_len, const char *op, size_t op_len)
{
    char *got = NULL;
    size_t got_len = 0;
    FILE *f = open_memstream(&got, &got_len);
    if (!f) return cli_fail(e, CLI_EXIT_INVALID_INPUT, "malformed comparison: %s", line);
    fprintf(f, "%.*s(", (int)target_len, target);
    fmt_go_quoted(f, (const uint8_t *)key, key_len);
    fprintf(f, ") %.*s \"\"", (int)op_len, op);
    fclose(f);
    cli_fail(e, CLI_EXIT_INVALID_INPUT, "malformed comparison: %s; got %s", line, got);
    free(got);
    return CLI_EXIT_INVALID_INPUT;
}

int txn_parse_compare(const char *line, cli_pool *pool, coord_compare *out, cli_err *e)
{
    memset(out, 0, sizeof(*out));
    const char *paren = strchr(line, '(');
    if (!paren) return cli_fail(e, CLI_EXIT_INVALID_INPUT, "malformed comparison: %s", line);
    size_t target_len = (size_t)(paren - line);
    while (target_len && isspace((unsigned char)line[target_len - 1])) target_len--;

    char *key = NULL, *end = NULL, *operand;
    size_t key_len = 0, end_len = 0, operand_len, op_len = 0;
    const char *op = "";
    const char *p = skip_blanks(paren + 1);
    if (txn_unquote(&p, pool, &key, &key_len) != 0) {
        key = NULL;
        key_len = 0;
        goto malformed;
    }
    p = skip_blanks(p);
    if (*p == ',') {
        p = skip_blanks(p + 1);
        if (txn_unquote(&p, pool, &end, &end_len) != 0) goto malformed;
        p = skip_blanks(p);
    }
    if (*p++ != ')') goto malformed;
    p = skip_blanks(p);
    op = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    op_len = (size_t)(p - op);
    p = skip_blanks(p);
    if (txn_unquote(&p, pool, &operand, &operand_len) != 0) goto malformed;
    if (*skip_blanks(p) != '\0') goto malformed;

    static const struct {
        const char *name;
        coord_compare_result result;
    } ops[] = {{"=", COORD_CMP_EQUAL},
               {"!=", COORD_CMP_NOT_EQUAL},
               {">", COORD_CMP_GREATER},
               {"<", COORD_CMP_LESS}};
    size_t i = 0;
    while (i < 4 && !(strlen(ops[i].name) == op_len && strncmp(ops[i].name, op, op_len) == 0)) i++;
    if (i == 4)
        return cli_fail(e, CLI_EXIT_INVALID_INPUT,
                        "malformed comparison: %s (unknown operator %.*s)", line, (int)op_len, op);
    out->result = ops[i].result;

    static const struct {
        const char *name;
        coord_compare_target target;
        int base; /* of the operand; 0: bytes */
    } targets[] = {{"ver", COORD_CMP_VERSION, 10}, {"version", COORD_CMP_VERSION, 10},
                   {"c", COORD_CMP_CREATE, 10},    {"create", COORD_CMP_CREATE, 10},
                   {"m", COORD_CMP_MOD, 10},       {"mod", COORD_CMP_MOD, 10},
                   {"val", COORD_CMP_VALUE, 0},    {"value", COORD_CMP_VALUE, 0},
                   {"lease", COORD_CMP_LEASE, 16}};
    const size_t n_targets = sizeof(targets) / sizeof(targets[0]);
    size_t t = 0;
    while (t < n_targets && !(strlen(targets[t].name) == target_len &&
                              strncmp(targets[t].name, line, target_len) == 0))
        t++;
    if (t == n_targets)
        return cli_fail(e, CLI_EXIT_INVALID_INPUT, "malformed comparison: %s (unknown target %.*s)",
                        line, (int)target_len, line);
    out->target = targets[t].target;
    out->key = (coord_bytes){(const uint8_t *)key, key_len};
    if (end) out->range_end = (coord_bytes){(const uint8_t *)end, end_len};
    if (targets[t].base == 0) {
        out->value = (coord_bytes){(const uint8_t *)operand, operand_len};
    } else if (strlen(operand) != operand_len ||
               parse_int64(operand, targets[t].base, &out->number) != 0) {
        return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn compare request: %s", line);
    }
    return CLI_EXIT_OK;

malformed:
    return malformed(e, line, line, target_len, key, key_len, op, op_len);
}

int txn_parse_op(const char *line, cli_pool *pool, coord_op *out, cli_err *e)
{
    char **words;
    int n;
    if (txn_split_words(line, pool, &words, &n) != 0)
        return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn request: %s", line);
    if (n < 2) return cli_fail(e, CLI_EXIT_INVALID_INPUT, "invalid txn compare request: %s", line);
    return parse_op_words(n, words, line, pool, out, e);
}

/* A growing array in the pool; the old copies stay in the pool until it is freed. */
static void *grow(cli_pool *pool, void *items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap) return items;
    size_t bigger = *cap ? *cap * 2 : 8;
    void *copy = cli_pool_alloc(pool, bigger * size);
    if (!copy) return NULL;
    if (n) memcpy(copy, items, n * size);
    *cap = bigger;
    return copy;
}

/* Reads one trimmed line into the pool; *line NULL at the end of input. */
static int next_line(FILE *in, cli_pool *pool, char **line, cli_err *e)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getline(&buf, &cap, in);
    if (n < 0) {
        free(buf);
        *line = NULL;
        if (ferror(in)) return cli_fail(e, CLI_EXIT_INVALID_INPUT, "cannot read the script");
        return CLI_EXIT_OK;
    }
    const char *start = buf;
    while (isspace((unsigned char)*start)) start++;
    size_t len = strlen(start);
    while (len && isspace((unsigned char)start[len - 1])) len--;
    *line = cli_pool_strndup(pool, start, len);
    free(buf);
    return *line ? CLI_EXIT_OK : cli_fail(e, CLI_EXIT_ERROR, "out of memory");
}

/* Reads lines up to an empty one (or the end of input); *done tells the input ended. */
static int read_compares(FILE *in, cli_pool *pool, coord_txn_req *req, bool *done, cli_err *e)
{
    coord_compare *items = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        char *line;
        int rc = next_line(in, pool, &line, e);
        if (rc != CLI_EXIT_OK) return rc;
        if (!line || !*line) {
            *done = !line;
            break;
        }
        items = grow(pool, items, n, &cap, sizeof(*items));
        if (!items) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        rc = txn_parse_compare(line, pool, &items[n], e);
        if (rc != CLI_EXIT_OK) return rc;
        n++;
    }
    req->compares = items;
    req->n_compares = n;
    return CLI_EXIT_OK;
}

static int read_ops(FILE *in, cli_pool *pool, const coord_op **ops, size_t *n_ops, bool *done,
                    cli_err *e)
{
    coord_op *items = NULL;
    size_t n = 0, cap = 0;
    while (!*done) {
        char *line;
        int rc = next_line(in, pool, &line, e);
        if (rc != CLI_EXIT_OK) return rc;
        if (!line || !*line) {
            *done = !line;
            break;
        }
        items = grow(pool, items, n, &cap, sizeof(*items));
        if (!items) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        rc = txn_parse_op(line, pool, &items[n], e);
        if (rc != CLI_EXIT_OK) return rc;
        n++;
    }
    *ops = items;
    *n_ops = n;
    return CLI_EXIT_OK;
}

int txn_parse(FILE *in, FILE *prompt, cli_pool *pool, coord_txn_req *req, cli_err *e)
{
    memset(req, 0, sizeof(*req));
    bool done = false;
    if (prompt) fprintf(prompt, "compares:\n"), fflush(prompt);
    int rc = read_compares(in, pool, req, &done, e);
    if (rc != CLI_EXIT_OK) return rc;
    if (prompt && !done) fprintf(prompt, "success requests (get, put, del):\n"), fflush(prompt);
    rc = read_ops(in, pool, &req->success, &req->n_success, &done, e);
    if (rc != CLI_EXIT_OK) return rc;
    if (prompt && !done) fprintf(prompt, "failure requests (get, put, del):\n"), fflush(prompt);
    return read_ops(in, pool, &req->failure, &req->n_failure, &done, e);
}
