#include "server.h"

#include "apply.h"
#include "rpc.pb.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t server_next_request_id(coord_server *s)
{
    uint64_t n = atomic_fetch_add(&s->reqid_counter, 1);
    /* The counter runs into the time bits as etcd's does; IDs stay unique for this process. */
    return s->reqid_prefix + n;
}

void server_fill_header_term(coord_server *s, etcdserverpb_ResponseHeader *h, int64_t rev,
                             uint64_t term)
{
    h->cluster_id = s->cluster_id;
    h->member_id = s->member_id;
    h->revision = rev;
    h->raft_term = term;
}

void server_fill_header(coord_server *s, etcdserverpb_ResponseHeader *h, int64_t rev)
{
    server_fill_header_term(s, h, rev, s->log ? node_term(s->log) : 0);
}

void server_fail(rpc_unary *call, coord_err e)
{
    rpc_unary_fail(call, coord_err_code(e), coord_err_message(e));
}

static void reply_when_applied(void *arg, coord_err err, grpc_byte_buffer *response)
{
    rpc_unary *call = arg;
    if (err != COORD_OK)
        server_fail(call, err);
    else
        rpc_unary_reply(call, response);
}

void server_propose(coord_server *s, rpc_unary *call, int type, const uint8_t *req, size_t len)
{
    /* etcd measures the request as it goes into its log; so do we. */
    if ((int64_t)(len + ENTRY_HEADER_LEN) > s->cfg->max_request_bytes) {
        server_fail(call, COORD_ERR_REQUEST_TOO_LARGE);
        return;
    }
    uint64_t id = server_next_request_id(s);
    size_t elen;
    uint8_t *entry = entry_build((enum entry_type)type, id, req, len, &elen);
    if (!entry) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    if (wait_register(s->waits, id, reply_when_applied, call,
                      server_now_ms() + s->request_timeout_ms) != 0) {
        free(entry);
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    int rc = node_propose(s->log, entry, elen);
    free(entry);
    /* If the node refused it, nobody will trigger the waiter: answer here, unless shutdown's
     * cancel_all got there first. */
    if (rc != 0 && wait_forget(s->waits, id)) server_fail(call, COORD_ERR_STOPPED);
}

struct deferred_read {
    coord_server *s;
    rpc_unary *call;
    server_read_fn fn;
    size_t len;
    uint8_t req[];
};

static void run_deferred_read(void *arg, coord_err err)
{
    struct deferred_read *d = arg;
    if (err != COORD_OK)
        server_fail(d->call, err);
    else
        d->fn(d->s, d->call, d->req, d->len);
    free(d);
}

void server_read(coord_server *s, rpc_unary *call, bool linearizable, server_read_fn fn,
                 const uint8_t *req, size_t len)
{
    if (!linearizable) {
        fn(s, call, req, len);
        return;
    }
    struct deferred_read *d = malloc(sizeof(*d) + len);
    if (!d) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    d->s = s;
    d->call = call;
    d->fn = fn;
    d->len = len;
    if (len) memcpy(d->req, req, len);
    if (node_read_index(s->log, run_deferred_read, d) != 0) {
        free(d);
        server_fail(call, COORD_ERR_STOPPED);
    }
}
