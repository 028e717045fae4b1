/* snapshot_stream: a snapshot's files from a sender to a receiver on 127.0.0.1 — they arrive
 * whole, the Raft message only after them, and a stream the receiver refuses leaves nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "raft.h"
#include "rpc_server.h"
#include "snapshot_files.h"
#include "snapshot_store.h"
#include "snapshot_stream.h"

#define CLUSTER  0x5eed5eedULL
#define SENDER   1
#define RECEIVER 2

typedef struct fixture {
    char root[64];
    char src[96], incoming[96];
    rpc_server *srv;
    snapshot_recv *recv;
    char addr[64];
    pthread_mutex_t mu;
    int delivered;
    uint8_t *msg; /* the last delivered message */
    size_t msg_len;
    bool files_there_at_delivery; /* the named directory existed when the message came */
} fixture;

static void deliver(void *arg, uint64_t from, const uint8_t *msg, size_t len)
{
    fixture *f = arg;
    raft_msg m;
    snapshot_name n;
    char dir[256], name[SNAPSHOT_NAME_MAX];
    bool there = false;
    if (raft_msg_decode(msg, len, &m) == RAFT_OK) {
        if (m.snapshot && snapshot_name_decode(m.snapshot->data, m.snapshot->len, &n) == 0) {
            snapshot_name_format(&n, name);
            snprintf(dir, sizeof(dir), "%s/%s", f->incoming, name);
            DIR *d = opendir(dir);
            there = d != NULL;
            if (d) closedir(d);
        }
        raft_msg_free(&m);
    }
    pthread_mutex_lock(&f->mu);
    f->delivered += from == SENDER;
    free(f->msg);
    f->msg = malloc(len);
    if (!f->msg) abort(); /* a server thread: no cmocka assertion here */
    memcpy(f->msg, msg, len);
    f->msg_len = len;
    f->files_there_at_delivery = there;
    pthread_mutex_unlock(&f->mu);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    strcpy(f->root, "/tmp/coord-snapstream-test.XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->src, sizeof(f->src), "%s/src", f->root);
    snprintf(f->incoming, sizeof(f->incoming), "%s/incoming", f->root);
    pthread_mutex_init(&f->mu, NULL);
    grpc_init();
    rpc_server_opts so = {.threads = 1, .max_recv_bytes = PEER_MAX_RECV_BYTES};
    if (rpc_server_create(&so, &f->srv) != 0) return -1;
    snapshot_recv_opts ro = {.cluster_id = CLUSTER,
                             .self_id = RECEIVER,
                             .incoming_dir = f->incoming,
                             .deliver = deliver,
                             .arg = f};
    if (snapshot_recv_create(&ro, &f->recv) != 0) return -1;
    if (snapshot_recv_register(f->recv, f->srv) != 0) return -1;
    int port = rpc_server_listen(f->srv, "127.0.0.1:0");
    if (port <= 0 || rpc_server_start(f->srv) != 0) return -1;
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rpc_server_shutdown(f->srv);
    snapshot_recv_destroy(f->recv);
    rpc_server_destroy(f->srv);
    grpc_shutdown();
    snapshot_files_remove(f->root);
    pthread_mutex_destroy(&f->mu);
    free(f->msg);
    free(f);
    return 0;
}

/* A file of n bytes whose content depends on its name and position. */
static void make_file(const char *dir, const char *name, size_t n)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++) fputc((int)((i * 31 + strlen(name)) & 0xff), fp);
    fclose(fp);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    return buf;
}

/* The encoded SNAP message naming (index, token), from SENDER to `to`. */
static uint8_t *snap_msg(uint64_t to, uint64_t index, uint64_t token, size_t *len)
{
    uint8_t data[SNAPSHOT_DATA_LEN];
    snapshot_name n = {.index = index, .token = token};
    snapshot_name_encode(&n, data);
    raft_snapshot snap = {
        .meta = {.index = index, .term = 3, .conf = {.n_voters = 1, .voters = {1}}},
        .data = data,
        .len = sizeof(data)};
    raft_msg m = {.type = RAFT_MSG_SNAP, .from = SENDER, .to = to, .term = 3, .snapshot = &snap};
    *len = raft_msg_encoded_size(&m);
    uint8_t *buf = malloc(*len);
    assert_int_equal(raft_msg_encode(&m, buf, *len), *len);
    return buf;
}

static int send_dir(fixture *f, uint64_t cluster, uint64_t to, const uint8_t *msg, size_t msg_len,
                    size_t chunk, char **err)
{
    snapshot_file *files;
    size_t n;
    assert_int_equal(snapshot_files_list(f->src, &files, &n), 0);
    snapshot_sender *s;
    assert_int_equal(snapshot_sender_create(&s), 0);
    snapshot_send_opts o = {.host_port = f->addr,
                            .cluster_id = cluster,
                            .from = SENDER,
                            .to = to,
                            .dir = f->src,
                            .files = files,
                            .n_files = n,
                            .raft_msg = msg,
                            .raft_msg_len = msg_len,
                            .chunk_bytes = chunk};
    int rc = snapshot_sender_run(s, &o, err);
    snapshot_sender_free(s);
    free(files);
    return rc;
}

static size_t entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void test_every_file_arrives_whole_before_the_message(void **state)
{
    fixture *f = *state;
    assert_int_equal(snapshot_files_mkdirs(f->src), 0);
    make_file(f->src, "000001.sst", 10000); /* several chunks of 4 KiB */
    make_file(f->src, "CURRENT", 16);
    make_file(f->src, "empty.log", 0);
    size_t msg_len;
    uint8_t *msg = snap_msg(RECEIVER, 42, 0xabcdefULL, &msg_len);
    char *err = NULL;
    assert_int_equal(send_dir(f, CLUSTER, RECEIVER, msg, msg_len, 4096, &err), 0);

    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->delivered, 1);
    assert_int_equal(f->msg_len, msg_len);
    assert_memory_equal(f->msg, msg, msg_len);
    assert_true(f->files_there_at_delivery);
    pthread_mutex_unlock(&f->mu);

    const char *names[] = {"000001.sst", "CURRENT", "empty.log"};
    for (size_t i = 0; i < 3; i++) {
        char a[256], b[256];
        snprintf(a, sizeof(a), "%s/%s", f->src, names[i]);
        snprintf(b, sizeof(b), "%s/42-0000000000abcdef/%s", f->incoming, names[i]);
        size_t la, lb;
        uint8_t *da = read_file(a, &la), *db = read_file(b, &lb);
        assert_non_null(db);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
    }
    assert_int_equal(entries_in(f->incoming), 1); /* no temporary directory left */
    free(msg);
}

static void test_a_snapshot_from_another_cluster_is_refused_and_leaves_nothing(void **state)
{
    fixture *f = *state;
    assert_int_equal(snapshot_files_mkdirs(f->src), 0);
    make_file(f->src, "000001.sst", 5000);
    size_t msg_len;
    uint8_t *msg = snap_msg(RECEIVER, 42, 1, &msg_len);
    char *err = NULL;
    assert_int_equal(send_dir(f, CLUSTER + 1, RECEIVER, msg, msg_len, 1024, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "cluster ID mismatch"));
    free(err);
    assert_int_equal(f->delivered, 0);
    assert_int_equal(entries_in(f->incoming), 0);
    free(msg);
}

static void test_a_message_that_is_not_a_snapshot_for_the_receiver_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(snapshot_files_mkdirs(f->src), 0);
    make_file(f->src, "CURRENT", 16);
    size_t msg_len;
    uint8_t *msg = snap_msg(RECEIVER + 5, 42, 1, &msg_len); /* inside: addressed elsewhere */
    char *err = NULL;
    assert_int_equal(send_dir(f, CLUSTER, RECEIVER, msg, msg_len, 0, &err), -1);
    assert_non_null(err);
    free(err);
    assert_int_equal(f->delivered, 0);
    assert_int_equal(entries_in(f->incoming), 0);
    free(msg);
}

static void test_a_sender_cancelled_before_it_runs_fails_at_once(void **state)
{
    fixture *f = *state;
    assert_int_equal(snapshot_files_mkdirs(f->src), 0);
    make_file(f->src, "000001.sst", 100000);
    size_t msg_len;
    uint8_t *msg = snap_msg(RECEIVER, 42, 1, &msg_len);
    snapshot_file *files;
    size_t n;
    assert_int_equal(snapshot_files_list(f->src, &files, &n), 0);
    snapshot_sender *s;
    assert_int_equal(snapshot_sender_create(&s), 0);
    snapshot_sender_cancel(s);
    snapshot_send_opts o = {.host_port = f->addr,
                            .cluster_id = CLUSTER,
                            .from = SENDER,
                            .to = RECEIVER,
                            .dir = f->src,
                            .files = files,
                            .n_files = n,
                            .raft_msg = msg,
                            .raft_msg_len = msg_len};
    char *err = NULL;
    assert_int_equal(snapshot_sender_run(s, &o, &err), -1);
    assert_string_equal(err, "cancelled");
    free(err);
    snapshot_sender_free(s);
    free(files);
    assert_int_equal(f->delivered, 0);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_file_arrives_whole_before_the_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_snapshot_from_another_cluster_is_refused_and_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_message_that_is_not_a_snapshot_for_the_receiver_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_sender_cancelled_before_it_runs_fails_at_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
