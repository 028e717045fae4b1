/* endpoint status, endpoint health, member list, version. */
#include "commands.h"
#include "textfmt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef COORDCTL_VERSION
#define COORDCTL_VERSION "0.0.0"
#endif

int cmd_endpoint_status(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts, (void)n_pos, (void)pos;
    const char **eps;
    size_t n;
    int rc = cli_endpoints(ctx, &eps, &n, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_status_resp *resps = calloc(n, sizeof(*resps));
    ep_status *list = calloc(n, sizeof(*list));
    if (!resps || !list) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        goto out_free;
    }
    size_t ok = 0;
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        coord_client *c;
        coord_error err = {0};
        /* Each endpoint answers for itself: one client per endpoint, no failover. */
        rc = cli_open_client(ctx, eps[i], &c, e);
        if (rc != CLI_EXIT_OK) goto out_free;
        if (coord_status(c, &resps[ok], &err) == COORD_OK) {
            list[ok].endpoint = eps[i];
            list[ok].resp = &resps[ok];
            ok++;
        } else {
            fprintf(stderr, "Failed to get the status of endpoint %s (%s)\n", eps[i], err.message);
            failed = true;
        }
        coord_client_destroy(c);
    }
    if (print_endpoint_status(&ctx->out, list, ok) != 0)
        rc = cli_fail(e, CLI_EXIT_ERROR, "cannot format the output");
    else
        rc = failed ? cli_fail(e, CLI_EXIT_ERROR, "%s", "") : CLI_EXIT_OK;
out_free:
    for (size_t i = 0; resps && i < n; i++) coord_status_resp_free(&resps[i]);
    free(resps);
    free(list);
    return rc;
}

typedef struct health_check {
    cli_ctx *ctx;
    ep_health result;
    cli_err open_err;
} health_check;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A linearizable read of one key goes through the leader's read index: an endpoint that
 * answers it is part of a working quorum. */
static void *check_health(void *arg)
{
    health_check *h = arg;
    coord_client *c;
    if (cli_open_client(h->ctx, h->result.endpoint, &c, &h->open_err) != CLI_EXIT_OK) {
        snprintf(h->result.error, sizeof(h->result.error), "%s", h->open_err.message);
        return NULL;
    }
    coord_range_req req = {.key = coord_str("health")};
    coord_range_resp resp;
    coord_error err = {0};
    int64_t start = now_ns();
    int rc = coord_range(c, &req, &resp, &err);
    fmt_duration(h->result.took, sizeof(h->result.took), now_ns() - start);
    coord_range_resp_free(&resp);
    coord_client_destroy(c);
    /* Permission denied still proves the request went through consensus. */
    h->result.healthy = rc == COORD_OK || strcmp(err.message, "etcdserver: permission denied") == 0;
    if (!h->result.healthy) snprintf(h->result.error, sizeof(h->result.error), "%s", err.message);
    return NULL;
}

int cmd_endpoint_health(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts, (void)n_pos, (void)pos;
    const char **eps;
    size_t n;
    int rc = cli_endpoints(ctx, &eps, &n, e);
    if (rc != CLI_EXIT_OK) return rc;
    health_check *checks = calloc(n, sizeof(*checks));
    pthread_t *threads = calloc(n, sizeof(*threads));
    ep_health *list = calloc(n, sizeof(*list));
    if (!checks || !threads || !list) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        goto out_free;
    }
    /* All endpoints at once, so a dead one costs one timeout, not one each. */
    size_t started = 0;
    for (size_t i = 0; i < n; i++) {
        checks[i].ctx = ctx;
        checks[i].result.endpoint = eps[i];
        if (pthread_create(&threads[i], NULL, check_health, &checks[i]) != 0) break;
        started++;
    }
    for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
    if (started < n) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "cannot start a thread");
        goto out_free;
    }
    bool unhealthy = false;
    for (size_t i = 0; i < n; i++) {
        list[i] = checks[i].result;
        unhealthy = unhealthy || !list[i].healthy;
    }
    if (print_endpoint_health(&ctx->out, list, n) != 0)
        rc = cli_fail(e, CLI_EXIT_ERROR, "cannot format the output");
    else if (unhealthy)
        rc = cli_fail(e, CLI_EXIT_ERROR, "unhealthy cluster");
out_free:
    free(checks);
    free(threads);
    free(list);
    return rc;
}

int cmd_member_list(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts, (void)n_pos, (void)pos;
    coord_client *c;
    int rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    coord_member_list_resp resp;
    coord_error err = {0};
    if (coord_member_list(c, &resp, &err) != COORD_OK)
        rc = cli_fail_rpc(e, &err);
    else if (print_member_list(&ctx->out, &resp) != 0)
        rc = cli_fail(e, CLI_EXIT_ERROR, "cannot format the output");
    coord_member_list_resp_free(&resp);
    coord_client_destroy(c);
    return rc;
}

int cmd_version(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    (void)opts, (void)n_pos, (void)pos, (void)e;
    fprintf(ctx->out.out, "coordctl version: %s\nAPI version: 3.4\n", COORDCTL_VERSION);
    return CLI_EXIT_OK;
}
