/* Server and client layers together on 127.0.0.1: unary, unknown methods, size limit, late
 * replies, bidi streams, vanishing clients and shutdown with open streams.
 * Run as `test_rpc --vanish PORT` it is the client that disappears mid-stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc_client.h"
#include "rpc_server.h"

#define UNARY_ECHO "/test.Echo/Unary"
#define UNARY_LATE "/test.Echo/Later"
#define UNARY_META "/test.Echo/Meta"
#define STREAM     "/test.Echo/Stream"
#define STREAM_HC  "/test.Echo/StreamHalfClose"
#define MAX_RECV   (64 * 1024)
#define WAIT_MS    10000

typedef struct fixture {
    rpc_server *srv;
    rpc_channel *ch;
    int port;
    char target[64];

    pthread_mutex_t mu;
    pthread_cond_t cond;
    int opens, closes, half_closes;
    rpc_unary *late;  /* a Later call waiting for its reply */
    rpc_stream *held; /* a half-closed stream whose replies come from another thread */
} fixture;

static grpc_byte_buffer *bb_of(const uint8_t *p, size_t n)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static void bump(fixture *fx, int *counter)
{
    pthread_mutex_lock(&fx->mu);
    (*counter)++;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->mu);
}

/* Waits (bounded) until *counter >= want; returns the value seen. */
static int wait_count(fixture *fx, int *counter, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&fx->mu);
    while (*counter < want)
        if (pthread_cond_timedwait(&fx->cond, &fx->mu, &until) == ETIMEDOUT) break;
    int v = *counter;
    pthread_mutex_unlock(&fx->mu);
    return v;
}

/* ---- server handlers ---- */

static void echo(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    (void)ctx;
    rpc_unary_reply(call, bb_of(req, len));
}

static void later(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    (void)req;
    (void)len;
    fixture *fx = ctx;
    pthread_mutex_lock(&fx->mu);
    fx->late = call;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->mu);
}

static void meta(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    (void)ctx;
    (void)req;
    (void)len;
    size_t n = 0;
    const char *v = rpc_unary_metadata(call, "token", &n);
    if (!v)
        rpc_unary_fail(call, GRPC_STATUS_NOT_FOUND, "no token");
    else
        rpc_unary_reply(call, bb_of((const uint8_t *)v, n));
}

static void s_open(void *ctx, rpc_stream *s, void **state)
{
    (void)s;
    fixture *fx = ctx;
    *state = fx;
    bump(fx, &fx->opens);
}

static void s_message(void *ctx, rpc_stream *s, void *state, const uint8_t *msg, size_t len)
{
    (void)ctx;
    (void)state;
    if (len == 6 && memcmp(msg, "finish", 6) == 0) {
        rpc_stream_finish(s, GRPC_STATUS_NOT_FOUND, "gone");
        return;
    }
    rpc_stream_send(s, bb_of(msg, len));
}

static void s_close(void *ctx, rpc_stream *s, void *state)
{
    (void)s;
    (void)state;
    fixture *fx = ctx;
    pthread_mutex_lock(&fx->mu);
    if (fx->held == s) {
        fx->held = NULL;
        rpc_stream_unref(s);
    }
    fx->closes++;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->mu);
}

/* Half-close handler: keeps the stream; another thread answers and finishes it. */
static void s_half_close(void *ctx, rpc_stream *s, void *state)
{
    (void)state;
    fixture *fx = ctx;
    rpc_stream_ref(s);
    pthread_mutex_lock(&fx->mu);
    fx->held = s;
    fx->half_closes++;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->mu);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cond, NULL);
    rpc_server_opts opts = {.threads = 2, .max_recv_bytes = MAX_RECV};
    assert_int_equal(rpc_server_create(&opts, &fx->srv), 0);
    fx->port = rpc_server_listen(fx->srv, "127.0.0.1:0");
    assert_true(fx->port > 0);
    assert_int_equal(rpc_server_add_unary(fx->srv, UNARY_ECHO, echo, fx), 0);
    assert_int_equal(rpc_server_add_unary(fx->srv, UNARY_LATE, later, fx), 0);
    assert_int_equal(rpc_server_add_unary(fx->srv, UNARY_META, meta, fx), 0);
    rpc_stream_handlers h = {.on_open = s_open, .on_message = s_message, .on_close = s_close};
    assert_int_equal(rpc_server_add_stream(fx->srv, STREAM, &h, fx), 0);
    h.on_half_close = s_half_close;
    assert_int_equal(rpc_server_add_stream(fx->srv, STREAM_HC, &h, fx), 0);
    assert_int_equal(rpc_server_start(fx->srv), 0);
    snprintf(fx->target, sizeof(fx->target), "127.0.0.1:%d", fx->port);
    assert_int_equal(rpc_channel_create(fx->target, 0, &fx->ch), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    rpc_channel_destroy(fx->ch);
    if (fx->srv) rpc_server_destroy(fx->srv);
    pthread_cond_destroy(&fx->cond);
    pthread_mutex_destroy(&fx->mu);
    free(fx);
    return 0;
}

static const rpc_call_opts call_opts = {.timeout_ms = WAIT_MS};

/* ---- unary ---- */

static void test_unary_echo_returns_the_request_bytes(void **state)
{
    fixture *fx = *state;
    rpc_reply r;
    assert_int_equal(rpc_call(fx->ch, UNARY_ECHO, (const uint8_t *)"hello", 5, &call_opts, &r),
                     GRPC_STATUS_OK);
    assert_int_equal(r.body.len, 5);
    assert_memory_equal(r.body.data, "hello", 5);
    rpc_reply_free(&r);
}

static void test_unary_echo_of_a_message_in_many_slices_is_intact(void **state)
{
    fixture *fx = *state;
    size_t n = MAX_RECV - 64;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7);
    rpc_reply r;
    assert_int_equal(rpc_call(fx->ch, UNARY_ECHO, big, n, &call_opts, &r), GRPC_STATUS_OK);
    assert_int_equal(r.body.len, n);
    assert_memory_equal(r.body.data, big, n);
    rpc_reply_free(&r);
    free(big);
}

static void test_unknown_method_gets_unimplemented(void **state)
{
    fixture *fx = *state;
    rpc_reply r;
    assert_int_equal(
        rpc_call(fx->ch, "/etcdserverpb.KV/DeleteRange", (const uint8_t *)"x", 1, &call_opts, &r),
        GRPC_STATUS_UNIMPLEMENTED);
    rpc_reply_free(&r);
}

static void test_request_over_the_limit_is_refused_and_the_server_keeps_serving(void **state)
{
    fixture *fx = *state;
    size_t n = MAX_RECV + 1024;
    uint8_t *big = calloc(1, n);
    rpc_reply r;
    assert_int_equal(rpc_call(fx->ch, UNARY_ECHO, big, n, &call_opts, &r),
                     GRPC_STATUS_RESOURCE_EXHAUSTED);
    rpc_reply_free(&r);
    free(big);
    assert_int_equal(rpc_call(fx->ch, UNARY_ECHO, (const uint8_t *)"ok", 2, &call_opts, &r),
                     GRPC_STATUS_OK);
    rpc_reply_free(&r);
}

static void test_metadata_reaches_the_handler(void **state)
{
    fixture *fx = *state;
    rpc_md md[] = {{"token", "abc.1"}};
    rpc_call_opts o = {.timeout_ms = WAIT_MS, .md = md, .md_count = 1};
    rpc_reply r;
    assert_int_equal(rpc_call(fx->ch, UNARY_META, (const uint8_t *)"", 0, &o, &r), GRPC_STATUS_OK);
    assert_int_equal(r.body.len, 5);
    assert_memory_equal(r.body.data, "abc.1", 5);
    rpc_reply_free(&r);
    assert_int_equal(rpc_call(fx->ch, UNARY_META, (const uint8_t *)"", 0, &call_opts, &r),
                     GRPC_STATUS_NOT_FOUND);
    assert_string_equal(r.message, "no token");
    rpc_reply_free(&r);
}

static void *reply_later(void *arg)
{
    fixture *fx = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&fx->mu);
    while (!fx->late)
        if (pthread_cond_timedwait(&fx->cond, &fx->mu, &until) == ETIMEDOUT) break;
    rpc_unary *call = fx->late;
    fx->late = NULL;
    pthread_mutex_unlock(&fx->mu);
    if (call) rpc_unary_reply(call, bb_of((const uint8_t *)"later", 5));
    return NULL;
}

static void test_reply_sent_later_from_another_thread_arrives(void **state)
{
    fixture *fx = *state;
    pthread_t t;
    pthread_create(&t, NULL, reply_later, fx);
    rpc_reply r;
    assert_int_equal(rpc_call(fx->ch, UNARY_LATE, (const uint8_t *)"q", 1, &call_opts, &r),
                     GRPC_STATUS_OK);
    assert_int_equal(r.body.len, 5);
    assert_memory_equal(r.body.data, "later", 5);
    rpc_reply_free(&r);
    pthread_join(t, NULL);
}

typedef struct pending_call {
    fixture *fx;
    grpc_status_code code;
} pending_call;

static void *call_later(void *arg)
{
    pending_call *p = arg;
    rpc_reply r;
    p->code = rpc_call(p->fx->ch, UNARY_LATE, (const uint8_t *)"q", 1, &call_opts, &r);
    rpc_reply_free(&r);
    return NULL;
}

/* A call still unanswered at shutdown may be answered afterwards; destroy waits for it. */
static void test_unary_answered_after_shutdown_is_dropped_and_freed(void **state)
{
    fixture *fx = *state;
    pending_call p = {fx, GRPC_STATUS_OK};
    pthread_t t;
    pthread_create(&t, NULL, call_later, &p);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&fx->mu);
    while (!fx->late)
        if (pthread_cond_timedwait(&fx->cond, &fx->mu, &until) == ETIMEDOUT) break;
    rpc_unary *call = fx->late;
    fx->late = NULL;
    pthread_mutex_unlock(&fx->mu);
    assert_non_null(call);
    rpc_server_shutdown(fx->srv);
    rpc_unary_reply(call, bb_of((const uint8_t *)"late", 4));
    rpc_server_destroy(fx->srv);
    fx->srv = NULL;
    pthread_join(t, NULL);
    assert_int_not_equal(p.code, GRPC_STATUS_OK);
}

/* ---- streams ---- */

#define MANY 2000

static void *send_many(void *arg)
{
    rpc_cstream *s = arg;
    char buf[32];
    for (int i = 0; i < MANY; i++) {
        int n = snprintf(buf, sizeof(buf), "m%d", i);
        if (rpc_cstream_send(s, (const uint8_t *)buf, (size_t)n) != 0) break;
    }
    return NULL;
}

static void test_bidi_stream_echoes_many_messages_in_order(void **state)
{
    fixture *fx = *state;
    rpc_cstream *s;
    assert_int_equal(rpc_cstream_open(fx->ch, STREAM, NULL, &s), 0);
    pthread_t sender;
    pthread_create(&sender, NULL, send_many, s);
    char want[32];
    for (int i = 0; i < MANY; i++) {
        rpc_buf b;
        assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_MSG);
        int n = snprintf(want, sizeof(want), "m%d", i);
        assert_int_equal(b.len, (size_t)n);
        assert_memory_equal(b.data, want, (size_t)n);
        rpc_buf_free(&b);
    }
    pthread_join(sender, NULL);
    assert_int_equal(rpc_cstream_close_send(s), 0);
    rpc_buf b;
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_END);
    assert_int_equal(rpc_cstream_status(s, NULL), GRPC_STATUS_OK);
    rpc_cstream_destroy(s);
    assert_int_equal(wait_count(fx, &fx->closes, 1), 1);
}

static void test_recv_with_nothing_to_read_times_out_and_the_stream_stays_usable(void **state)
{
    fixture *fx = *state;
    rpc_cstream *s;
    assert_int_equal(rpc_cstream_open(fx->ch, STREAM, NULL, &s), 0);
    rpc_buf b;
    assert_int_equal(rpc_cstream_recv(s, 50, &b), RPC_RECV_TIMEOUT);
    assert_int_equal(rpc_cstream_send(s, (const uint8_t *)"x", 1), 0);
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_MSG);
    assert_memory_equal(b.data, "x", 1);
    rpc_buf_free(&b);
    rpc_cstream_destroy(s);
}

static void test_stream_finished_by_the_server_ends_with_its_status(void **state)
{
    fixture *fx = *state;
    rpc_cstream *s;
    assert_int_equal(rpc_cstream_open(fx->ch, STREAM, NULL, &s), 0);
    assert_int_equal(rpc_cstream_send(s, (const uint8_t *)"a", 1), 0);
    assert_int_equal(rpc_cstream_send(s, (const uint8_t *)"finish", 6), 0);
    rpc_buf b;
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_MSG);
    rpc_buf_free(&b);
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_END);
    char *msg;
    assert_int_equal(rpc_cstream_status(s, &msg), GRPC_STATUS_NOT_FOUND);
    assert_string_equal(msg, "gone");
    free(msg);
    rpc_cstream_destroy(s);
    assert_int_equal(wait_count(fx, &fx->closes, 1), 1);
}

static void *answer_held_stream(void *arg)
{
    fixture *fx = arg;
    wait_count(fx, &fx->half_closes, 1);
    pthread_mutex_lock(&fx->mu);
    rpc_stream *s = fx->held;
    if (s) rpc_stream_ref(s);
    pthread_mutex_unlock(&fx->mu);
    if (!s) return NULL;
    rpc_stream_send(s, bb_of((const uint8_t *)"after", 5));
    rpc_stream_finish(s, GRPC_STATUS_OK, NULL);
    rpc_stream_unref(s);
    return NULL;
}

static void test_reply_after_client_half_close_arrives_with_on_half_close(void **state)
{
    fixture *fx = *state;
    pthread_t t;
    pthread_create(&t, NULL, answer_held_stream, fx);
    rpc_cstream *s;
    assert_int_equal(rpc_cstream_open(fx->ch, STREAM_HC, NULL, &s), 0);
    assert_int_equal(rpc_cstream_send(s, (const uint8_t *)"one", 3), 0);
    assert_int_equal(rpc_cstream_close_send(s), 0);
    rpc_buf b;
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_MSG);
    assert_memory_equal(b.data, "one", 3);
    rpc_buf_free(&b);
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_MSG);
    assert_memory_equal(b.data, "after", 5);
    rpc_buf_free(&b);
    assert_int_equal(rpc_cstream_recv(s, WAIT_MS, &b), RPC_RECV_END);
    assert_int_equal(rpc_cstream_status(s, NULL), GRPC_STATUS_OK);
    rpc_cstream_destroy(s);
    pthread_join(t, NULL);
    assert_int_equal(wait_count(fx, &fx->closes, 1), 1);
}

/* The vanishing client: a child process opens a stream, sees one echo and exits at once. */
static int vanish(const char *port)
{
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%s", port);
    rpc_channel *ch;
    rpc_cstream *s;
    if (rpc_channel_create(target, 0, &ch) || rpc_cstream_open(ch, STREAM, NULL, &s)) return 2;
    rpc_buf b;
    if (rpc_cstream_send(s, (const uint8_t *)"bye", 3) ||
        rpc_cstream_recv(s, WAIT_MS, &b) != RPC_RECV_MSG)
        return 3;
    _exit(0); /* no cleanup: the connection just drops */
}

static void test_client_vanishing_mid_stream_triggers_on_close(void **state)
{
    fixture *fx = *state;
    char port[16];
    snprintf(port, sizeof(port), "%d", fx->port);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self, self, "--vanish", port, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(wait_count(fx, &fx->opens, 1), 1);
    assert_int_equal(wait_count(fx, &fx->closes, 1), 1);
}

static void test_shutdown_with_open_streams_closes_them_all(void **state)
{
    fixture *fx = *state;
    enum { N = 3 };
    rpc_cstream *s[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(rpc_cstream_open(fx->ch, STREAM, NULL, &s[i]), 0);
        assert_int_equal(rpc_cstream_send(s[i], (const uint8_t *)"hi", 2), 0);
    }
    assert_int_equal(wait_count(fx, &fx->opens, N), N);
    rpc_server_destroy(fx->srv);
    fx->srv = NULL;
    assert_int_equal(fx->closes, N);
    for (int i = 0; i < N; i++) {
        rpc_buf b;
        int rc;
        while ((rc = rpc_cstream_recv(s[i], WAIT_MS, &b)) == RPC_RECV_MSG) rpc_buf_free(&b);
        assert_int_equal(rc, RPC_RECV_END);
        assert_int_not_equal(rpc_cstream_status(s[i], NULL), GRPC_STATUS_OK);
        rpc_cstream_destroy(s[i]);
    }
}

/* Bytes that are not HTTP/2 get that connection dropped; other clients are not disturbed. */
static void test_garbage_on_the_port_leaves_the_server_serving(void **state)
{
    fixture *fx = *state;
    const char *junk[] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                          "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\x04\x00\x00\x00\x00\x00",
                          "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_true(write(fd, junk[i], strlen(junk[i])) > 0);
        /* The client half-closes and waits for the server's answer or close (bounded). */
        shutdown(fd, SHUT_WR);
        struct timeval tv = {.tv_sec = WAIT_MS / 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[256];
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
        close(fd);
    }
    rpc_reply r;
    assert_int_equal(rpc_call(fx->ch, UNARY_ECHO, (const uint8_t *)"still", 5, &call_opts, &r),
                     GRPC_STATUS_OK);
    rpc_reply_free(&r);
}

static void test_unreachable_server_fails_the_call_with_unavailable(void **state)
{
    (void)state;
    /* A port that was free a moment ago: bind it, note it, close it. */
    rpc_server_opts o = {.threads = 1, .max_recv_bytes = 1024};
    rpc_server *tmp;
    assert_int_equal(rpc_server_create(&o, &tmp), 0);
    int port = rpc_server_listen(tmp, "127.0.0.1:0");
    assert_true(port > 0);
    rpc_server_destroy(tmp);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    rpc_channel *ch;
    assert_int_equal(rpc_channel_create(target, 0, &ch), 0);
    rpc_reply r;
    assert_int_equal(rpc_call(ch, UNARY_ECHO, (const uint8_t *)"x", 1, &call_opts, &r),
                     GRPC_STATUS_UNAVAILABLE);
    rpc_reply_free(&r);
    rpc_channel_destroy(ch);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--vanish") == 0) return vanish(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unary_echo_returns_the_request_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unary_echo_of_a_message_in_many_slices_is_intact,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method_gets_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_request_over_the_limit_is_refused_and_the_server_keeps_serving, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_reaches_the_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_sent_later_from_another_thread_arrives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unary_answered_after_shutdown_is_dropped_and_freed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidi_stream_echoes_many_messages_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_recv_with_nothing_to_read_times_out_and_the_stream_stays_usable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_finished_by_the_server_ends_with_its_status,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reply_after_client_half_close_arrives_with_on_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_vanishing_mid_stream_triggers_on_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_with_open_streams_closes_them_all, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_on_the_port_leaves_the_server_serving, setup,
                                        teardown),
        cmocka_unit_test(test_unreachable_server_fails_the_call_with_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
