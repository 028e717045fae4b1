/* The peer wire format: every field round-trips, and garbage is rejected without crashing. */
#include "test_util.h"

static raft_msg full_message(raft_entry *es, raft_snapshot *snap)
{
    es[0] = (raft_entry){
        .term = 7, .index = 100, .type = RAFT_ENTRY_NORMAL, .len = 3, .data = (uint8_t *)"abc"};
    es[1] = (raft_entry){.term = 7, .index = 101, .type = RAFT_ENTRY_CONF_CHANGE};
    *snap = (raft_snapshot){.meta = {.index = 99, .term = 6}, .data = (uint8_t *)"state", .len = 5};
    snap->meta.conf.n_voters = 2;
    snap->meta.conf.voters[0] = 1;
    snap->meta.conf.voters[1] = UINT64_MAX;
    snap->meta.conf.n_voters_outgoing = 1;
    snap->meta.conf.voters_outgoing[0] = 3;
    snap->meta.conf.n_learners = 1;
    snap->meta.conf.learners[0] = 4;
    return (raft_msg){.type = RAFT_MSG_APP,
                      .from = 1,
                      .to = 2,
                      .term = 7,
                      .log_term = 6,
                      .index = 99,
                      .commit = 98,
                      .reject = true,
                      .transfer = true,
                      .reject_hint = 50,
                      .read_seq = 12,
                      .n_entries = 2,
                      .entries = es,
                      .snapshot = snap,
                      .ctx_len = 2,
                      .ctx = (uint8_t *)"cx"};
}

static uint8_t *encode(const raft_msg *m, size_t *len)
{
    *len = raft_msg_encoded_size(m);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(raft_msg_encode(m, buf, *len), *len);
    return buf;
}

static void test_every_message_field_round_trips(void **state)
{
    (void)state;
    raft_entry es[2];
    raft_snapshot snap;
    raft_msg m = full_message(es, &snap), out;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    assert_int_equal(raft_msg_decode(buf, len, &out), 0);
    assert_int_equal(out.type, m.type);
    assert_int_equal(out.from, 1);
    assert_int_equal(out.to, 2);
    assert_int_equal(out.term, 7);
    assert_int_equal(out.log_term, 6);
    assert_int_equal(out.index, 99);
    assert_int_equal(out.commit, 98);
    assert_true(out.reject);
    assert_true(out.transfer);
    assert_int_equal(out.reject_hint, 50);
    assert_int_equal(out.read_seq, 12);
    assert_int_equal(out.n_entries, 2);
    assert_int_equal(out.entries[0].index, 100);
    assert_memory_equal(out.entries[0].data, "abc", 3);
    assert_int_equal(out.entries[1].type, RAFT_ENTRY_CONF_CHANGE);
    assert_int_equal(out.entries[1].len, 0);
    assert_non_null(out.snapshot);
    assert_int_equal(out.snapshot->meta.conf.voters[1], UINT64_MAX);
    assert_int_equal(out.snapshot->meta.conf.learners[0], 4);
    assert_memory_equal(out.snapshot->data, "state", 5);
    assert_memory_equal(out.ctx, "cx", 2);
    raft_msg_free(&out);
    free(buf);
}

static void test_encode_refuses_a_buffer_too_small(void **state)
{
    (void)state;
    raft_entry es[2];
    raft_snapshot snap;
    raft_msg m = full_message(es, &snap);
    uint8_t buf[8];
    assert_int_equal(raft_msg_encode(&m, buf, sizeof(buf)), 0);
}

static void test_every_truncation_and_extension_is_rejected(void **state)
{
    (void)state;
    raft_entry es[2];
    raft_snapshot snap;
    raft_msg m = full_message(es, &snap), out;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(raft_msg_decode(buf, cut, &out), RAFT_ERR_DECODE);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(raft_msg_decode(longer, len + 1, &out), RAFT_ERR_DECODE);
    free(longer);
    free(buf);
}

static void test_bad_version_type_flags_and_overlong_varints_are_rejected(void **state)
{
    (void)state;
    raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2}, out;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    uint8_t b;
    b = buf[0], buf[0] = 2;
    assert_int_equal(raft_msg_decode(buf, len, &out), RAFT_ERR_DECODE);
    buf[0] = b, b = buf[1], buf[1] = 0;
    assert_int_equal(raft_msg_decode(buf, len, &out), RAFT_ERR_DECODE);
    buf[1] = RAFT_MSG_TYPE_MAX + 1;
    assert_int_equal(raft_msg_decode(buf, len, &out), RAFT_ERR_DECODE);
    buf[1] = b, buf[2] = 0x80;
    assert_int_equal(raft_msg_decode(buf, len, &out), RAFT_ERR_DECODE);
    free(buf);
    uint8_t overlong[] = {1,    RAFT_MSG_APP, 0,    0xff, 0xff, 0xff, 0xff,
                          0xff, 0xff,         0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(raft_msg_decode(overlong, sizeof(overlong), &out), RAFT_ERR_DECODE);
    uint8_t huge_count[] = {1, RAFT_MSG_APP, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x03};
    assert_int_equal(raft_msg_decode(huge_count, sizeof(huge_count), &out), RAFT_ERR_DECODE);
    assert_int_equal(raft_msg_decode(NULL, 0, &out), RAFT_ERR_DECODE);
}

/* Deterministic garbage: flipped bytes of a valid message and random buffers. Each either
 * decodes (and is then freed) or is rejected; ASan checks nothing is read out of bounds. */
static void test_random_garbage_never_crashes_the_decoder(void **state)
{
    (void)state;
    raft_entry es[2];
    raft_snapshot snap;
    raft_msg m = full_message(es, &snap), out;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    uint64_t x = 42;
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        copy[(x >> 33) % len] ^= (uint8_t)(x >> 13);
        size_t l = round % 3 ? len : (size_t)((x >> 20) % len);
        if (raft_msg_decode(copy, l, &out) == RAFT_OK) {
            accepted++;
            raft_msg_free(&out);
        }
        free(copy);
    }
    assert_true(accepted > 0);
    free(buf);
}

static void test_stepping_a_decoded_garbage_message_is_safe(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    uint64_t x = 7;
    for (int round = 0; round < 3000; round++) {
        uint8_t b[24];
        for (size_t i = 0; i < sizeof(b); i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            b[i] = (uint8_t)(x >> 40);
        }
        b[0] = 1;
        b[1] = (uint8_t)(1 + round % RAFT_MSG_TYPE_MAX);
        b[2] = 0;
        raft_msg out;
        if (raft_msg_decode(b, 3 + (size_t)(round % 21), &out) != RAFT_OK) continue;
        out.to = 2;
        int rc = raft_step(R(&h, 2), &out);
        assert_true(rc == RAFT_OK || rc == RAFT_ERR_CORRUPT);
        raft_msg_free(&out);
        if (rc) break;
    }
    h_free(&h);
}

static void test_only_leader_traffic_may_leave_before_persistence(void **state)
{
    (void)state;
    raft_msg m = {.type = RAFT_MSG_APP};
    assert_false(raft_msg_needs_durable(&m));
    m.type = RAFT_MSG_HEARTBEAT;
    assert_false(raft_msg_needs_durable(&m));
    m.type = RAFT_MSG_APP_RESP;
    assert_true(raft_msg_needs_durable(&m));
    m.type = RAFT_MSG_VOTE_RESP;
    assert_true(raft_msg_needs_durable(&m));
}

static void test_every_error_and_name_has_text(void **state)
{
    (void)state;
    for (int e = 0; e >= RAFT_ERR_TOO_LARGE; e--)
        assert_string_not_equal(raft_strerror(e), "unknown error");
    assert_string_equal(raft_strerror(5), "unknown error");
    for (int t = RAFT_MSG_APP; t <= RAFT_MSG_TYPE_MAX; t++)
        assert_string_not_equal(raft_msg_type_name(t), "MsgUnknown");
    assert_string_equal(raft_msg_type_name(0), "MsgUnknown");
    for (int r = RAFT_FOLLOWER; r <= RAFT_LEADER; r++)
        assert_string_not_equal(raft_role_name(r), "unknown");
    assert_string_equal(raft_role_name(9), "unknown");
}

static void test_invalid_configs_are_refused(void **state)
{
    (void)state;
    raft_memstore *ms = raft_memstore_new();
    raft_config c;
    raft_config_init(&c);
    raft *r = NULL;
    assert_int_equal(raft_new(&c, &r), RAFT_ERR_INVALID); /* no id, no storage */
    c.id = 1;
    c.storage = raft_memstore_storage(ms);
    c.heartbeat_tick = c.election_tick;
    assert_int_equal(raft_new(&c, &r), RAFT_ERR_INVALID);
    raft_config_init(&c);
    c.id = 1;
    c.storage = raft_memstore_storage(ms);
    c.applied = 5; /* past the commit index */
    assert_int_equal(raft_new(&c, &r), RAFT_ERR_INVALID);
    assert_null(r);
    raft_memstore_free(ms);
}

static void test_calls_between_ready_and_advance_are_refused(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(raft_propose(R(&h, 1), "x", 1, NULL), 0);
    struct raft_ready rd;
    assert_int_equal(raft_ready(R(&h, 1), &rd), 0);
    assert_int_equal(raft_tick(R(&h, 1)), RAFT_ERR_BUSY);
    assert_int_equal(raft_propose(R(&h, 1), "y", 1, NULL), RAFT_ERR_BUSY);
    assert_int_equal(raft_ready(R(&h, 1), &rd), RAFT_ERR_BUSY);
    raft_snapshot_meta meta;
    assert_int_equal(raft_snapshot_point(R(&h, 1), &meta), RAFT_ERR_BUSY);
    assert_false(raft_has_ready(R(&h, 1)));
    raft_memstore_append(h_node(&h, 1)->ms, rd.entries, rd.n_entries);
    assert_int_equal(raft_advance(R(&h, 1), &rd), 0);
    assert_int_equal(raft_advance(R(&h, 1), &rd), RAFT_ERR_INVALID);
    h_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_field_round_trips),
        cmocka_unit_test(test_encode_refuses_a_buffer_too_small),
        cmocka_unit_test(test_every_truncation_and_extension_is_rejected),
        cmocka_unit_test(test_bad_version_type_flags_and_overlong_varints_are_rejected),
        cmocka_unit_test(test_random_garbage_never_crashes_the_decoder),
        cmocka_unit_test(test_stepping_a_decoded_garbage_message_is_safe),
        cmocka_unit_test(test_only_leader_traffic_may_leave_before_persistence),
        cmocka_unit_test(test_every_error_and_name_has_text),
        cmocka_unit_test(test_invalid_configs_are_refused),
        cmocka_unit_test(test_calls_between_ready_and_advance_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
