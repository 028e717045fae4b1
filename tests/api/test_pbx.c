/* Unit tests of the pbx codec: views, lists, generators, oneofs, nested Txn, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <pb_common.h>

#include "coord.pb.h"
#include "kv.pb.h"
#include "pbx.h"
#include "rpc.pb.h"

static pbx_bytes_t bytes_of(const void *p, size_t n)
{
    return (pbx_bytes_t){p, n};
}

static pbx_bytes_t str(const char *s)
{
    return bytes_of(s, strlen(s));
}

static void assert_bytes_equal(pbx_bytes_t got, const void *want, size_t want_len)
{
    assert_int_equal(got.len, want_len);
    if (want_len) assert_memory_equal(got.ptr, want, want_len);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131 + seed);
    return p;
}

/* Flattens a byte buffer into one malloc'ed buffer. */
static uint8_t *flatten_bb(grpc_byte_buffer *bb, size_t *len)
{
    grpc_byte_buffer_reader r;
    assert_true(grpc_byte_buffer_reader_init(&r, bb));
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    uint8_t *out = malloc(*len ? *len : 1);
    assert_non_null(out);
    if (*len) memcpy(out, GRPC_SLICE_START_PTR(s), *len);
    grpc_slice_unref(s);
    return out;
}

static void test_put_request_with_1_5_mib_value_round_trips_through_a_byte_buffer(void **st)
{
    (void)st;
    size_t n = 1536 * 1024;
    uint8_t *value = pattern(n, 7);
    etcdserverpb_PutRequest req = {0};
    req.key = str("big");
    req.value = bytes_of(value, n);
    req.lease = 42;
    grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_PutRequest_msg, &req);
    assert_non_null(bb);
    size_t len;
    uint8_t *wire = flatten_bb(bb, &len);
    grpc_byte_buffer_destroy(bb);

    etcdserverpb_PutRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_PutRequest_msg, &got, wire, len), 0);
    assert_bytes_equal(got.key, "big", 3);
    assert_bytes_equal(got.value, value, n);
    assert_int_equal(got.lease, 42);
    /* Zero-copy: the view points into the decoded buffer. */
    assert_true(got.value.ptr > wire && got.value.ptr < wire + len);
    pbx_release(&etcdserverpb_PutRequest_msg, &got);
    free(wire);
    free(value);
}

static void test_value_over_64_kib_round_trips_through_a_flat_buffer(void **st)
{
    (void)st;
    size_t n = 70000;
    uint8_t *value = pattern(n, 3);
    mvccpb_KeyValue kv = {0};
    kv.key = str("k");
    kv.value = bytes_of(value, n);
    kv.mod_revision = 9;
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&mvccpb_KeyValue_msg, &kv, &wire, &len), 0);
    mvccpb_KeyValue got;
    assert_int_equal(pbx_decode(&mvccpb_KeyValue_msg, &got, wire, len), 0);
    assert_bytes_equal(got.value, value, n);
    assert_int_equal(got.mod_revision, 9);
    free(wire);
    free(value);
}

#define MANY_KVS 70000

static void fill_kv(mvccpb_KeyValue *kv, char *keybuf, size_t i)
{
    int n = snprintf(keybuf, 16, "key%06zu", i);
    memset(kv, 0, sizeof(*kv));
    kv->key = bytes_of(keybuf, (size_t)n);
    kv->value = str("v");
    kv->create_revision = (int64_t)i + 2;
    kv->mod_revision = (int64_t)i + 2;
    kv->version = 1;
}

static void check_many_kvs(const etcdserverpb_RangeResponse *r)
{
    assert_true(r->has_header);
    assert_int_equal(r->header.revision, 77);
    assert_int_equal(r->count, MANY_KVS);
    assert_int_equal(r->kvs.count, MANY_KVS);
    const mvccpb_KeyValue *kvs = r->kvs.items;
    char want[16];
    for (size_t i = 0; i < MANY_KVS; i += 997) {
        int n = snprintf(want, sizeof(want), "key%06zu", i);
        assert_bytes_equal(kvs[i].key, want, (size_t)n);
        assert_int_equal(kvs[i].create_revision, (int64_t)i + 2);
    }
    assert_bytes_equal(kvs[MANY_KVS - 1].value, "v", 1);
}

static void test_range_response_with_more_than_65535_kvs_round_trips(void **st)
{
    (void)st;
    mvccpb_KeyValue *kvs = calloc(MANY_KVS, sizeof(*kvs));
    char(*keys)[16] = calloc(MANY_KVS, 16);
    assert_non_null(kvs);
    assert_non_null(keys);
    for (size_t i = 0; i < MANY_KVS; i++) fill_kv(&kvs[i], keys[i], i);
    etcdserverpb_RangeResponse resp = {0};
    resp.has_header = true;
    resp.header.revision = 77;
    resp.kvs.items = kvs;
    resp.kvs.count = MANY_KVS;
    resp.count = MANY_KVS;
    grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_RangeResponse_msg, &resp);
    assert_non_null(bb);
    size_t len;
    uint8_t *wire = flatten_bb(bb, &len);
    grpc_byte_buffer_destroy(bb);

    etcdserverpb_RangeResponse got;
    assert_int_equal(pbx_decode(&etcdserverpb_RangeResponse_msg, &got, wire, len), 0);
    check_many_kvs(&got);
    pbx_release(&etcdserverpb_RangeResponse_msg, &got);
    assert_int_equal(got.kvs.count, 0);
    assert_null(got.kvs.items);
    free(wire);
    free(keys);
    free(kvs);
}

typedef struct kv_source {
    size_t n;
    int runs; /* how many times the generator ran */
} kv_source;

static bool gen_kvs(void *arg, pbx_emitter *e)
{
    kv_source *src = arg;
    src->runs++;
    char key[16];
    mvccpb_KeyValue kv;
    for (size_t i = 0; i < src->n; i++) {
        fill_kv(&kv, key, i);
        if (!pbx_emit(e, &kv)) return false;
    }
    return true;
}

static void test_generator_in_top_level_list_runs_once_and_encodes_every_element(void **st)
{
    (void)st;
    kv_source src = {.n = MANY_KVS};
    etcdserverpb_RangeResponse resp = {0};
    resp.has_header = true;
    resp.header.revision = 77;
    resp.kvs.gen = gen_kvs;
    resp.kvs.gen_arg = &src;
    resp.count = MANY_KVS;
    grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_RangeResponse_msg, &resp);
    assert_non_null(bb);
    assert_int_equal(src.runs, 1);
    size_t len;
    uint8_t *wire = flatten_bb(bb, &len);
    grpc_byte_buffer_destroy(bb);

    etcdserverpb_RangeResponse got;
    assert_int_equal(pbx_decode(&etcdserverpb_RangeResponse_msg, &got, wire, len), 0);
    check_many_kvs(&got);
    pbx_release(&etcdserverpb_RangeResponse_msg, &got);
    free(wire);
}

static bool gen_fail(void *arg, pbx_emitter *e)
{
    (void)arg;
    (void)e;
    return false;
}

static void test_generator_failure_fails_the_encoding(void **st)
{
    (void)st;
    etcdserverpb_RangeResponse resp = {0};
    resp.kvs.gen = gen_fail;
    assert_null(pbx_encode_bb(&etcdserverpb_RangeResponse_msg, &resp));
    uint8_t *out;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&etcdserverpb_RangeResponse_msg, &resp, &out, &len), -1);
}

static void test_watch_create_request_inside_oneof_keeps_key_and_filters(void **st)
{
    (void)st;
    etcdserverpb_WatchRequest req = {0};
    req.which_request_union = etcdserverpb_WatchRequest_create_request_tag;
    etcdserverpb_WatchCreateRequest *c = &req.request_union.create_request;
    c->key = str("/a");
    c->range_end = str("/b");
    c->start_revision = 5;
    c->filters_count = 2;
    c->filters[0] = etcdserverpb_WatchCreateRequest_FilterType_NOPUT;
    c->filters[1] = etcdserverpb_WatchCreateRequest_FilterType_NODELETE;
    c->prev_kv = true;
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&etcdserverpb_WatchRequest_msg, &req, &wire, &len), 0);

    etcdserverpb_WatchRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_WatchRequest_msg, &got, wire, len), 0);
    assert_int_equal(got.which_request_union, etcdserverpb_WatchRequest_create_request_tag);
    const etcdserverpb_WatchCreateRequest *g = &got.request_union.create_request;
    assert_bytes_equal(g->key, "/a", 2);
    assert_bytes_equal(g->range_end, "/b", 2);
    assert_int_equal(g->start_revision, 5);
    assert_int_equal(g->filters_count, 2);
    assert_int_equal(g->filters[1], etcdserverpb_WatchCreateRequest_FilterType_NODELETE);
    assert_true(g->prev_kv);
    pbx_release(&etcdserverpb_WatchRequest_msg, &got);
    free(wire);
}

static void test_watch_cancel_request_decodes_its_oneof_member(void **st)
{
    (void)st;
    etcdserverpb_WatchRequest req = {0};
    req.which_request_union = etcdserverpb_WatchRequest_cancel_request_tag;
    req.request_union.cancel_request.watch_id = 12;
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&etcdserverpb_WatchRequest_msg, &req, &wire, &len), 0);
    etcdserverpb_WatchRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_WatchRequest_msg, &got, wire, len), 0);
    assert_int_equal(got.which_request_union, etcdserverpb_WatchRequest_cancel_request_tag);
    assert_int_equal(got.request_union.cancel_request.watch_id, 12);
    free(wire);
}

/* A Txn whose success branch holds a put, a range and a nested Txn with its own compare. */
static void test_nested_txn_round_trips_with_compares_and_ops_at_both_levels(void **st)
{
    (void)st;
    etcdserverpb_Compare inner_cmp = {0};
    inner_cmp.key = str("x");
    inner_cmp.target = etcdserverpb_Compare_CompareTarget_VALUE;
    inner_cmp.result = etcdserverpb_Compare_CompareResult_NOT_EQUAL;
    inner_cmp.which_target_union = etcdserverpb_Compare_value_tag;
    inner_cmp.target_union.value = str("old");
    etcdserverpb_RequestOp inner_ops[1];
    memset(inner_ops, 0, sizeof(inner_ops));
    inner_ops[0].which_request = etcdserverpb_RequestOp_request_delete_range_tag;
    inner_ops[0].request.request_delete_range.key = str("x");

    etcdserverpb_Compare outer_cmp[2];
    memset(outer_cmp, 0, sizeof(outer_cmp));
    outer_cmp[0].key = str("a");
    outer_cmp[0].target = etcdserverpb_Compare_CompareTarget_CREATE;
    outer_cmp[0].which_target_union = etcdserverpb_Compare_create_revision_tag;
    outer_cmp[0].target_union.create_revision = 0;
    outer_cmp[1].key = str("b");
    outer_cmp[1].range_end = str("c");
    outer_cmp[1].target = etcdserverpb_Compare_CompareTarget_VALUE;
    outer_cmp[1].which_target_union = etcdserverpb_Compare_value_tag; /* empty value */

    etcdserverpb_RequestOp ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[0].request.request_put.key = str("a");
    ops[0].request.request_put.value = str("1");
    ops[1].which_request = etcdserverpb_RequestOp_request_range_tag;
    ops[1].request.request_range.key = str("a");
    ops[1].request.request_range.limit = 3;
    ops[2].which_request = etcdserverpb_RequestOp_request_txn_tag;
    etcdserverpb_TxnRequest *nested = &ops[2].request.request_txn;
    nested->compare = (pbx_list_t){.items = &inner_cmp, .count = 1};
    nested->success = (pbx_list_t){.items = inner_ops, .count = 1};

    etcdserverpb_TxnRequest txn = {0};
    txn.compare = (pbx_list_t){.items = outer_cmp, .count = 2};
    txn.success = (pbx_list_t){.items = ops, .count = 3};
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&etcdserverpb_TxnRequest_msg, &txn, &wire, &len), 0);

    etcdserverpb_TxnRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_TxnRequest_msg, &got, wire, len), 0);
    assert_int_equal(got.compare.count, 2);
    assert_int_equal(got.success.count, 3);
    assert_int_equal(got.failure.count, 0);
    const etcdserverpb_Compare *gc = got.compare.items;
    assert_int_equal(gc[0].which_target_union, etcdserverpb_Compare_create_revision_tag);
    assert_int_equal(gc[1].which_target_union, etcdserverpb_Compare_value_tag);
    assert_int_equal(gc[1].target_union.value.len, 0);
    assert_bytes_equal(gc[1].range_end, "c", 1);
    const etcdserverpb_RequestOp *go = got.success.items;
    assert_int_equal(go[0].which_request, etcdserverpb_RequestOp_request_put_tag);
    assert_bytes_equal(go[0].request.request_put.value, "1", 1);
    assert_int_equal(go[1].request.request_range.limit, 3);
    assert_int_equal(go[2].which_request, etcdserverpb_RequestOp_request_txn_tag);
    const etcdserverpb_TxnRequest *gn = &go[2].request.request_txn;
    assert_int_equal(gn->compare.count, 1);
    const etcdserverpb_Compare *gnc = gn->compare.items;
    assert_int_equal(gnc[0].result, etcdserverpb_Compare_CompareResult_NOT_EQUAL);
    assert_bytes_equal(gnc[0].target_union.value, "old", 3);
    const etcdserverpb_RequestOp *gno = gn->success.items;
    assert_int_equal(gno[0].which_request, etcdserverpb_RequestOp_request_delete_range_tag);
    assert_bytes_equal(gno[0].request.request_delete_range.key, "x", 1);
    pbx_release(&etcdserverpb_TxnRequest_msg, &got);
    free(wire);
}

/* A generator nested below the top level runs for the sizing pass and again for the write. */
static void test_generator_nested_in_txn_response_encodes_the_same_elements(void **st)
{
    (void)st;
    kv_source src = {.n = 3};
    etcdserverpb_ResponseOp op = {0};
    op.which_response = etcdserverpb_ResponseOp_response_range_tag;
    op.response.response_range.kvs.gen = gen_kvs;
    op.response.response_range.kvs.gen_arg = &src;
    etcdserverpb_TxnResponse resp = {0};
    resp.succeeded = true;
    resp.responses = (pbx_list_t){.items = &op, .count = 1};
    grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_TxnResponse_msg, &resp);
    assert_non_null(bb);
    size_t len;
    uint8_t *wire = flatten_bb(bb, &len);
    grpc_byte_buffer_destroy(bb);
    etcdserverpb_TxnResponse got;
    assert_int_equal(pbx_decode(&etcdserverpb_TxnResponse_msg, &got, wire, len), 0);
    assert_true(got.succeeded);
    const etcdserverpb_ResponseOp *gop = got.responses.items;
    assert_int_equal(gop[0].response.response_range.kvs.count, 3);
    const mvccpb_KeyValue *kvs = gop[0].response.response_range.kvs.items;
    assert_bytes_equal(kvs[2].key, "key000002", 9);
    pbx_release(&etcdserverpb_TxnResponse_msg, &got);
    free(wire);
}

static void test_repeated_strings_keep_empty_elements(void **st)
{
    (void)st;
    pbx_bytes_t urls[3] = {str("http://a:2380"), {NULL, 0}, str("http://c:2380")};
    etcdserverpb_Member m = {0};
    m.ID = 7;
    m.name = str("n1");
    m.peerURLs = (pbx_list_t){.items = urls, .count = 3};
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&etcdserverpb_Member_msg, &m, &wire, &len), 0);
    etcdserverpb_Member got;
    assert_int_equal(pbx_decode(&etcdserverpb_Member_msg, &got, wire, len), 0);
    assert_int_equal(got.peerURLs.count, 3);
    const pbx_bytes_t *g = got.peerURLs.items;
    assert_bytes_equal(g[0], "http://a:2380", 13);
    assert_int_equal(g[1].len, 0);
    assert_bytes_equal(g[2], "http://c:2380", 13);
    assert_int_equal(got.clientURLs.count, 0);
    pbx_release(&etcdserverpb_Member_msg, &got);
    free(wire);
}

static void test_list_response_children_round_trip_with_and_without_kv(void **st)
{
    (void)st;
    coordpb_Child kids[2];
    memset(kids, 0, sizeof(kids));
    kids[0].key = str("/s/a");
    kids[0].has_children = true;
    kids[1].key = str("/s/b");
    kids[1].has_kv = true;
    kids[1].kv.key = str("/s/b");
    kids[1].kv.value = str("val");
    coordpb_ListResponse r = {0};
    r.children = (pbx_list_t){.items = kids, .count = 2};
    r.more = true;
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&coordpb_ListResponse_msg, &r, &wire, &len), 0);
    coordpb_ListResponse got;
    assert_int_equal(pbx_decode(&coordpb_ListResponse_msg, &got, wire, len), 0);
    assert_true(got.more);
    const coordpb_Child *g = got.children.items;
    assert_int_equal(got.children.count, 2);
    assert_true(g[0].has_children);
    assert_false(g[0].has_kv);
    assert_true(g[1].has_kv);
    assert_bytes_equal(g[1].kv.value, "val", 3);
    pbx_release(&coordpb_ListResponse_msg, &got);
    free(wire);
}

/* Every callback field must carry the datatype pbx_field_cb expects; a field missing from an
 * .options file would otherwise be read through the wrong struct. */
static void test_every_callback_field_of_every_message_has_a_pbx_datatype(void **st)
{
    (void)st;
    assert_true(pbx_msgs_count > 100);
    for (size_t i = 0; i < pbx_msgs_count; i++) {
        void *msg = calloc(1, pbx_msgs[i].size);
        assert_non_null(msg);
        pb_field_iter_t it;
        if (pb_field_iter_begin(&it, pbx_msgs[i].desc, msg)) {
            do {
                if (PB_ATYPE(it.type) != PB_ATYPE_CALLBACK) continue;
                bool list = PB_HTYPE(it.type) == PB_HTYPE_REPEATED;
                size_t want = list ? sizeof(pbx_list_t) : sizeof(pbx_bytes_t);
                if (it.data_size != want)
                    fail_msg("%s field %u: wrong callback datatype", pbx_msgs[i].name,
                             (unsigned)it.tag);
                if (list && PB_LTYPE_IS_SUBMSG(it.type))
                    assert_true(pbx_msg_size(it.submsg_desc) > 0);
            } while (pb_field_iter_next(&it));
        }
        free(msg);
    }
}

/* ---- bad input ---- */

static void test_every_truncation_of_a_valid_txn_fails_cleanly_or_decodes(void **st)
{
    (void)st;
    etcdserverpb_RequestOp ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].which_request = etcdserverpb_RequestOp_request_put_tag;
    ops[0].request.request_put.key = str("key");
    ops[0].request.request_put.value = str("value");
    ops[1].which_request = etcdserverpb_RequestOp_request_txn_tag;
    ops[1].request.request_txn.success = (pbx_list_t){.items = ops, .count = 1};
    etcdserverpb_TxnRequest txn = {0};
    txn.success = (pbx_list_t){.items = ops, .count = 2};
    uint8_t *wire;
    size_t len;
    assert_int_equal(pbx_encode_alloc(&etcdserverpb_TxnRequest_msg, &txn, &wire, &len), 0);
    int failures = 0;
    for (size_t cut = 0; cut < len; cut++) {
        /* A heap copy of exactly `cut` bytes, so ASan sees any read past the end. */
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, wire, cut);
        etcdserverpb_TxnRequest got;
        if (pbx_decode(&etcdserverpb_TxnRequest_msg, &got, part, cut) == 0)
            pbx_release(&etcdserverpb_TxnRequest_msg, &got);
        else
            failures++;
        free(part);
    }
    assert_true(failures > 0);
    free(wire);
}

static void test_random_garbage_never_crashes_the_decoder(void **st)
{
    (void)st;
    uint32_t seed = 12345;
    uint8_t buf[256];
    const pb_msgdesc_t *descs[] = {&etcdserverpb_TxnRequest_msg, &etcdserverpb_WatchRequest_msg,
                                   &etcdserverpb_RangeResponse_msg, &etcdserverpb_TxnResponse_msg,
                                   &etcdserverpb_MemberListResponse_msg};
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof(buf);
        for (n = 0; n < len; n++) {
            seed = seed * 1103515245u + 12345u;
            buf[n] = (uint8_t)(seed >> 16);
        }
        const pb_msgdesc_t *d = descs[round % 5];
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        union {
            etcdserverpb_TxnRequest a;
            etcdserverpb_WatchRequest b;
            etcdserverpb_RangeResponse c;
            etcdserverpb_TxnResponse e;
            etcdserverpb_MemberListResponse f;
        } msg;
        if (pbx_decode(d, &msg, copy, len) == 0) pbx_release(d, &msg);
        free(copy);
    }
}

static void test_bytes_field_with_varint_wire_type_is_an_error(void **st)
{
    (void)st;
    const uint8_t wire[] = {0x08, 0x05}; /* field 1 (key, bytes) as varint 5 */
    etcdserverpb_PutRequest got;
    const char *why = NULL;
    assert_int_equal(pbx_decode_why(&etcdserverpb_PutRequest_msg, &got, wire, sizeof(wire), &why),
                     -1);
    assert_non_null(why);
}

static void test_length_past_the_end_is_an_error(void **st)
{
    (void)st;
    const uint8_t wire[] = {0x0a, 0x7f, 'a', 'b'}; /* key claims 127 bytes, 2 follow */
    etcdserverpb_PutRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_PutRequest_msg, &got, wire, sizeof(wire)), -1);
}

/* RequestOp{request_txn{success:[RequestOp{request_txn{...}}]}} nested far deeper than any
 * client needs must fail rather than exhaust the stack. */
static void test_txn_nested_thousands_deep_is_an_error(void **st)
{
    (void)st;
    enum { DEPTH = 5000 };
    /* Built inside out: each level is 0x12 len <RequestOp: 0x22 len <TxnRequest: inner>>. */
    size_t cap = DEPTH * 16 + 16;
    uint8_t *buf = malloc(cap);
    size_t start = cap, end = cap;
    for (int i = 0; i < DEPTH; i++) {
        size_t inner = end - start;
        uint8_t hdr[12];
        size_t h = 0;
        /* RequestOp.request_txn (field 4) around the TxnRequest so far */
        hdr[h++] = 0x22;
        for (size_t v = inner;; v >>= 7) {
            hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            if (v <= 0x7f) break;
        }
        start -= h;
        memcpy(buf + start, hdr, h);
        inner = end - start;
        h = 0;
        /* TxnRequest.success (field 2) holding that RequestOp */
        hdr[h++] = 0x12;
        for (size_t v = inner;; v >>= 7) {
            hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            if (v <= 0x7f) break;
        }
        start -= h;
        memcpy(buf + start, hdr, h);
    }
    etcdserverpb_TxnRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_TxnRequest_msg, &got, buf + start, end - start), -1);
    free(buf);
}

/* The wire may switch a oneof member after a list was decoded into the old one; the list
 * must not leak (LSan checks this under the sanitizer build). */
static void test_oneof_switch_after_a_list_frees_the_orphaned_list(void **st)
{
    (void)st;
    etcdserverpb_RequestOp inner = {0};
    inner.which_request = etcdserverpb_RequestOp_request_put_tag;
    inner.request.request_put.key = str("k");
    etcdserverpb_RequestOp op = {0};
    op.which_request = etcdserverpb_RequestOp_request_txn_tag;
    op.request.request_txn.success = (pbx_list_t){.items = &inner, .count = 1};
    uint8_t first[64], second[64];
    size_t n1, n2;
    assert_int_equal(pbx_encode_to(&etcdserverpb_RequestOp_msg, &op, first, sizeof(first), &n1), 0);
    etcdserverpb_RequestOp put = {0};
    put.which_request = etcdserverpb_RequestOp_request_put_tag;
    put.request.request_put.key = str("p");
    assert_int_equal(pbx_encode_to(&etcdserverpb_RequestOp_msg, &put, second, sizeof(second), &n2),
                     0);
    uint8_t both[128];
    memcpy(both, first, n1);
    memcpy(both + n1, second, n2);
    etcdserverpb_RequestOp got;
    assert_int_equal(pbx_decode(&etcdserverpb_RequestOp_msg, &got, both, n1 + n2), 0);
    assert_int_equal(got.which_request, etcdserverpb_RequestOp_request_put_tag);
    assert_bytes_equal(got.request.request_put.key, "p", 1);
    pbx_release(&etcdserverpb_RequestOp_msg, &got);
}

static void test_unknown_fields_are_skipped(void **st)
{
    (void)st;
    /* field 99 varint, field 100 bytes, then key="a" */
    const uint8_t wire[] = {0x98, 0x06, 0x01, 0xa2, 0x06, 0x02, 'x', 'y', 0x0a, 0x01, 'a'};
    etcdserverpb_PutRequest got;
    assert_int_equal(pbx_decode(&etcdserverpb_PutRequest_msg, &got, wire, sizeof(wire)), 0);
    assert_bytes_equal(got.key, "a", 1);
}

static void test_empty_message_encodes_to_an_empty_byte_buffer(void **st)
{
    (void)st;
    etcdserverpb_CompactionResponse r = {0};
    grpc_byte_buffer *bb = pbx_encode_bb(&etcdserverpb_CompactionResponse_msg, &r);
    assert_non_null(bb);
    assert_int_equal(grpc_byte_buffer_length(bb), 0);
    grpc_byte_buffer_destroy(bb);
}

int main(void)
{
    grpc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_request_with_1_5_mib_value_round_trips_through_a_byte_buffer),
        cmocka_unit_test(test_value_over_64_kib_round_trips_through_a_flat_buffer),
        cmocka_unit_test(test_range_response_with_more_than_65535_kvs_round_trips),
        cmocka_unit_test(test_generator_in_top_level_list_runs_once_and_encodes_every_element),
        cmocka_unit_test(test_generator_failure_fails_the_encoding),
        cmocka_unit_test(test_watch_create_request_inside_oneof_keeps_key_and_filters),
        cmocka_unit_test(test_watch_cancel_request_decodes_its_oneof_member),
        cmocka_unit_test(test_nested_txn_round_trips_with_compares_and_ops_at_both_levels),
        cmocka_unit_test(test_generator_nested_in_txn_response_encodes_the_same_elements),
        cmocka_unit_test(test_repeated_strings_keep_empty_elements),
        cmocka_unit_test(test_list_response_children_round_trip_with_and_without_kv),
        cmocka_unit_test(test_every_callback_field_of_every_message_has_a_pbx_datatype),
        cmocka_unit_test(test_every_truncation_of_a_valid_txn_fails_cleanly_or_decodes),
        cmocka_unit_test(test_random_garbage_never_crashes_the_decoder),
        cmocka_unit_test(test_bytes_field_with_varint_wire_type_is_an_error),
        cmocka_unit_test(test_length_past_the_end_is_an_error),
        cmocka_unit_test(test_txn_nested_thousands_deep_is_an_error),
        cmocka_unit_test(test_oneof_switch_after_a_list_frees_the_orphaned_list),
        cmocka_unit_test(test_unknown_fields_are_skipped),
        cmocka_unit_test(test_empty_message_encodes_to_an_empty_byte_buffer),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    grpc_shutdown();
    return failed;
}
