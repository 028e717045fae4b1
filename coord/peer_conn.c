/* peer_conn: a client stream on the gRPC C core. Contract in peer_conn.h.
 *
 * Each link has its own pluck completion queue; the one thread that sends is the only one
 * waiting on it, so tags are just addresses of bytes in the object.
 */
#include "peer_conn.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How long a failed call may take to deliver its status before we stop waiting for the
 * server's own reason and cancel it ourselves. */
#define STATUS_WAIT_MS 1000

struct peer_conn {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    grpc_call *call;
    char tag_meta, tag_send, tag_recv, tag_status; /* tags: the addresses of these bytes */
    bool meta_pending;                             /* SEND_INITIAL_METADATA not yet plucked */
    bool asked_initial_md;                         /* RECV_INITIAL_METADATA was requested */
    grpc_metadata_array initial;
    bool status_pending; /* RECV_STATUS_ON_CLIENT not yet plucked */
    bool over;           /* a batch failed: no more sends */
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array trailing;
};

static gpr_timespec after_ms(int64_t ms)
{
    if (ms < 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Waits for tag until deadline. Returns 1 on success, 0 on a failed operation, -1 on timeout. */
static int pluck(peer_conn *c, void *tag, gpr_timespec deadline)
{
    grpc_event ev = grpc_completion_queue_pluck(c->cq, tag, deadline, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) return -1;
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

int peer_conn_open(const char *host_port, const char *method_path, peer_conn **out)
{
    peer_conn *c = calloc(1, sizeof(*c));
    if (!c) return -1;
    grpc_init();
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = -1}},
        /* gRPC's own reconnects: start at 50 ms, never wait more than 1 s between attempts,
         * and give up on one connect attempt after 1 s (MIN_RECONNECT is the connect timeout). */
        {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 50}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = 1000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 1000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, {.integer = 1}},
        /* A peer that vanished without closing its connection is noticed within ~30 s (Raft
         * notices a dead leader sooner by its own heartbeats). A ping every 10 s stays above our
         * servers' 5 s minimum, and 20 s to answer (etcd's keepalive timeout) keeps a busy
         * machine from cutting a healthy link: a 5 s limit did under load. */
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 10000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 20000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}},
        /* Retries would keep a copy of every message sent on the stream; Raft retries itself. */
        {GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
    };
    grpc_channel_args cargs = {sizeof(args) / sizeof(args[0]), args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(host_port, creds, &cargs);
    grpc_channel_credentials_release(creds);
    if (!c->channel) goto fail_shutdown_grpc;

    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->trailing);
    grpc_metadata_array_init(&c->initial);
    grpc_slice method = grpc_slice_from_static_string(method_path);
    c->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, method,
                                       NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!c->call) goto fail_destroy_cq;

    grpc_op meta = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    grpc_op status = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    status.data.recv_status_on_client.trailing_metadata = &c->trailing;
    status.data.recv_status_on_client.status = &c->status;
    status.data.recv_status_on_client.status_details = &c->details;
    if (grpc_call_start_batch(c->call, &meta, 1, &c->tag_meta, NULL) == GRPC_CALL_OK)
        c->meta_pending = true;
    else
        c->over = true;
    if (grpc_call_start_batch(c->call, &status, 1, &c->tag_status, NULL) == GRPC_CALL_OK) {
        c->status_pending = true;
    } else {
        /* Nothing would tell us the call ended: treat it as over from the start. */
        c->over = true;
        c->status = GRPC_STATUS_INTERNAL;
        grpc_call_cancel(c->call, NULL);
    }
    *out = c;
    return 0;

fail_destroy_cq:
    grpc_metadata_array_destroy(&c->trailing);
    grpc_metadata_array_destroy(&c->initial);
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_destroy(c->channel);
fail_shutdown_grpc:
    grpc_shutdown();
    free(c);
    return -1;
}

int peer_conn_send(peer_conn *c, const uint8_t *msg, size_t len, int64_t stall_ms)
{
    if (c->over) return -1;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)msg, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = bb;
    int ok = 0;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_send, NULL) == GRPC_CALL_OK) {
        ok = pluck(c, &c->tag_send, after_ms(stall_ms));
        if (ok < 0) { /* stalled: end the call; the send then completes, failed */
            grpc_call_cancel(c->call, NULL);
            pluck(c, &c->tag_send, gpr_inf_future(GPR_CLOCK_REALTIME));
            ok = 0;
        }
    }
    grpc_byte_buffer_destroy(bb);
    if (ok != 1) c->over = true;
    return ok == 1 ? 0 : -1;
}

int peer_conn_recv(peer_conn *c, int64_t timeout_ms)
{
    if (c->over) return -1;
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!c->asked_initial_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &bb;
    int ok = 0;
    if (grpc_call_start_batch(c->call, ops, n, &c->tag_recv, NULL) == GRPC_CALL_OK) {
        c->asked_initial_md = true;
        ok = pluck(c, &c->tag_recv, after_ms(timeout_ms));
        if (ok < 0) {
            grpc_call_cancel(c->call, NULL);
            pluck(c, &c->tag_recv, gpr_inf_future(GPR_CLOCK_REALTIME));
            ok = 0;
        }
    }
    bool got = ok == 1 && bb; /* no message: the server ended the stream */
    if (bb) grpc_byte_buffer_destroy(bb);
    if (!got) c->over = true;
    return got ? 0 : -1;
}

void peer_conn_cancel(peer_conn *c)
{
    grpc_call_cancel(c->call, NULL);
}

static void wait_status(peer_conn *c)
{
    if (!c->status_pending) return;
    if (pluck(c, &c->tag_status, after_ms(STATUS_WAIT_MS)) < 0) {
        grpc_call_cancel(c->call, NULL);
        pluck(c, &c->tag_status, gpr_inf_future(GPR_CLOCK_REALTIME));
    }
    c->status_pending = false;
}

grpc_status_code peer_conn_status(peer_conn *c, char **message)
{
    wait_status(c);
    if (message) {
        size_t n = GRPC_SLICE_LENGTH(c->details);
        *message = malloc(n + 1);
        if (*message) {
            if (n) memcpy(*message, GRPC_SLICE_START_PTR(c->details), n);
            (*message)[n] = '\0';
        }
    }
    return c->status;
}

void peer_conn_close(peer_conn *c)
{
    if (!c) return;
    /* Cancelling ends an open call at once, so every pending operation completes. */
    grpc_call_cancel(c->call, NULL);
    wait_status(c);
    if (c->meta_pending) pluck(c, &c->tag_meta, gpr_inf_future(GPR_CLOCK_REALTIME));
    grpc_call_unref(c->call);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->trailing);
    grpc_metadata_array_destroy(&c->initial);
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_destroy(c->channel);
    grpc_shutdown();
    free(c);
}
