/* bench_api: codec and loopback RPC figures for api/ (not a test; prints numbers).
 *   bench_api [kvs] [calls]
 * 1. encodes a RangeResponse of `kvs` KeyValues (16-byte keys, 256-byte values) from a
 *    generator into a gRPC byte buffer, and decodes it back;
 * 2. makes `calls` sequential unary echo calls of 100 bytes over 127.0.0.1, then the same
 *    from 8 client threads, and reports throughput and latency percentiles. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>

#include "kv.pb.h"
#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"
#include "rpc_server.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct kv_gen {
    size_t n;
    uint8_t value[256];
} kv_gen;

static bool gen(void *arg, pbx_emitter *e)
{
    kv_gen *g = arg;
    char key[32];
    for (size_t i = 0; i < g->n; i++) {
        mvccpb_KeyValue kv = {0};
        int n = snprintf(key, sizeof(key), "/bench/key%08zu", i);
        kv.key = (pbx_bytes_t){(const uint8_t *)key, (size_t)n};
        kv.value = (pbx_bytes_t){g->value, sizeof(g->value)};
        kv.create_revision = kv.mod_revision = (int64_t)i + 2;
        kv.version = 1;
        if (!pbx_emit(e, &kv)) return false;
    }
    return true;
}

static int bench_codec(size_t kvs)
{
    kv_gen g = {.n = kvs};
    memset(g.value, 'v', sizeof(g.value));
    etcdserverpb_RangeResponse resp = {0};
    resp.has_header = true;
    resp.header.revision = 1;
    resp.kvs.gen = gen;
    resp.kvs.gen_arg = &g;
    resp.count = (int64_t)kvs;
    double t0 = now_s();
    grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_RangeResponse_msg, &resp);
    double t1 = now_s();
    if (!bb) return -1;
    size_t len = grpc_byte_buffer_length(bb);
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice flat = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    grpc_byte_buffer_destroy(bb);
    etcdserverpb_RangeResponse got;
    double t2 = now_s();
    int rc = pbx_decode(&etcdserverpb_RangeResponse_msg, &got, GRPC_SLICE_START_PTR(flat),
                        GRPC_SLICE_LENGTH(flat));
    double t3 = now_s();
    if (rc || got.kvs.count != kvs) return -1;
    pbx_release(&etcdserverpb_RangeResponse_msg, &got);
    grpc_slice_unref(flat);
    printf("codec: RangeResponse of %zu kvs, %.1f MB: encode %.1f ms (%.0f MB/s), decode %.1f ms "
           "(%.0f MB/s)\n",
           kvs, (double)len / 1e6, (t1 - t0) * 1e3, (double)len / 1e6 / (t1 - t0), (t3 - t2) * 1e3,
           (double)len / 1e6 / (t3 - t2));
    return 0;
}

static void echo(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    (void)ctx;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    rpc_unary_reply(call, bb);
}

typedef struct client_run {
    rpc_channel *ch;
    size_t calls;
    double *lat; /* seconds, one per call */
    int failures;
} client_run;

static void *client(void *arg)
{
    client_run *c = arg;
    uint8_t req[100];
    memset(req, 'x', sizeof(req));
    rpc_call_opts o = {.timeout_ms = 10000};
    for (size_t i = 0; i < c->calls; i++) {
        rpc_reply r;
        double t0 = now_s();
        if (rpc_call(c->ch, "/bench.Echo/Unary", req, sizeof(req), &o, &r) != GRPC_STATUS_OK)
            c->failures++;
        c->lat[i] = now_s() - t0;
        rpc_reply_free(&r);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_rpc(rpc_channel *ch, int threads, size_t calls)
{
    client_run runs[16];
    pthread_t tids[16];
    double *lat = calloc((size_t)threads * calls, sizeof(double));
    if (!lat) return -1;
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        runs[i] = (client_run){ch, calls, lat + (size_t)i * calls, 0};
        pthread_create(&tids[i], NULL, client, &runs[i]);
    }
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        failures += runs[i].failures;
    }
    double el = now_s() - t0;
    size_t n = (size_t)threads * calls;
    qsort(lat, n, sizeof(double), cmp_double);
    printf("rpc: %d client thread(s), %zu unary echo calls of 100 B: %.0f calls/s, p50 %.0f us, "
           "p99 %.0f us, %d failed\n",
           threads, n, (double)n / el, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6, failures);
    free(lat);
    return failures ? -1 : 0;
}

int main(int argc, char **argv)
{
    size_t kvs = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    size_t calls = argc > 2 ? strtoull(argv[2], NULL, 10) : 5000;
    grpc_init();
    if (bench_codec(kvs)) {
        fprintf(stderr, "codec benchmark failed\n");
        return 1;
    }
    rpc_server *srv;
    rpc_server_opts o = {.threads = 2, .max_recv_bytes = 2 << 20};
    if (rpc_server_create(&o, &srv)) return 1;
    int port = rpc_server_listen(srv, "127.0.0.1:0");
    if (port <= 0 || rpc_server_add_unary(srv, "/bench.Echo/Unary", echo, NULL) ||
        rpc_server_start(srv))
        return 1;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    rpc_channel *ch;
    if (rpc_channel_create(target, 0, &ch)) return 1;
    int rc = bench_rpc(ch, 1, calls) || bench_rpc(ch, 8, calls / 8 + 1);
    rpc_channel_destroy(ch);
    rpc_server_destroy(srv);
    grpc_shutdown();
    return rc;
}
