/* bench: load generation in the manner of etcd's `benchmark` tool.
 *
 * --clients threads share --conns clients (each with its own gRPC connection); they take
 * request numbers from one counter until --total is reached, and every request is timed
 * alone. Before the clock starts each connection is opened with one Status call, so the
 * figures measure requests, not connection setup. The summary's lines are parsed by
 * scripts: keep "total: N", "errors: N", "ops/s: X", "pNN: X ms" as they are.
 */
#include "commands.h"
#include "kvops.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_COMMON_FLAGS                                                                         \
    {"clients",  0,                                                                                \
     FLAG_INT64, offsetof(bench_opts, clients),                                                    \
     "1",        "concurrent clients (one thread each)"},                                          \
        {"conns",    0,                                                                            \
         FLAG_INT64, offsetof(bench_opts, conns),                                                  \
         "1",        "gRPC connections the clients share"},                                        \
    {                                                                                              \
        "total", 0, FLAG_INT64, offsetof(bench_opts, total), "10000", "requests to send"           \
    }

const flag_def bench_put_flag_defs[] = {
    BENCH_COMMON_FLAGS,
    {"key-size", 0, FLAG_INT64, offsetof(bench_opts, key_size), "8", "bytes per key"},
    {"val-size", 0, FLAG_INT64, offsetof(bench_opts, val_size), "8", "bytes per value"},
    {"key-space-size", 0, FLAG_INT64, offsetof(bench_opts, key_space_size), "1",
     "distinct keys written"},
    {"sequential-keys", 0, FLAG_BOOL, offsetof(bench_opts, sequential_keys), "false",
     "write the keys in order instead of at random"},
    {"key-prefix", 0, FLAG_STRING, offsetof(bench_opts, key_prefix), "\"\"",
     "put before every key (e.g. /dir/ to fill a directory)"},
};
const size_t n_bench_put_flag_defs = sizeof(bench_put_flag_defs) / sizeof(bench_put_flag_defs[0]);

const flag_def bench_range_flag_defs[] = {
    BENCH_COMMON_FLAGS,
    {"consistency", 0, FLAG_STRING, offsetof(bench_opts, consistency), "\"l\"",
     "Linearizable(l) or Serializable(s)"},
    {"prefix", 0, FLAG_BOOL, offsetof(bench_opts, prefix), "false",
     "range over every key that starts with <key>"},
};
const size_t n_bench_range_flag_defs =
    sizeof(bench_range_flag_defs) / sizeof(bench_range_flag_defs[0]);

void bench_opts_init(void *opts)
{
    bench_opts *o = opts;
    o->clients = 1;
    o->conns = 1;
    o->total = 10000;
    o->key_size = 8;
    o->val_size = 8;
    o->key_space_size = 1;
    o->consistency = "l";
    o->key_prefix = "";
}

typedef enum bench_kind { BENCH_PUT, BENCH_RANGE } bench_kind;

/* What the worker threads share. Latencies are written by request number, so no two
 * threads touch the same slot. */
typedef struct bench_run {
    bench_kind kind;
    const bench_opts *opts;
    coord_client **conns;
    coord_range_req range; /* BENCH_RANGE */
    const uint8_t *value;  /* BENCH_PUT: val_size bytes */
    atomic_int_fast64_t next;
    atomic_int_fast64_t errors;
    double *latency_ms; /* per request; NAN for a failed one */
    pthread_mutex_t first_error_lock;
    char first_error[COORD_ERROR_MESSAGE_MAX]; /* under first_error_lock */
} bench_run;

typedef struct bench_worker {
    bench_run *run;
    coord_client *client;
    uint64_t rng; /* xorshift64 state, never 0 */
} bench_worker;

static uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Key number k as key_size digits (zero-padded; the low digits when k needs more). */
static void format_key(char *key, size_t key_size, uint64_t k)
{
    for (size_t i = key_size; i > 0; i--) {
        key[i - 1] = (char)('0' + k % 10);
        k /= 10;
    }
}

static void note_error(bench_run *run, const coord_error *err)
{
    atomic_fetch_add(&run->errors, 1);
    pthread_mutex_lock(&run->first_error_lock);
    if (!run->first_error[0])
        snprintf(run->first_error, sizeof(run->first_error), "%s", err->message);
    pthread_mutex_unlock(&run->first_error_lock);
}

static void *bench_thread(void *arg)
{
    bench_worker *w = arg;
    bench_run *run = w->run;
    const bench_opts *o = run->opts;
    size_t prefix_len = strlen(o->key_prefix);
    size_t key_len = prefix_len + (size_t)o->key_size;
    char *key = run->kind == BENCH_PUT ? malloc(key_len + 1) : NULL;
    if (run->kind == BENCH_PUT && !key) return NULL;
    if (key) memcpy(key, o->key_prefix, prefix_len);
    for (;;) {
        int64_t i = atomic_fetch_add(&run->next, 1);
        if (i >= o->total) break;
        coord_error err = {0};
        int rc;
        double start;
        if (run->kind == BENCH_PUT) {
            uint64_t k = o->sequential_keys ? (uint64_t)i % (uint64_t)o->key_space_size
                                            : next_random(&w->rng) % (uint64_t)o->key_space_size;
            format_key(key + prefix_len, (size_t)o->key_size, k);
            coord_put_req req = {
                .key = {(const uint8_t *)key, key_len},
                .value = {run->value, (size_t)o->val_size},
            };
            coord_put_resp resp;
            start = now_ms();
            rc = coord_put(w->client, &req, &resp, &err);
            run->latency_ms[i] = now_ms() - start;
            coord_put_resp_free(&resp);
        } else {
            coord_range_resp resp;
            start = now_ms();
            rc = coord_range(w->client, &run->range, &resp, &err);
            run->latency_ms[i] = now_ms() - start;
            coord_range_resp_free(&resp);
        }
        if (rc != COORD_OK) {
            run->latency_ms[i] = NAN;
            note_error(run, &err);
        }
    }
    free(key);
    return NULL;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest latency with at least p of the requests at or below it. */
static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0) return 0;
    size_t rank = (size_t)ceil(p * (double)n);
    return sorted[rank ? rank - 1 : 0];
}

static void print_summary(FILE *out, const bench_run *run, double elapsed_ms)
{
    const bench_opts *o = run->opts;
    size_t ok = 0;
    double sum = 0;
    for (int64_t i = 0; i < o->total; i++) {
        if (isnan(run->latency_ms[i])) continue;
        run->latency_ms[ok++] = run->latency_ms[i];
        sum += run->latency_ms[i];
    }
    qsort(run->latency_ms, ok, sizeof(double), compare_doubles);
    fprintf(out, "Summary:\n");
    fprintf(out, "total: %" PRId64 "\n", o->total);
    fprintf(out, "errors: %" PRId64 "\n", (int64_t)atomic_load(&run->errors));
    fprintf(out, "elapsed: %.3f s\n", elapsed_ms / 1e3);
    fprintf(out, "ops/s: %.1f\n", elapsed_ms > 0 ? (double)ok * 1e3 / elapsed_ms : 0.0);
    fprintf(out, "avg: %.3f ms\n", ok ? sum / (double)ok : 0.0);
    fprintf(out, "min: %.3f ms\n", ok ? run->latency_ms[0] : 0.0);
    fprintf(out, "p50: %.3f ms\n", percentile(run->latency_ms, ok, 0.50));
    fprintf(out, "p90: %.3f ms\n", percentile(run->latency_ms, ok, 0.90));
    fprintf(out, "p99: %.3f ms\n", percentile(run->latency_ms, ok, 0.99));
    fprintf(out, "p99.9: %.3f ms\n", percentile(run->latency_ms, ok, 0.999));
    fprintf(out, "max: %.3f ms\n", ok ? run->latency_ms[ok - 1] : 0.0);
}

static int check_opts(const bench_opts *o, cli_err *e)
{
    if (o->clients < 1 || o->clients > 10000)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--clients must be between 1 and 10000");
    if (o->conns < 1 || o->conns > o->clients)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--conns must be between 1 and --clients");
    if (o->total < 1 || o->total > 1000000000)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--total must be between 1 and 1000000000");
    if (o->key_size < 1 || o->key_size > 1 << 20)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--key-size must be between 1 and 1048576");
    if (o->val_size < 0 || o->val_size > 64 << 20)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--val-size must be between 0 and 67108864");
    if (o->key_space_size < 1)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "--key-space-size must be at least 1");
    return CLI_EXIT_OK;
}

static int run_bench(cli_ctx *ctx, bench_run *run, cli_err *e)
{
    const bench_opts *o = run->opts;
    int rc = CLI_EXIT_OK;
    size_t n_conns = (size_t)o->conns, n_clients = (size_t)o->clients, opened = 0;
    run->conns = calloc(n_conns, sizeof(*run->conns));
    run->latency_ms = calloc((size_t)o->total, sizeof(double));
    bench_worker *workers = calloc(n_clients, sizeof(*workers));
    pthread_t *threads = calloc(n_clients, sizeof(*threads));
    if (!run->conns || !run->latency_ms || !workers || !threads) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        goto out_free;
    }
    pthread_mutex_init(&run->first_error_lock, NULL);
    for (; opened < n_conns; opened++) {
        rc = cli_open_client(ctx, NULL, &run->conns[opened], e);
        if (rc != CLI_EXIT_OK) goto out_close;
        coord_status_resp warm;
        coord_error err = {0};
        if (coord_status(run->conns[opened], &warm, &err) != COORD_OK) {
            rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
            opened++;
            goto out_close;
        }
        coord_status_resp_free(&warm);
    }

    double start = now_ms();
    size_t started = 0;
    for (; started < n_clients; started++) {
        workers[started].run = run;
        workers[started].client = run->conns[started % n_conns];
        workers[started].rng = 0x9e3779b97f4a7c15ull * (started + 1) ^ (uint64_t)start;
        if (workers[started].rng == 0) workers[started].rng = 1;
        if (pthread_create(&threads[started], NULL, bench_thread, &workers[started]) != 0) break;
    }
    for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
    double elapsed = now_ms() - start;
    if (started < n_clients) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "cannot start %zu threads", n_clients);
        goto out_close;
    }
    print_summary(ctx->out.out, run, elapsed);
    if (run->first_error[0]) fprintf(stderr, "first error: %s\n", run->first_error);

out_close:
    for (size_t i = 0; i < opened; i++) coord_client_destroy(run->conns[i]);
    pthread_mutex_destroy(&run->first_error_lock);
out_free:
    free(threads);
    free(workers);
    free(run->latency_ms);
    free(run->conns);
    return rc;
}

int cmd_bench_put(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const bench_opts *o = opts;
    (void)pos;
    if (n_pos != 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "bench put takes no arguments");
    int rc = check_opts(o, e);
    if (rc != CLI_EXIT_OK) return rc;
    uint8_t *value = cli_pool_alloc(&ctx->pool, (size_t)o->val_size + 1);
    if (!value) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    uint64_t rng = 0x2545f4914f6cdd1dull;
    for (int64_t i = 0; i < o->val_size; i++) value[i] = (uint8_t)('a' + next_random(&rng) % 26);
    bench_run run = {.kind = BENCH_PUT, .opts = o, .value = value};
    return run_bench(ctx, &run, e);
}

int cmd_bench_range(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const bench_opts *o = opts;
    if (n_pos < 1 || n_pos > 2)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "bench range needs one argument as key and an optional argument as "
                        "range_end");
    int rc = check_opts(o, e);
    if (rc != CLI_EXIT_OK) return rc;
    get_opts g;
    get_opts_init(&g);
    g.consistency = o->consistency;
    g.prefix = o->prefix;
    bench_run run = {.kind = BENCH_RANGE, .opts = o};
    rc = build_get(&g, n_pos, pos, &ctx->pool, &run.range, e);
    if (rc != CLI_EXIT_OK) return rc;
    return run_bench(ctx, &run, e);
}
