/* libcoord's client: endpoints, channels, failover and retries around rpc_call.
 *
 * Knowing whether an endpoint is reachable: rpc_client offers calls, not connection states,
 * so an endpoint that has not answered yet (or whose last call failed UNAVAILABLE) is first
 * probed with a Maintenance.Status call bounded by the dial timeout. Only once it answers
 * does the real request go out on it; a write is therefore sent on a connection that just
 * worked, and a dead or unroutable endpoint costs the dial timeout, not the whole command
 * timeout. Status is cheap (served locally, no consensus) and answered by etcd and coord.
 */
#include "libcoord_internal.h"

#include "rpc_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_ENDPOINT           "127.0.0.1:2379"
#define DEFAULT_DIAL_TIMEOUT_MS    2000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000
#define FIRST_BACKOFF_MS           25
#define MAX_BACKOFF_MS             500

#define METHOD_RANGE       "/etcdserverpb.KV/Range"
#define METHOD_PUT         "/etcdserverpb.KV/Put"
#define METHOD_DELETE      "/etcdserverpb.KV/DeleteRange"
#define METHOD_TXN         "/etcdserverpb.KV/Txn"
#define METHOD_COMPACT     "/etcdserverpb.KV/Compact"
#define METHOD_STATUS      "/etcdserverpb.Maintenance/Status"
#define METHOD_MEMBER_LIST "/etcdserverpb.Cluster/MemberList"
#define METHOD_LIST        "/coordpb.Coord/List"

typedef struct endpoint {
    char *name;           /* as configured, for coord_client_endpoint */
    char *target;         /* "host:port" for gRPC */
    rpc_channel *channel; /* created on first use; under the client's lock */
    bool answered;        /* the last call got an answer; under the client's lock */
} endpoint;

struct coord_client {
    endpoint *endpoints;
    size_t n_endpoints;
    int64_t dial_timeout_ms;
    int64_t command_timeout_ms;
    pthread_mutex_t lock;
    size_t current; /* index of the endpoint calls go to; under lock */
};

typedef enum call_kind {
    CALL_READ,  /* may be repeated: retried on UNAVAILABLE */
    CALL_WRITE, /* retried only when it cannot have reached a server */
    CALL_PROBE, /* Status: its own reachability probe */
} call_kind;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void free_endpoints(endpoint *eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (eps[i].channel) rpc_channel_destroy(eps[i].channel);
        free(eps[i].name);
        free(eps[i].target);
    }
    free(eps);
}

static int parse_endpoint(const char *name, endpoint *ep, coord_error *err)
{
    const char *target = name;
    if (strncmp(name, "https://", 8) == 0)
        return lc_fail(err, COORD_INVALID_ARGUMENT,
                       "endpoint %s: TLS (https://) is not supported yet", name);
    if (strncmp(name, "http://", 7) == 0) target = name + 7;
    size_t len = strlen(target);
    while (len && target[len - 1] == '/') len--;
    if (len == 0) return lc_fail(err, COORD_INVALID_ARGUMENT, "empty endpoint \"%s\"", name);
    ep->name = strdup(name);
    ep->target = strndup(target, len);
    if (!ep->name || !ep->target) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    return COORD_OK;
}

int coord_client_create(const coord_config *cfg, coord_client **out, coord_error *err)
{
    static const char *const default_endpoints[] = {DEFAULT_ENDPOINT};
    const char *const *names = cfg && cfg->n_endpoints ? cfg->endpoints : default_endpoints;
    size_t n = cfg && cfg->n_endpoints ? cfg->n_endpoints : 1;
    *out = NULL;
    if (cfg && (cfg->dial_timeout_ms < 0 || cfg->command_timeout_ms < 0))
        return lc_fail(err, COORD_INVALID_ARGUMENT, "timeouts must not be negative");

    coord_client *c = calloc(1, sizeof(*c));
    endpoint *eps = calloc(n, sizeof(*eps));
    if (!c || !eps) {
        free(c);
        free(eps);
        return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int rc = names[i] ? parse_endpoint(names[i], &eps[i], err)
                          : lc_fail(err, COORD_INVALID_ARGUMENT, "endpoint %zu is NULL", i);
        if (rc != COORD_OK) {
            free_endpoints(eps, n);
            free(c);
            return rc;
        }
    }
    c->endpoints = eps;
    c->n_endpoints = n;
    c->dial_timeout_ms =
        cfg && cfg->dial_timeout_ms ? cfg->dial_timeout_ms : DEFAULT_DIAL_TIMEOUT_MS;
    c->command_timeout_ms =
        cfg && cfg->command_timeout_ms ? cfg->command_timeout_ms : DEFAULT_COMMAND_TIMEOUT_MS;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return COORD_OK;
}

void coord_client_destroy(coord_client *c)
{
    if (!c) return;
    free_endpoints(c->endpoints, c->n_endpoints);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *coord_client_endpoint(coord_client *c)
{
    pthread_mutex_lock(&c->lock);
    const char *name = c->endpoints[c->current].name;
    pthread_mutex_unlock(&c->lock);
    return name;
}

/* The current endpoint's index and channel (created if needed), and whether it answered. */
static int pick(coord_client *c, size_t *index, rpc_channel **ch, bool *answered, coord_error *err)
{
    pthread_mutex_lock(&c->lock);
    size_t i = c->current;
    endpoint *ep = &c->endpoints[i];
    if (!ep->channel && rpc_channel_create(ep->target, 0, &ep->channel) != 0) {
        pthread_mutex_unlock(&c->lock);
        return lc_fail(err, COORD_INVALID_ARGUMENT, "endpoint %s: not a usable address", ep->name);
    }
    *index = i;
    *ch = ep->channel;
    *answered = ep->answered;
    pthread_mutex_unlock(&c->lock);
    return COORD_OK;
}

static void set_answered(coord_client *c, size_t i, bool answered)
{
    pthread_mutex_lock(&c->lock);
    c->endpoints[i].answered = answered;
    pthread_mutex_unlock(&c->lock);
}

/* Moves the client off endpoint i, unless another thread already did. Returns true when a
 * full round over the endpoints has been made (time to back off). */
static bool rotate(coord_client *c, size_t i)
{
    pthread_mutex_lock(&c->lock);
    if (c->current == i) c->current = (i + 1) % c->n_endpoints;
    bool wrapped = c->current == 0 || c->n_endpoints == 1;
    pthread_mutex_unlock(&c->lock);
    return wrapped;
}

static void copy_error(coord_error *err, int code, const char *message)
{
    lc_fail(err, code, "%s", message && *message ? message : "(no message)");
}

/* gRPC core's wording for a call that found no connection to send on. */
static bool never_sent(const char *message)
{
    return message && strstr(message, "failed to connect") != NULL;
}

/* Probes endpoint i (see the top of this file). Returns COORD_OK when it answers. */
static int probe(coord_client *c, rpc_channel *ch, int64_t deadline, coord_error *err)
{
    uint8_t *req;
    size_t len;
    int rc = lc_encode_empty(&req, &len, err);
    if (rc != COORD_OK) return rc;
    int64_t left = deadline - now_ms();
    rpc_call_opts opts = {.timeout_ms = left < c->dial_timeout_ms ? left : c->dial_timeout_ms};
    rpc_reply reply;
    if (opts.timeout_ms <= 0) opts.timeout_ms = 1;
    rc = (int)rpc_call(ch, METHOD_STATUS, req, len, &opts, &reply);
    free(req);
    /* Any answer from a server, even an error, shows the connection works. */
    if (rc != COORD_UNAVAILABLE && rc != COORD_DEADLINE_EXCEEDED)
        rc = COORD_OK;
    else
        copy_error(err, rc, reply.message);
    rpc_reply_free(&reply);
    return rc;
}

/* Runs one call with failover and retries; on COORD_OK *reply holds the answer. */
static int call_within(coord_client *c, int64_t timeout_ms, const char *method, call_kind kind,
                       const uint8_t *req, size_t req_len, rpc_reply *reply, coord_error *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    int64_t backoff = FIRST_BACKOFF_MS;
    coord_error last = {COORD_DEADLINE_EXCEEDED, "context deadline exceeded"};
    for (;;) {
        size_t i = 0;
        rpc_channel *ch = NULL;
        bool answered = false;
        int rc = pick(c, &i, &ch, &answered, err);
        if (rc != COORD_OK) return rc;

        bool moved_on = false;
        if (!answered && kind != CALL_PROBE && probe(c, ch, deadline, &last) != COORD_OK) {
            moved_on = true;
        } else {
            int64_t left = deadline - now_ms();
            rpc_call_opts opts = {.timeout_ms = left > 0 ? left : 1};
            /* Status stands for its own probe: it too must not wait past the dial timeout. */
            if (kind == CALL_PROBE && !answered && opts.timeout_ms > c->dial_timeout_ms)
                opts.timeout_ms = c->dial_timeout_ms;
            rc = (int)rpc_call(ch, method, req, req_len, &opts, reply);
            if (rc == COORD_OK) {
                set_answered(c, i, true);
                return COORD_OK;
            }
            bool unavailable = rc == COORD_UNAVAILABLE;
            bool dial_timeout = rc == COORD_DEADLINE_EXCEEDED && kind == CALL_PROBE && !answered &&
                                now_ms() < deadline;
            copy_error(&last, rc, reply->message);
            if (unavailable || dial_timeout) set_answered(c, i, false);
            bool retry =
                (unavailable && (kind != CALL_WRITE || never_sent(reply->message))) || dial_timeout;
            if (!retry) {
                if (rc == COORD_DEADLINE_EXCEEDED)
                    lc_fail(err, rc, "context deadline exceeded");
                else
                    *err = last;
                rpc_reply_free(reply);
                return rc;
            }
            rpc_reply_free(reply);
            moved_on = true;
        }
        if (moved_on && rotate(c, i)) {
            int64_t left = deadline - now_ms();
            if (left <= backoff) {
                /* No time for another round: fail at the deadline, not before it. */
                if (left > 0) sleep_ms(left);
                break;
            }
            sleep_ms(backoff);
            backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
        }
        if (now_ms() >= deadline) break;
    }
    /* Out of time while retrying: etcdctl's words for it, whatever the last failure was. */
    return lc_fail(err, COORD_DEADLINE_EXCEEDED, "context deadline exceeded");
}

static int call(coord_client *c, const char *method, call_kind kind, const uint8_t *req,
                size_t req_len, rpc_reply *reply, coord_error *err)
{
    return call_within(c, c->command_timeout_ms, method, kind, req, req_len, reply, err);
}

int lc_call(coord_client *c, const char *method, bool write, int64_t timeout_ms,
            const uint8_t *req, size_t req_len, rpc_reply *reply, coord_error *err)
{
    return call_within(c, timeout_ms > 0 ? timeout_ms : c->command_timeout_ms, method,
                       write ? CALL_WRITE : CALL_READ, req, req_len, reply, err);
}

int lc_channel(coord_client *c, rpc_channel **ch, coord_error *err)
{
    size_t i;
    bool answered;
    return pick(c, &i, ch, &answered, err);
}

int64_t lc_command_timeout_ms(coord_client *c)
{
    return c->command_timeout_ms;
}

/* Encodes, calls, decodes: the shape of every public call. */
#define RUN_CALL(method, kind, encode_expr, decode_fn, resp)                                       \
    do {                                                                                           \
        uint8_t *req_buf;                                                                          \
        size_t req_len;                                                                            \
        coord_error local_;                                                                        \
        if (!err) err = &local_;                                                                   \
        err->code = COORD_OK;                                                                      \
        err->message[0] = '\0';                                                                    \
        int rc_ = (encode_expr);                                                                   \
        if (rc_ != COORD_OK) return rc_;                                                           \
        rpc_reply reply_;                                                                          \
        rc_ = call(c, method, kind, req_buf, req_len, &reply_, err);                               \
        free(req_buf);                                                                             \
        if (rc_ != COORD_OK) return rc_;                                                           \
        rc_ = decode_fn(reply_.body.data, reply_.body.len, resp, err);                             \
        rpc_reply_free(&reply_);                                                                   \
        return rc_;                                                                                \
    } while (0)

int coord_range(coord_client *c, const coord_range_req *req, coord_range_resp *resp,
                coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_RANGE, CALL_READ, lc_encode_range(req, &req_buf, &req_len, err),
             lc_decode_range, resp);
}

int coord_put(coord_client *c, const coord_put_req *req, coord_put_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_PUT, CALL_WRITE, lc_encode_put(req, &req_buf, &req_len, err), lc_decode_put,
             resp);
}

int coord_delete(coord_client *c, const coord_delete_req *req, coord_delete_resp *resp,
                 coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_DELETE, CALL_WRITE, lc_encode_delete(req, &req_buf, &req_len, err),
             lc_decode_delete, resp);
}

int coord_txn(coord_client *c, const coord_txn_req *req, coord_txn_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_TXN, CALL_WRITE, lc_encode_txn(req, &req_buf, &req_len, err), lc_decode_txn,
             resp);
}

int coord_compact(coord_client *c, int64_t revision, bool physical, coord_header *header,
                  coord_error *err)
{
    RUN_CALL(METHOD_COMPACT, CALL_WRITE,
             lc_encode_compact(revision, physical, &req_buf, &req_len, err), lc_decode_compact,
             header);
}

int coord_status(coord_client *c, coord_status_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_STATUS, CALL_PROBE, lc_encode_empty(&req_buf, &req_len, err), lc_decode_status,
             resp);
}

int coord_member_list(coord_client *c, coord_member_list_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_MEMBER_LIST, CALL_READ, lc_encode_empty(&req_buf, &req_len, err),
             lc_decode_member_list, resp);
}

int coord_list(coord_client *c, const coord_list_req *req, coord_list_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    RUN_CALL(METHOD_LIST, CALL_READ, lc_encode_list(req, &req_buf, &req_len, err), lc_decode_list,
             resp);
}
