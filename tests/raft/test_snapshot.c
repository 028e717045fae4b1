/* Snapshots and compaction: catching up a follower behind the compacted log, returning it
 * to replication, ignoring stale snapshots, and restarting after an install. */
#include "test_util.h"

/* Node 3 is down while the others commit and compact past what it has. */
static void lagging_follower(harness *h)
{
    elected(h, 3, NULL);
    h_crash(h, 3);
    for (int i = 0; i < 5; i++) assert_int_equal(h_propose(h, 1, "w"), 0);
    h_stabilize(h);
    assert_int_equal(h_compact(h, 1), 0);
    assert_int_equal(h_restart(h, 3), 0);
}

static void test_follower_behind_compacted_log_receives_snapshot(void **state)
{
    (void)state;
    harness h = {0};
    lagging_follower(&h);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_int_equal(h_node(&h, 3)->snap_index, 7);
    assert_int_equal(ST(&h, 3).hard_state.commit, 7);
    h_free(&h);
}

/* Trap 10: after the snapshot is acknowledged, the follower goes back to replicating (not
 * stuck in probe or snapshot state) and receives what follows. */
static void test_follower_returns_to_replication_after_snapshot(void **state)
{
    (void)state;
    harness h = {0};
    lagging_follower(&h);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    raft_status s = ST(&h, 1);
    for (size_t i = 0; i < s.n_progress; i++)
        if (s.progress[i].id == 3) assert_int_equal(s.progress[i].state, 1);
    assert_int_equal(h_propose(&h, 1, "after"), 0);
    h_stabilize(&h);
    assert_true(h_applied(&h, 3, "after"));
    h_free(&h);
}

/* Trap 10: a snapshot not past the commit index is ignored (it would roll state back). */
static void test_follower_ignores_snapshot_not_past_its_commit(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_snapshot snap = {.meta = {.index = 1, .term = 1}};
    snap.meta.conf.n_voters = 3;
    for (int i = 0; i < 3; i++) snap.meta.conf.voters[i] = (raft_id)(i + 1);
    raft_msg m = {.type = RAFT_MSG_SNAP, .from = 1, .to = 2, .term = 2, .snapshot = &snap};
    assert_int_equal(raft_step(R(&h, 2), &m), 0);
    h_ready(&h, 2);
    assert_int_equal(h_node(&h, 2)->snap_index, 0);
    assert_int_equal(ST(&h, 2).last_index, 2);
    raft_msg *r = h_find(&h, 2, 1, RAFT_MSG_APP_RESP);
    assert_non_null(r);
    assert_int_equal(r->index, 2);
    h_free(&h);
}

static void test_snapshot_matching_own_log_only_advances_commit(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_propose(&h, 1, "x"), 0);
    h_drop(&h, 1, 3);
    h_deliver(&h, 1, 2); /* 2 now has index 3, not yet committed */
    h_drop(&h, 0, 0);
    assert_int_equal(ST(&h, 2).last_index, 3);
    assert_int_equal(ST(&h, 2).hard_state.commit, 2);
    raft_snapshot snap = {.meta = {.index = 3, .term = 2}};
    snap.meta.conf.n_voters = 1;
    snap.meta.conf.voters[0] = 2;
    raft_msg m = {.type = RAFT_MSG_SNAP, .from = 1, .to = 2, .term = 2, .snapshot = &snap};
    assert_int_equal(raft_step(R(&h, 2), &m), 0);
    h_ready(&h, 2);
    assert_int_equal(h_node(&h, 2)->snap_index, 0);
    assert_int_equal(ST(&h, 2).hard_state.commit, 3);
    h_free(&h);
}

/* Trap 10: restart right after installing a snapshot leaves no gap between the snapshot and
 * the log (the install and the entries after it are one write). */
static void test_restart_after_snapshot_install_has_no_gap(void **state)
{
    (void)state;
    harness h = {0};
    lagging_follower(&h);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_int_equal(h_restart(&h, 3), 0);
    raft_status s = ST(&h, 3);
    assert_int_equal(s.first_index, 8);
    assert_int_equal(s.applied, 7);
    assert_int_equal(h_propose(&h, 1, "more"), 0);
    h_stabilize(&h);
    assert_true(h_applied(&h, 3, "more"));
    h_free(&h);
}

static void test_failed_snapshot_report_sends_it_again_after_heartbeat(void **state)
{
    (void)state;
    harness h = {0};
    lagging_follower(&h);
    h_tick(&h, 1, 1);
    /* Deliver until the snapshot is queued, then lose it. */
    for (int i = 0; i < 10 && !h_find(&h, 1, 3, RAFT_MSG_SNAP); i++) {
        h_deliver(&h, 1, 3);
        h_deliver(&h, 3, 1);
    }
    assert_non_null(h_find(&h, 1, 3, RAFT_MSG_SNAP));
    h_drop(&h, 1, 3);
    raft_report_snapshot(R(&h, 1), 3, false);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_int_equal(h_node(&h, 3)->snap_index, 7);
    h_free(&h);
}

/* Between receiving a snapshot and installing it, the log is the snapshot: an append that
 * follows it is taken on top of it. */
static void test_append_after_snapshot_received_builds_on_it_before_install(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_snapshot snap = {.meta = {.index = 9, .term = 2}, .data = (uint8_t *)"s", .len = 1};
    snap.meta.conf.n_voters = 3;
    for (int i = 0; i < 3; i++) snap.meta.conf.voters[i] = (raft_id)(i + 1);
    raft_msg sm = {.type = RAFT_MSG_SNAP, .from = 1, .to = 2, .term = 2, .snapshot = &snap};
    assert_int_equal(raft_step(R(&h, 2), &sm), 0);
    raft_status s = ST(&h, 2);
    assert_int_equal(s.first_index, 10);
    assert_int_equal(s.last_index, 9);
    raft_entry e = {.term = 2, .index = 10, .len = 1, .data = (uint8_t *)"n"};
    raft_msg app = {.type = RAFT_MSG_APP,
                    .from = 1,
                    .to = 2,
                    .term = 2,
                    .index = 9,
                    .log_term = 2,
                    .commit = 10,
                    .entries = &e,
                    .n_entries = 1};
    assert_int_equal(raft_step(R(&h, 2), &app), 0);
    raft_msg stale = app;
    stale.index = 5;
    stale.log_term = 2;
    stale.n_entries = 0;
    stale.commit = 0;
    assert_int_equal(raft_step(R(&h, 2), &stale), 0);
    /* Nobody campaigns while a snapshot waits to be installed. */
    assert_int_equal(raft_campaign(R(&h, 2)), 0);
    assert_int_equal(ST(&h, 2).soft.role, RAFT_FOLLOWER);
    h_ready(&h, 2);
    assert_int_equal(h_node(&h, 2)->snap_index, 9);
    assert_true(h_applied(&h, 2, "n"));
    assert_int_equal(ST(&h, 2).hard_state.commit, 10);
    h_free(&h);
}

/* A storage whose snapshot is not ready yet: the leader tries again later. */
typedef struct busy_store {
    raft_storage st;
    const raft_storage *real;
    int busy; /* snapshot calls left that answer "temporarily unavailable" */
} busy_store;

static int busy_initial_state(void *ctx, raft_hard_state *hs, raft_snapshot_meta *m)
{
    const raft_storage *r = ((busy_store *)ctx)->real;
    return r->initial_state(r->ctx, hs, m);
}
static int busy_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max, raft_entries *out)
{
    const raft_storage *r = ((busy_store *)ctx)->real;
    return r->entries(r->ctx, lo, hi, max, out);
}
static int busy_term(void *ctx, uint64_t i, uint64_t *t)
{
    const raft_storage *r = ((busy_store *)ctx)->real;
    return r->term(r->ctx, i, t);
}
static int busy_first(void *ctx, uint64_t *i)
{
    const raft_storage *r = ((busy_store *)ctx)->real;
    return r->first_index(r->ctx, i);
}
static int busy_last(void *ctx, uint64_t *i)
{
    const raft_storage *r = ((busy_store *)ctx)->real;
    return r->last_index(r->ctx, i);
}
static int busy_snapshot(void *ctx, raft_snapshot *out)
{
    busy_store *b = ctx;
    if (b->busy > 0) {
        b->busy--;
        return RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE;
    }
    return b->real->snapshot(b->real->ctx, out);
}

static void test_snapshot_temporarily_unavailable_is_sent_later(void **state)
{
    (void)state;
    harness h = {0};
    lagging_follower(&h);
    /* Restart the leader on a storage whose snapshot is busy twice. */
    busy_store b = {.real = raft_memstore_storage(h_node(&h, 1)->ms), .busy = 2};
    b.st = (raft_storage){&b,         busy_initial_state, busy_entries, busy_term,
                          busy_first, busy_last,          busy_snapshot};
    raft_free(h_node(&h, 1)->r);
    raft_config c = h.base;
    c.id = 1;
    c.storage = &b.st;
    assert_int_equal(raft_new(&c, &h_node(&h, 1)->r), 0);
    h_ready(&h, 1);
    assert_int_equal(h_campaign(&h, 1), 0);
    for (int i = 0; i < 6; i++) {
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(b.busy, 0);
    assert_int_equal(h_node(&h, 3)->snap_index, 7);
    h_free(&h);
}

static void test_snapshot_point_describes_applied_state_and_configuration(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_snapshot_meta meta;
    assert_int_equal(raft_snapshot_point(R(&h, 2), &meta), 0);
    assert_int_equal(meta.index, 2);
    assert_int_equal(meta.term, 2);
    assert_int_equal(meta.conf.n_voters, 3);
    h_free(&h);
}

static void test_memstore_refuses_gaps_and_stale_snapshots(void **state)
{
    (void)state;
    raft_memstore *ms = raft_memstore_new();
    const raft_storage *st = raft_memstore_storage(ms);
    raft_entry e[3] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}, {.term = 2, .index = 3}};
    assert_int_equal(raft_memstore_append(ms, &e[1], 1), RAFT_ERR_INVALID);
    assert_int_equal(raft_memstore_append(ms, e, 3), 0);
    raft_snapshot_meta meta = {.index = 2, .term = 1};
    assert_int_equal(raft_memstore_create_snapshot(ms, &meta, "s", 1), 0);
    assert_int_equal(raft_memstore_create_snapshot(ms, &meta, "s", 1), RAFT_ERR_INVALID);
    assert_int_equal(raft_memstore_compact(ms, 3), RAFT_ERR_INVALID);
    assert_int_equal(raft_memstore_compact(ms, 2), 0);
    uint64_t t = 0, first = 0;
    assert_int_equal(st->term(st->ctx, 1, &t), RAFT_ERR_COMPACTED);
    assert_int_equal(st->term(st->ctx, 2, &t), 0);
    assert_int_equal(t, 1);
    assert_int_equal(st->term(st->ctx, 4, &t), RAFT_ERR_UNAVAILABLE);
    st->first_index(st->ctx, &first);
    assert_int_equal(first, 3);
    raft_entries out = {0};
    assert_int_equal(st->entries(st->ctx, 2, 4, 0, &out), RAFT_ERR_COMPACTED);
    assert_int_equal(st->entries(st->ctx, 3, 5, 0, &out), RAFT_ERR_UNAVAILABLE);
    raft_snapshot old = {.meta = {.index = 1, .term = 1}};
    assert_int_equal(raft_memstore_apply_snapshot(ms, &old), RAFT_ERR_INVALID);
    raft_memstore *copy = raft_memstore_clone(ms);
    assert_non_null(copy);
    raft_memstore_free(copy);
    raft_memstore_free(ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_behind_compacted_log_receives_snapshot),
        cmocka_unit_test(test_follower_returns_to_replication_after_snapshot),
        cmocka_unit_test(test_follower_ignores_snapshot_not_past_its_commit),
        cmocka_unit_test(test_snapshot_matching_own_log_only_advances_commit),
        cmocka_unit_test(test_restart_after_snapshot_install_has_no_gap),
        cmocka_unit_test(test_failed_snapshot_report_sends_it_again_after_heartbeat),
        cmocka_unit_test(test_append_after_snapshot_received_builds_on_it_before_install),
        cmocka_unit_test(test_snapshot_temporarily_unavailable_is_sent_later),
        cmocka_unit_test(test_snapshot_point_describes_applied_state_and_configuration),
        cmocka_unit_test(test_memstore_refuses_gaps_and_stale_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
