/* The peer transport: members in one process on 127.0.0.1, each with its own rpc_server, plus
 * raw client streams that speak coordpb.Raft/Stream directly to play a foreign or broken peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord.pb.h"
#include "pbx.h"
#include "peer.h"
#include "raft.h"
#include "rpc_client.h"
#include "rpc_server.h"

#define CLUSTER 0x1234abcdULL
#define WAIT_MS 10000

typedef struct received {
    uint64_t from;
    uint8_t *bytes;
    size_t len;
    bool decoded; /* raft_msg_decode accepted it */
} received;

/* One member: its server, its transport, and what reached it. */
typedef struct member {
    uint64_t id;
    uint64_t cluster_id;
    int port;
    rpc_server *srv;
    peer_transport *t;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    received *got;
    size_t ngot, capgot;
    int unreachable[4]; /* reports, by the reported member's id (tests use ids 1..3) */
    bool hold;          /* deliver waits while set */
} member;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void deliver(void *arg, uint64_t from, const uint8_t *msg, size_t len)
{
    member *m = arg;
    raft_msg rm;
    bool decoded = raft_msg_decode(msg, len, &rm) == 0;
    if (decoded) raft_msg_free(&rm);
    pthread_mutex_lock(&m->mu);
    while (m->hold) pthread_cond_wait(&m->cond, &m->mu);
    /* Runs on a server thread, where a cmocka assertion cannot unwind: abort instead. */
    if (m->ngot == m->capgot) {
        m->capgot = m->capgot ? m->capgot * 2 : 64;
        m->got = realloc(m->got, m->capgot * sizeof(*m->got));
        if (!m->got) abort();
    }
    received *r = &m->got[m->ngot++];
    r->from = from;
    r->len = len;
    r->bytes = malloc(len ? len : 1);
    if (!r->bytes) abort();
    if (len) memcpy(r->bytes, msg, len);
    r->decoded = decoded;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

static void unreachable(void *arg, uint64_t to)
{
    member *m = arg;
    pthread_mutex_lock(&m->mu);
    if (to < 4) m->unreachable[to]++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

static void member_init(member *m, uint64_t id, uint64_t cluster_id, size_t max_queue_bytes)
{
    memset(m, 0, sizeof(*m));
    m->id = id;
    m->cluster_id = cluster_id;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    peer_opts o = {.cluster_id = cluster_id,
                   .self_id = id,
                   .deliver = deliver,
                   .unreachable = unreachable,
                   .arg = m,
                   .max_queue_bytes = max_queue_bytes};
    assert_int_equal(peer_create(&o, &m->t), 0);
}

/* Starts the member's server on port (0: any free one). */
static void member_listen(member *m, int port)
{
    rpc_server_opts so = {.threads = 1, .max_recv_bytes = PEER_MAX_RECV_BYTES};
    assert_int_equal(rpc_server_create(&so, &m->srv), 0);
    assert_int_equal(peer_register(m->t, m->srv), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    m->port = rpc_server_listen(m->srv, addr);
    assert_true(m->port > 0);
    assert_int_equal(rpc_server_start(m->srv), 0);
}

static void member_start(member *m, uint64_t id, uint64_t cluster_id)
{
    member_init(m, id, cluster_id, 0);
    member_listen(m, 0);
}

static void member_stop_server(member *m)
{
    if (m->srv) rpc_server_shutdown(m->srv);
}

static void member_free(member *m)
{
    member_stop_server(m);
    peer_destroy(m->t);
    if (m->srv) rpc_server_destroy(m->srv);
    for (size_t i = 0; i < m->ngot; i++) free(m->got[i].bytes);
    free(m->got);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
}

static void add_peer(member *from, const member *to)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", to->port);
    assert_int_equal(peer_add(from->t, to->id, addr), 0);
}

/* Waits until member m has received at least n messages; returns how many it has. */
static size_t wait_received(member *m, size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&m->mu);
    while (m->ngot < n)
        if (pthread_cond_timedwait(&m->cond, &m->mu, &until) == ETIMEDOUT) break;
    size_t got = m->ngot;
    pthread_mutex_unlock(&m->mu);
    return got;
}

static size_t count_received(member *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->ngot;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static int count_unreachable(member *m, uint64_t to)
{
    pthread_mutex_lock(&m->mu);
    int n = m->unreachable[to];
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* Sends to `to` until it is reported unreachable; returns whether it was. */
static bool send_until_unreachable(member *m, uint64_t to)
{
    for (int64_t until = now_ms() + WAIT_MS; now_ms() < until; pause_ms(5)) {
        if (count_unreachable(m, to) > 0) return true;
        peer_send(m->t, to, (const uint8_t *)"x", 1);
    }
    return false;
}

static int wait_unreachable(member *m, uint64_t to)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&m->mu);
    while (m->unreachable[to] == 0)
        if (pthread_cond_timedwait(&m->cond, &m->mu, &until) == ETIMEDOUT) break;
    int n = m->unreachable[to];
    pthread_mutex_unlock(&m->mu);
    return n;
}

static bool is_up(member *m, uint64_t to)
{
    peer_stats st;
    return peer_get_stats(m->t, to, &st) == 0 && st.up;
}

/* Polls until from's link to `to` is up (the peer accepted the stream). */
static bool wait_up(member *m, uint64_t to)
{
    for (int64_t until = now_ms() + WAIT_MS; now_ms() < until; pause_ms(2))
        if (is_up(m, to)) return true;
    return false;
}

/* A message that carries its sequence number and a length that varies with it. */
static size_t seq_msg(uint8_t *buf, uint32_t seq)
{
    size_t len = 4 + seq % 97;
    memcpy(buf, &seq, 4);
    for (size_t i = 4; i < len; i++) buf[i] = (uint8_t)(seq + i);
    return len;
}

static void assert_seq_msgs(member *m, uint64_t from, uint32_t n)
{
    assert_int_equal(wait_received(m, n), n);
    pthread_mutex_lock(&m->mu);
    uint8_t want[128];
    for (uint32_t i = 0; i < n; i++) {
        size_t len = seq_msg(want, i);
        assert_int_equal(m->got[i].from, from);
        assert_int_equal(m->got[i].len, len);
        assert_memory_equal(m->got[i].bytes, want, len);
    }
    pthread_mutex_unlock(&m->mu);
}

/* A port nothing listens on (bound and released at once). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- a raw client stream, for what our own transport never sends ---- */

typedef struct raw {
    rpc_channel *ch;
    rpc_cstream *s;
} raw;

static void raw_open(raw *r, const member *to)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", to->port);
    assert_int_equal(rpc_channel_create(addr, 0, &r->ch), 0);
    rpc_call_opts o = {.timeout_ms = WAIT_MS};
    assert_int_equal(rpc_cstream_open(r->ch, PEER_RAFT_METHOD, &o, &r->s), 0);
}

static void raw_send_batch(raw *r, uint64_t cluster_id, uint64_t from, uint64_t to,
                           const char *const *msgs, size_t n)
{
    pbx_bytes_t items[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        items[i] = (pbx_bytes_t){(const uint8_t *)msgs[i], strlen(msgs[i])};
    coordpb_RaftBatch b = {.cluster_id = cluster_id, .from = from, .to = to};
    b.msgs.items = items;
    b.msgs.count = n;
    assert_int_equal(rpc_cstream_send_msg(r->s, &coordpb_RaftBatch_msg, &b), 0);
}

/* Waits for the stream's end; returns its status and (caller frees) message. */
static grpc_status_code raw_end(raw *r, char **message)
{
    rpc_buf b;
    int rc;
    while ((rc = rpc_cstream_recv(r->s, WAIT_MS, &b)) == RPC_RECV_MSG) rpc_buf_free(&b);
    assert_int_equal(rc, RPC_RECV_END);
    return rpc_cstream_status(r->s, message);
}

static void raw_close(raw *r)
{
    rpc_cstream_destroy(r->s);
    rpc_channel_destroy(r->ch);
}

/* ---- tests ---- */

static void test_messages_flow_both_ways_in_order(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    add_peer(&b, &a);
    assert_true(wait_up(&a, 2));
    assert_true(wait_up(&b, 1));

    enum { N = 5000 };
    uint8_t buf[128];
    for (uint32_t i = 0; i < N; i++) {
        size_t len = seq_msg(buf, i);
        assert_int_equal(peer_send(a.t, 2, buf, len), 0);
        assert_int_equal(peer_send(b.t, 1, buf, len), 0);
    }
    assert_seq_msgs(&b, 1, N);
    assert_seq_msgs(&a, 2, N);
    member_free(&a);
    member_free(&b);
}

typedef struct enc_arg {
    const raft_msg *m;
} enc_arg;

static bool encode_raft(void *arg, uint8_t *dst, size_t len)
{
    return raft_msg_encode(((enc_arg *)arg)->m, dst, len) == len;
}

static void test_a_message_encoded_in_place_arrives_and_decodes(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));

    raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 7, .commit = 42};
    enc_arg ea = {&m};
    assert_int_equal(peer_send_encoded(a.t, 2, raft_msg_encoded_size(&m), encode_raft, &ea), 0);
    assert_int_equal(wait_received(&b, 1), 1);
    raft_msg got;
    assert_int_equal(raft_msg_decode(b.got[0].bytes, b.got[0].len, &got), 0);
    assert_int_equal(got.type, RAFT_MSG_HEARTBEAT);
    assert_int_equal(got.term, 7);
    assert_int_equal(got.commit, 42);
    raft_msg_free(&got);
    member_free(&a);
    member_free(&b);
}

static void test_a_message_larger_than_a_batch_arrives_whole_between_small_ones(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));

    size_t big_len = 3 * PEER_BATCH_MAX_BYTES + 17;
    uint8_t *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++) big[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(peer_send(a.t, 2, (const uint8_t *)"before", 6), 0);
    assert_int_equal(peer_send(a.t, 2, big, big_len), 0);
    assert_int_equal(peer_send(a.t, 2, (const uint8_t *)"after", 5), 0);
    assert_int_equal(wait_received(&b, 3), 3);
    assert_int_equal(b.got[0].len, 6);
    assert_int_equal(b.got[1].len, big_len);
    assert_memory_equal(b.got[1].bytes, big, big_len);
    assert_int_equal(b.got[2].len, 5);
    free(big);
    member_free(&a);
    member_free(&b);
}

static void test_a_batch_from_another_cluster_is_refused_and_never_delivered(void **state)
{
    (void)state;
    member b;
    member_start(&b, 2, CLUSTER);
    raw r;
    raw_open(&r, &b);
    const char *msgs[] = {"foreign-1", "foreign-2"};
    raw_send_batch(&r, CLUSTER + 1, 1, 2, msgs, 2);
    char *why = NULL;
    assert_int_equal(raw_end(&r, &why), GRPC_STATUS_FAILED_PRECONDITION);
    assert_string_equal(why, "etcdserver: cluster ID mismatch");
    free(why);
    raw_close(&r);

    /* A batch from our own cluster, sent after, arrives; the foreign ones never did. */
    raw_open(&r, &b);
    const char *ours[] = {"ours"};
    raw_send_batch(&r, CLUSTER, 1, 2, ours, 1);
    assert_int_equal(wait_received(&b, 1), 1);
    raw_close(&r);
    assert_int_equal(count_received(&b), 1);
    assert_int_equal(b.got[0].len, 4);
    assert_memory_equal(b.got[0].bytes, "ours", 4);
    member_free(&b);
}

static void test_a_transport_of_another_cluster_never_comes_up_and_is_reported(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER + 1);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    /* Every attempt is refused at the hello, so sends are dropped and reported. */
    assert_true(send_until_unreachable(&a, 2));
    assert_false(is_up(&a, 2));
    assert_int_equal(count_received(&b), 0);
    member_free(&a);
    member_free(&b);
}

static void test_a_batch_for_another_member_is_refused(void **state)
{
    (void)state;
    member b;
    member_start(&b, 2, CLUSTER);
    raw r;
    raw_open(&r, &b);
    const char *msgs[] = {"misaddressed"};
    raw_send_batch(&r, CLUSTER, 1, 3, msgs, 1);
    char *why = NULL;
    assert_int_equal(raw_end(&r, &why), GRPC_STATUS_FAILED_PRECONDITION);
    assert_string_equal(why, "coord: member ID mismatch");
    free(why);
    raw_close(&r);
    assert_int_equal(count_received(&b), 0);
    member_free(&b);
}

static void test_the_hello_is_answered_with_a_raft_accept(void **state)
{
    (void)state;
    member b;
    member_start(&b, 2, CLUSTER);
    raw r;
    raw_open(&r, &b);
    raw_send_batch(&r, CLUSTER, 1, 2, NULL, 0);
    rpc_buf reply;
    assert_int_equal(rpc_cstream_recv(r.s, WAIT_MS, &reply), RPC_RECV_MSG);
    coordpb_RaftAccept acc;
    assert_int_equal(pbx_decode(&coordpb_RaftAccept_msg, &acc, reply.data, reply.len), 0);
    rpc_buf_free(&reply);
    raw_close(&r);
    assert_int_equal(count_received(&b), 0);
    member_free(&b);
}

static void
test_garbage_raft_messages_are_delivered_as_bytes_and_rejected_by_raft_decode(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));

    static const uint8_t junk[] = {0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x80};
    raft_msg m = {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 3};
    uint8_t enc[256];
    size_t enc_len = raft_msg_encode(&m, enc, sizeof(enc));
    assert_true(enc_len > 0);
    assert_int_equal(peer_send(a.t, 2, junk, sizeof(junk)), 0);
    assert_int_equal(peer_send(a.t, 2, junk, 0), 0);
    assert_int_equal(peer_send(a.t, 2, enc, enc_len), 0);

    assert_int_equal(wait_received(&b, 3), 3);
    assert_int_equal(b.got[0].len, sizeof(junk));
    assert_memory_equal(b.got[0].bytes, junk, sizeof(junk));
    assert_false(b.got[0].decoded);
    assert_int_equal(b.got[1].len, 0);
    assert_false(b.got[1].decoded);
    assert_true(b.got[2].decoded);
    assert_true(is_up(&a, 2));
    member_free(&a);
    member_free(&b);
}

static void test_a_stream_carrying_bytes_that_are_not_a_batch_ends_and_others_go_on(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));

    raw r;
    raw_open(&r, &b);
    static const uint8_t junk[] = {0x22, 0xff, 0xff, 0xff, 0x0f, 0x01}; /* msgs, length 2^32 */
    assert_int_equal(rpc_cstream_send(r.s, junk, sizeof(junk)), 0);
    char *why = NULL;
    assert_int_equal(raw_end(&r, &why), GRPC_STATUS_INVALID_ARGUMENT);
    free(why);
    raw_close(&r);

    assert_int_equal(peer_send(a.t, 2, (const uint8_t *)"still", 5), 0);
    assert_int_equal(wait_received(&b, 1), 1);
    assert_memory_equal(b.got[0].bytes, "still", 5);
    member_free(&a);
    member_free(&b);
}

static void test_sends_to_a_down_peer_are_dropped_and_reported_then_it_reconnects(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_init(&b, 2, CLUSTER, 0);
    int port = free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(peer_add(a.t, 2, addr), 0);

    /* Nothing blocks: a thousand sends return, most of them dropped at once. */
    int dropped = 0;
    for (int i = 0; i < 1000; i++)
        if (peer_send(a.t, 2, (const uint8_t *)"lost", 4) != 0) dropped++;
    assert_true(wait_unreachable(&a, 2) > 0);
    peer_stats st;
    assert_int_equal(peer_get_stats(a.t, 2, &st), 0);
    assert_false(st.up);
    assert_true(st.dropped >= (uint64_t)dropped);
    assert_true(st.dropped > 0);

    /* The peer starts where it was expected: the sender finds it by itself. */
    member_listen(&b, port);
    bool arrived = false;
    for (int64_t until = now_ms() + WAIT_MS; now_ms() < until && !arrived; pause_ms(5)) {
        peer_send(a.t, 2, (const uint8_t *)"hello", 5);
        arrived = count_received(&b) > 0;
    }
    assert_true(arrived);
    assert_memory_equal(b.got[0].bytes, "hello", 5);
    member_free(&a);
    member_free(&b);
}

static void test_a_peer_that_restarts_is_reached_again(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));
    int port = b.port;

    member_free(&b);
    member_init(&b, 2, CLUSTER, 0);
    member_listen(&b, port);
    bool arrived = false;
    for (int64_t until = now_ms() + WAIT_MS; now_ms() < until && !arrived; pause_ms(5)) {
        peer_send(a.t, 2, (const uint8_t *)"again", 5);
        arrived = count_received(&b) > 0;
    }
    assert_true(arrived);
    peer_stats st;
    assert_int_equal(peer_get_stats(a.t, 2, &st), 0);
    assert_true(st.reconnects >= 1);
    member_free(&a);
    member_free(&b);
}

static void test_readding_a_peer_with_a_new_address_reaches_it_there(void **state)
{
    (void)state;
    member a, b;
    member_start(&a, 1, CLUSTER);
    member_start(&b, 2, CLUSTER);
    char wrong[64];
    snprintf(wrong, sizeof(wrong), "127.0.0.1:%d", free_port());
    assert_int_equal(peer_add(a.t, 2, wrong), 0);
    assert_true(send_until_unreachable(&a, 2));
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));
    assert_int_equal(peer_send(a.t, 2, (const uint8_t *)"moved", 5), 0);
    assert_int_equal(wait_received(&b, 1), 1);
    member_free(&a);
    member_free(&b);
}

static void test_a_full_queue_drops_the_message_and_reports_the_peer(void **state)
{
    (void)state;
    member a, b;
    member_init(&a, 1, CLUSTER, 2 * PEER_BATCH_MAX_BYTES);
    member_listen(&a, 0);
    member_start(&b, 2, CLUSTER);
    add_peer(&a, &b);
    assert_true(wait_up(&a, 2));

    /* b stops taking messages: flow control stalls a's sender and its queue fills. */
    pthread_mutex_lock(&b.mu);
    b.hold = true;
    pthread_mutex_unlock(&b.mu);
    enum { MSG = 256 * 1024 };
    uint8_t *msg = calloc(1, MSG);
    assert_non_null(msg);
    int sent = 0;
    bool refused = false;
    for (int i = 0; i < 4096 && !refused; i++) {
        if (peer_send(a.t, 2, msg, MSG) == 0)
            sent++;
        else
            refused = true;
    }
    assert_true(refused);
    assert_true(is_up(&a, 2)); /* refused for the bound, not for a broken link */
    assert_true(wait_unreachable(&a, 2) > 0);

    pthread_mutex_lock(&b.mu);
    b.hold = false;
    pthread_cond_broadcast(&b.cond);
    pthread_mutex_unlock(&b.mu);
    /* Everything queued before the bound still arrives. */
    assert_int_equal(wait_received(&b, (size_t)sent), sent);
    peer_stats st;
    assert_int_equal(peer_get_stats(a.t, 2, &st), 0);
    assert_int_equal(st.dropped, 1);
    free(msg);
    member_free(&a);
    member_free(&b);
}

static void test_sending_to_an_unknown_member_fails(void **state)
{
    (void)state;
    member a;
    member_start(&a, 1, CLUSTER);
    assert_int_equal(peer_send(a.t, 3, (const uint8_t *)"x", 1), -1);
    assert_int_equal(peer_add(a.t, 1, "127.0.0.1:1"), -1);
    assert_int_equal(peer_add(a.t, 0, "127.0.0.1:1"), -1);
    member_free(&a);
}

typedef struct pump {
    member *m;
    volatile int stop;
} pump;

static void *pump_main(void *arg)
{
    pump *p = arg;
    uint8_t buf[128];
    for (uint32_t i = 0; !p->stop; i++) {
        size_t len = seq_msg(buf, i);
        peer_send(p->m->t, 2, buf, len);
        peer_send(p->m->t, 3, buf, len);
        if (i % 256 == 0) sched_yield();
    }
    return NULL;
}

static void test_destroy_with_live_streams_and_queued_messages_is_clean(void **state)
{
    (void)state;
    member m[3];
    for (int i = 0; i < 3; i++) member_start(&m[i], (uint64_t)i + 1, CLUSTER);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j) add_peer(&m[i], &m[j]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j) assert_true(wait_up(&m[i], (uint64_t)j + 1));

    pump p = {.m = &m[0]};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pump_main, &p), 0);
    assert_true(wait_received(&m[1], 1000) >= 1000);
    p.stop = 1;
    pthread_join(th, NULL);
    /* Streams are open and a's queues may still hold batches. */
    for (int i = 0; i < 3; i++) member_stop_server(&m[i]);
    for (int i = 0; i < 3; i++) member_free(&m[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_flow_both_ways_in_order),
        cmocka_unit_test(test_a_message_encoded_in_place_arrives_and_decodes),
        cmocka_unit_test(test_a_message_larger_than_a_batch_arrives_whole_between_small_ones),
        cmocka_unit_test(test_a_batch_from_another_cluster_is_refused_and_never_delivered),
        cmocka_unit_test(test_a_transport_of_another_cluster_never_comes_up_and_is_reported),
        cmocka_unit_test(test_a_batch_for_another_member_is_refused),
        cmocka_unit_test(test_the_hello_is_answered_with_a_raft_accept),
        cmocka_unit_test(
            test_garbage_raft_messages_are_delivered_as_bytes_and_rejected_by_raft_decode),
        cmocka_unit_test(test_a_stream_carrying_bytes_that_are_not_a_batch_ends_and_others_go_on),
        cmocka_unit_test(test_sends_to_a_down_peer_are_dropped_and_reported_then_it_reconnects),
        cmocka_unit_test(test_a_peer_that_restarts_is_reached_again),
        cmocka_unit_test(test_readding_a_peer_with_a_new_address_reaches_it_there),
        cmocka_unit_test(test_a_full_queue_drops_the_message_and_reports_the_peer),
        cmocka_unit_test(test_sending_to_an_unknown_member_fails),
        cmocka_unit_test(test_destroy_with_live_streams_and_queued_messages_is_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
