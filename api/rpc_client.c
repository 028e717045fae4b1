/* rpc_client: synchronous unary calls and client streams on the gRPC C core. Contract in
 * rpc_client.h.
 *
 * Each call has its own pluck completion queue, so callers wait for exactly their own
 * operation (a sender and a receiver on one stream pluck different tags). grpc allows
 * send-only and receive-only batches on one call to be synchronised separately, hence one
 * mutex for each side.
 */
#include "rpc_client.h"

#include "pbx.h"
#include "rpc_common.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct method_handle {
    char *path;
    void *handle;
} method_handle;

struct rpc_channel {
    grpc_channel *channel;
    pthread_mutex_t mu; /* guards methods */
    method_handle *methods;
    size_t nmethods;
};

void rpc_buf_free(rpc_buf *b)
{
    if (!b) return;
    grpc_slice_unref(b->slice);
    memset(b, 0, sizeof(*b));
}

void rpc_reply_free(rpc_reply *r)
{
    if (!r) return;
    free(r->message);
    r->message = NULL;
    rpc_buf_free(&r->body);
}

static void buf_take(rpc_buf *b, grpc_slice s)
{
    b->slice = s;
    b->data = GRPC_SLICE_START_PTR(b->slice);
    b->len = GRPC_SLICE_LENGTH(b->slice);
}

int rpc_channel_create(const char *host_port, size_t max_recv_bytes, rpc_channel **out)
{
    rpc_channel *ch = calloc(1, sizeof(*ch));
    if (!ch) return -1;
    grpc_init();
    int max_recv = max_recv_bytes == 0 || max_recv_bytes > INT32_MAX ? -1 : (int)max_recv_bytes;
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = max_recv}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
    };
    grpc_channel_args cargs = {sizeof(args) / sizeof(args[0]), args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    ch->channel = grpc_channel_create(host_port, creds, &cargs);
    grpc_channel_credentials_release(creds);
    if (!ch->channel) {
        grpc_shutdown();
        free(ch);
        return -1;
    }
    pthread_mutex_init(&ch->mu, NULL);
    *out = ch;
    return 0;
}

void rpc_channel_destroy(rpc_channel *ch)
{
    if (!ch) return;
    grpc_channel_destroy(ch->channel);
    for (size_t i = 0; i < ch->nmethods; i++) free(ch->methods[i].path);
    free(ch->methods);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
    grpc_shutdown();
}

/* The channel's registered handle for a method path (registration saves re-parsing the path
 * on every call), or NULL when out of memory. */
static void *method_for(rpc_channel *ch, const char *path)
{
    void *handle = NULL;
    pthread_mutex_lock(&ch->mu);
    for (size_t i = 0; i < ch->nmethods && !handle; i++)
        if (strcmp(ch->methods[i].path, path) == 0) handle = ch->methods[i].handle;
    if (!handle) {
        method_handle *grown = realloc(ch->methods, (ch->nmethods + 1) * sizeof(*grown));
        char *copy = strdup(path);
        if (grown) ch->methods = grown;
        if (grown && copy) {
            handle = grpc_channel_register_call(ch->channel, copy, NULL, NULL);
            ch->methods[ch->nmethods++] = (method_handle){copy, handle};
        } else {
            free(copy);
        }
    }
    pthread_mutex_unlock(&ch->mu);
    return handle;
}

static gpr_timespec deadline_after(int64_t timeout_ms)
{
    if (timeout_ms <= 0) return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

/* Request metadata as grpc wants it; slices copied, released by md_free. */
static grpc_metadata *md_make(const rpc_call_opts *opts, size_t *count)
{
    *count = opts ? opts->md_count : 0;
    if (!*count) return NULL;
    grpc_metadata *md = calloc(*count, sizeof(*md));
    if (!md) {
        *count = 0;
        return NULL;
    }
    for (size_t i = 0; i < *count; i++) {
        md[i].key = grpc_slice_from_copied_string(opts->md[i].key);
        md[i].value = grpc_slice_from_copied_string(opts->md[i].value);
    }
    return md;
}

static void md_free(grpc_metadata *md, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        grpc_slice_unref(md[i].key);
        grpc_slice_unref(md[i].value);
    }
    free(md);
}

/* A malloc'ed copy of a status message ("" when empty); NULL only when out of memory. */
static char *copy_details(grpc_slice details)
{
    size_t n = GRPC_SLICE_LENGTH(details);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, GRPC_SLICE_START_PTR(details), n);
    s[n] = '\0';
    return s;
}

static grpc_status_code local_failure(rpc_reply *out, grpc_status_code code, const char *why)
{
    out->code = code;
    out->message = strdup(why);
    return code;
}

static grpc_status_code call_bb(rpc_channel *ch, const char *path, grpc_byte_buffer *req,
                                const rpc_call_opts *opts, rpc_reply *out)
{
    void *handle = method_for(ch, path);
    if (!handle) {
        grpc_byte_buffer_destroy(req);
        return local_failure(out, GRPC_STATUS_INTERNAL, "out of memory");
    }
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call =
        grpc_channel_create_registered_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, handle,
                                            deadline_after(opts ? opts->timeout_ms : 0), NULL);
    size_t md_count;
    grpc_metadata *md = md_make(opts, &md_count);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_byte_buffer *resp = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = md_count;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int done_tag;
    if (grpc_call_start_batch(call, ops, 6, &done_tag, NULL) == GRPC_CALL_OK) {
        /* The call's deadline bounds this wait. */
        grpc_completion_queue_pluck(cq, &done_tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        out->code = status;
        out->message = copy_details(details);
        if (status == GRPC_STATUS_OK && resp) buf_take(&out->body, rpc_flatten(resp));
    } else {
        local_failure(out, GRPC_STATUS_INTERNAL, "failed to start the call");
    }
    if (resp) grpc_byte_buffer_destroy(resp);
    grpc_byte_buffer_destroy(req);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    md_free(md, md_count);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(cq);
    return out->code;
}

grpc_status_code rpc_call(rpc_channel *ch, const char *method_path, const uint8_t *req,
                          size_t req_len, const rpc_call_opts *opts, rpc_reply *out)
{
    memset(out, 0, sizeof(*out));
    out->body.slice = grpc_empty_slice();
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return call_bb(ch, method_path, bb, opts, out);
}

grpc_status_code rpc_call_msg(rpc_channel *ch, const char *method_path,
                              const pb_msgdesc_t *req_desc, const void *req,
                              const rpc_call_opts *opts, rpc_reply *out)
{
    memset(out, 0, sizeof(*out));
    out->body.slice = grpc_empty_slice();
    grpc_byte_buffer *bb = pbx_encode_bb(req_desc, req);
    if (!bb) return local_failure(out, GRPC_STATUS_INTERNAL, "failed to encode the request");
    return call_bb(ch, method_path, bb, opts, out);
}

/* ---- streams ---- */

struct rpc_cstream {
    grpc_call *call;
    grpc_completion_queue *cq;
    /* Tags: the addresses of these bytes. */
    char tag_meta, tag_send, tag_recv, tag_status;
    grpc_metadata *md;
    size_t md_count;

    pthread_mutex_t send_mu; /* send side: one SEND_MESSAGE or close at a time */
    bool send_over;          /* half-closed, or a send failed */
    bool meta_pending;       /* SEND_INITIAL_METADATA not yet plucked */

    pthread_mutex_t recv_mu; /* receive side: the one RECV_MESSAGE */
    bool recv_pending;
    bool asked_initial_md;
    bool recv_over;
    grpc_byte_buffer *recv_bb;
    grpc_metadata_array initial_md;

    pthread_mutex_t status_mu;
    bool status_done;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array trailing_md;
};

int rpc_cstream_open(rpc_channel *ch, const char *method_path, const rpc_call_opts *opts,
                     rpc_cstream **out)
{
    void *handle = method_for(ch, method_path);
    if (!handle) return -1;
    rpc_cstream *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->call = grpc_channel_create_registered_call(
        ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, handle,
        deadline_after(opts ? opts->timeout_ms : 0), NULL);
    pthread_mutex_init(&s->send_mu, NULL);
    pthread_mutex_init(&s->recv_mu, NULL);
    pthread_mutex_init(&s->status_mu, NULL);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    s->md = md_make(opts, &s->md_count);

    grpc_op meta = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    meta.data.send_initial_metadata.count = s->md_count;
    meta.data.send_initial_metadata.metadata = s->md;
    grpc_op status = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    status.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    status.data.recv_status_on_client.status = &s->status;
    status.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &meta, 1, &s->tag_meta, NULL) == GRPC_CALL_OK)
        s->meta_pending = true;
    else
        s->send_over = true;
    if (grpc_call_start_batch(s->call, &status, 1, &s->tag_status, NULL) != GRPC_CALL_OK) {
        /* Without the status batch nothing would end the call for us: give up now. */
        rpc_cstream_cancel(s);
        s->status_done = true;
        s->status = GRPC_STATUS_INTERNAL;
        s->recv_over = s->send_over = true;
    }
    *out = s;
    return 0;
}

static bool pluck(rpc_cstream *s, void *tag, gpr_timespec deadline, bool *timed_out)
{
    grpc_event ev = grpc_completion_queue_pluck(s->cq, tag, deadline, NULL);
    if (timed_out) *timed_out = ev.type == GRPC_QUEUE_TIMEOUT;
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static int send_ops(rpc_cstream *s, grpc_op *op)
{
    pthread_mutex_lock(&s->send_mu);
    int rc = -1;
    if (!s->send_over &&
        grpc_call_start_batch(s->call, op, 1, &s->tag_send, NULL) == GRPC_CALL_OK) {
        if (pluck(s, &s->tag_send, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)) rc = 0;
    }
    if (rc != 0 || op->op == GRPC_OP_SEND_CLOSE_FROM_CLIENT) s->send_over = true;
    pthread_mutex_unlock(&s->send_mu);
    return rc;
}

static int send_bb(rpc_cstream *s, grpc_byte_buffer *bb)
{
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = bb;
    int rc = send_ops(s, &op);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int rpc_cstream_send(rpc_cstream *s, const uint8_t *msg, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)msg, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return send_bb(s, bb);
}

int rpc_cstream_send_msg(rpc_cstream *s, const pb_msgdesc_t *desc, const void *msg)
{
    grpc_byte_buffer *bb = pbx_encode_bb(desc, msg);
    if (!bb) return -1;
    return send_bb(s, bb);
}

int rpc_cstream_close_send(rpc_cstream *s)
{
    grpc_op op = {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT};
    return send_ops(s, &op);
}

int rpc_cstream_recv(rpc_cstream *s, int64_t timeout_ms, rpc_buf *out)
{
    pthread_mutex_lock(&s->recv_mu);
    int rc = RPC_RECV_END;
    if (s->recv_over) goto out_unlock;
    if (!s->recv_pending) {
        grpc_op ops[2];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        if (!s->asked_initial_md) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->recv_bb;
        if (grpc_call_start_batch(s->call, ops, n, &s->tag_recv, NULL) != GRPC_CALL_OK) {
            s->recv_over = true;
            goto out_unlock;
        }
        s->asked_initial_md = true;
        s->recv_pending = true;
    }
    gpr_timespec deadline = timeout_ms < 0
                                ? gpr_inf_future(GPR_CLOCK_REALTIME)
                                : gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                               gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    bool timed_out;
    bool ok = pluck(s, &s->tag_recv, deadline, &timed_out);
    if (timed_out) {
        rc = RPC_RECV_TIMEOUT;
        goto out_unlock;
    }
    s->recv_pending = false;
    if (ok && s->recv_bb) {
        buf_take(out, rpc_flatten(s->recv_bb));
        grpc_byte_buffer_destroy(s->recv_bb);
        s->recv_bb = NULL;
        rc = RPC_RECV_MSG;
    } else {
        s->recv_over = true;
    }
out_unlock:
    pthread_mutex_unlock(&s->recv_mu);
    return rc;
}

void rpc_cstream_cancel(rpc_cstream *s)
{
    grpc_call_cancel(s->call, NULL);
}

grpc_status_code rpc_cstream_status(rpc_cstream *s, char **message)
{
    pthread_mutex_lock(&s->status_mu);
    if (!s->status_done) {
        pluck(s, &s->tag_status, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        s->status_done = true;
    }
    if (message) *message = copy_details(s->details);
    grpc_status_code code = s->status;
    pthread_mutex_unlock(&s->status_mu);
    return code;
}

void rpc_cstream_destroy(rpc_cstream *s)
{
    if (!s) return;
    /* Cancelling a finished call does nothing; an open one ends at once, so every pending
     * operation completes and can be plucked. */
    rpc_cstream_cancel(s);
    rpc_cstream_status(s, NULL);
    if (s->recv_pending) pluck(s, &s->tag_recv, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (s->meta_pending) pluck(s, &s->tag_meta, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    md_free(s->md, s->md_count);
    grpc_call_unref(s->call);
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(s->cq);
    pthread_mutex_destroy(&s->send_mu);
    pthread_mutex_destroy(&s->recv_mu);
    pthread_mutex_destroy(&s->status_mu);
    free(s);
}
