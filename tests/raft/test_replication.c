/* Log replication: the consistency check, conflict-only truncation, commitment, the fast
 * backtracking hint, flow control (probe / replicate, in-flight window) and batching. */
#include "test_util.h"

static raft_msg app(raft_id from, raft_id to, uint64_t term, uint64_t prev, uint64_t prev_term,
                    uint64_t commit, raft_entry *es, uint32_t n)
{
    return (raft_msg){.type = RAFT_MSG_APP,
                      .from = from,
                      .to = to,
                      .term = term,
                      .index = prev,
                      .log_term = prev_term,
                      .commit = commit,
                      .entries = es,
                      .n_entries = n};
}

static void test_proposal_commits_on_all_members(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_propose(&h, 1, "x=1"), 0);
    h_stabilize(&h);
    for (raft_id id = 1; id <= 3; id++) assert_true(h_applied(&h, id, "x=1"));
    h_free(&h);
}

/* Trap 1, the paper's Figure 8: a leader must not commit an entry of an earlier term by
 * counting its replicas; only an entry of its own term commits (and with it the earlier). */
static void run_figure8(harness *h, uint32_t faults)
{
    raft_config c = test_cfg(false, false);
    c.faults = faults;
    elected(h, 3, &c);
    /* Term 2: "a" (index 3) reaches only the leader's log. */
    h_isolate(h, 1);
    assert_int_equal(h_propose(h, 1, "a"), 0);
    h_heal(h);
    /* Term 3: node 2 wins with node 3's vote; its no-op at index 3 goes nowhere. */
    h_isolate(h, 1);
    assert_int_equal(raft_campaign(R(h, 2)), 0);
    h_ready(h, 2);
    h_deliver(h, 2, 3);
    h_deliver(h, 3, 2);
    assert_int_equal(ST(h, 2).soft.role, RAFT_LEADER);
    h_drop(h, 0, 0);
    h_heal(h);
    h_isolate(h, 2);
    assert_int_equal(h_restart(h, 1), 0); /* the old leader comes back as a follower */
    /* Node 1 loses at term 3 (3 voted for 2), then wins term 4 with 3's vote: its log ends
     * with "a" at term 2, which is as up to date as 3's. */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(raft_campaign(R(h, 1)), 0);
        h_ready(h, 1);
        h_deliver(h, 1, 3);
        h_deliver(h, 3, 1);
    }
    assert_int_equal(ST(h, 1).soft.role, RAFT_LEADER);
    assert_int_equal(ST(h, 1).hard_state.term, 4);
    /* Node 1 replicates "a" (term 2) to node 3 on its own; the term-4 no-op that would
     * follow in the same append is lost (we cut the batch after "a"). */
    raft_msg *m;
    for (int guard = 0; guard < 20 && (m = h_find(h, 1, 3, 0)); guard++) {
        if (m->type == RAFT_MSG_APP && m->n_entries == 2 && m->entries[0].term == 2) {
            m->n_entries = 1;
            h_deliver(h, 1, 3);
            h_deliver(h, 3, 1);
            break;
        }
        h_deliver(h, 1, 3);
        h_deliver(h, 3, 1);
    }
    h_drop(h, 0, 0);
    assert_int_equal(ST(h, 3).last_index, 3);
}

static void test_old_term_entry_is_not_committed_by_counting_replicas(void **state)
{
    (void)state;
    harness h = {0};
    run_figure8(&h, 0);
    /* "a" at index 3 (term 2) is on nodes 1 and 3, a majority, yet not committed. */
    assert_int_equal(ST(&h, 1).hard_state.commit, 2);
    h_free(&h);
}

static void test_figure8_fault_switch_commits_old_term_entry(void **state)
{
    (void)state;
    /* The same scenario with the rule broken on purpose: the test above can fail. */
    harness h = {0};
    run_figure8(&h, RAFT_FAULT_COMMIT_OLD_TERM);
    assert_int_equal(ST(&h, 1).hard_state.commit, 3);
    h_free(&h);
}

/* Trap 2: a stale or duplicated append (a prefix of what the follower holds) must not
 * truncate what came after it. */
static void test_stale_append_does_not_truncate_log(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_entry e3 = {.term = 2, .index = 3, .len = 1, .data = (uint8_t *)"a"};
    raft_entry e4 = {.term = 2, .index = 4, .len = 1, .data = (uint8_t *)"b"};
    raft_entry both[2] = {e3, e4};
    raft_msg newer = app(1, 2, 2, 2, 2, 2, both, 2);
    raft_msg older = app(1, 2, 2, 2, 2, 2, &e3, 1);
    assert_int_equal(raft_step(R(&h, 2), &newer), 0);
    assert_int_equal(raft_step(R(&h, 2), &older), 0);
    assert_int_equal(ST(&h, 2).last_index, 4);
    h_free(&h);
}

static void test_conflicting_entries_are_replaced_from_first_conflict(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_entry old[2] = {{.term = 2, .index = 3, .len = 1, .data = (uint8_t *)"a"},
                         {.term = 2, .index = 4, .len = 1, .data = (uint8_t *)"b"}};
    raft_msg m1 = app(1, 2, 2, 2, 2, 2, old, 2);
    assert_int_equal(raft_step(R(&h, 2), &m1), 0);
    raft_entry repl[2] = {{.term = 2, .index = 3, .len = 1, .data = (uint8_t *)"a"},
                          {.term = 3, .index = 4, .len = 1, .data = (uint8_t *)"c"}};
    raft_msg m2 = app(1, 2, 3, 2, 2, 4, repl, 2);
    assert_int_equal(raft_step(R(&h, 2), &m2), 0);
    h_ready(&h, 2);
    assert_int_equal(ST(&h, 2).last_index, 4);
    assert_true(h_applied(&h, 2, "a"));
    assert_true(h_applied(&h, 2, "c"));
    assert_false(h_applied(&h, 2, "b"));
    h_free(&h);
}

/* Trap 3: the follower's commit is min(leaderCommit, index of last new entry). */
static void test_follower_commit_is_capped_by_last_new_entry(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_entry e3 = {.term = 2, .index = 3, .len = 1, .data = (uint8_t *)"a"};
    raft_msg m = app(1, 2, 2, 2, 2, 10, &e3, 1);
    assert_int_equal(raft_step(R(&h, 2), &m), 0);
    assert_int_equal(ST(&h, 2).hard_state.commit, 3);
    h_free(&h);
}

/* Trap 3: a heartbeat carries min(match, commit): the follower's log past match may still
 * be replaced. */
static void test_heartbeat_commit_is_capped_by_follower_match(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    h_isolate(&h, 3);
    assert_int_equal(h_propose(&h, 1, "x"), 0);
    h_stabilize(&h);
    assert_int_equal(ST(&h, 1).hard_state.commit, 3);
    h_heal(&h);
    h_tick(&h, 1, 1);
    raft_msg *hb = h_find(&h, 1, 3, RAFT_MSG_HEARTBEAT);
    assert_non_null(hb);
    assert_int_equal(hb->commit, 2);
    hb = h_find(&h, 1, 2, RAFT_MSG_HEARTBEAT);
    assert_int_equal(hb->commit, 3);
    h_free(&h);
}

static void test_append_with_mismatched_previous_entry_is_rejected_with_hint(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_msg m = app(1, 2, 2, 7, 2, 2, NULL, 0);
    assert_int_equal(raft_step(R(&h, 2), &m), 0);
    h_ready(&h, 2);
    raft_msg *r = h_find(&h, 2, 1, RAFT_MSG_APP_RESP);
    assert_non_null(r);
    assert_true(r->reject);
    assert_int_equal(r->index, 7);
    assert_int_equal(r->reject_hint, 2);
    assert_int_equal(r->log_term, 2);
    h_free(&h);
}

/* The hint lets the leader skip every entry of a diverging term in one round trip. */
static void test_rejection_hint_skips_a_whole_diverging_term(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    /* The leader collects five term-2 entries nobody else has, then crashes. */
    h_isolate(&h, 1);
    for (int i = 0; i < 5; i++) assert_int_equal(h_propose(&h, 1, "old"), 0);
    h_crash(&h, 1);
    h_heal(&h);
    assert_int_equal(h_campaign(&h, 2), 0);
    for (int i = 0; i < 8; i++) assert_int_equal(h_propose(&h, 2, "new"), 0);
    h_stabilize(&h);
    assert_int_equal(h_restart(&h, 1), 0);
    uint64_t before = h.sent;
    h_tick(&h, 2, 1);
    h_stabilize(&h);
    assert_true(h_applied(&h, 1, "new"));
    assert_false(h_applied(&h, 1, "old"));
    assert_int_equal(ST(&h, 1).last_index, ST(&h, 2).last_index);
    /* Heartbeats, one rejected append, one append with everything, acks: not one round
     * trip per diverging entry. */
    assert_true(h.sent - before <= 10);
    h_free(&h);
}

/* Trap 10: the append stream pauses when the in-flight window is full. */
static void test_append_stream_pauses_when_inflight_window_is_full(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, false);
    c.max_inflight_msgs = 2;
    c.max_msg_bytes = 1;
    harness h = {0};
    elected(&h, 3, &c);
    for (int i = 0; i < 6; i++) assert_int_equal(h_propose(&h, 1, "p"), 0);
    /* The first two appends are in flight to each follower; the rest wait for acks. */
    assert_int_equal(h_count(&h, 1, 2, RAFT_MSG_APP), 2);
    raft_status s = ST(&h, 1);
    for (size_t i = 0; i < s.n_progress; i++)
        if (s.progress[i].id == 2) assert_int_equal(s.progress[i].inflight, 2);
    h_stabilize(&h);
    for (raft_id id = 1; id <= 3; id++) assert_int_equal(ST(&h, id).hard_state.commit, 8);
    h_free(&h);
}

static void test_inflight_window_is_also_bounded_by_bytes(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, false);
    c.max_inflight_msgs = 100;
    c.max_inflight_bytes = 8;
    c.max_msg_bytes = 4;
    harness h = {0};
    elected(&h, 3, &c);
    for (int i = 0; i < 6; i++) assert_int_equal(h_propose(&h, 1, "four"), 0);
    assert_int_equal(h_count(&h, 1, 2, RAFT_MSG_APP), 2);
    h_stabilize(&h);
    assert_int_equal(ST(&h, 2).hard_state.commit, 8);
    h_free(&h);
}

static void test_appends_batch_many_entries_up_to_max_message_bytes(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, false);
    c.max_msg_bytes = 10;
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 2);
    for (int i = 0; i < 8; i++) assert_int_equal(h_propose(&h, 1, "ab"), 0);
    h_stabilize(&h);
    h_heal(&h);
    h_tick(&h, 1, 1);
    raft_msg *m = NULL;
    for (int guard = 0; guard < 10; guard++) {
        m = h_find(&h, 1, 2, RAFT_MSG_APP);
        if (m && m->n_entries) break;
        h_deliver(&h, 1, 2);
        h_deliver(&h, 2, 1);
    }
    assert_non_null(m);
    assert_int_equal(m->n_entries, 5); /* 5 x 2 bytes = 10 */
    h_free(&h);
}

static void test_probe_sends_one_append_until_answered(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(raft_campaign(R(&h, 1)), 0);
    h_ready(&h, 1);
    h_deliver(&h, 1, 0);
    h_deliver(&h, 0, 1); /* votes: node 1 leads, followers in probe */
    h_drop(&h, 0, 0);
    assert_int_equal(raft_propose(R(&h, 1), "x", 1, NULL), 0);
    assert_int_equal(raft_propose(R(&h, 1), "y", 1, NULL), 0);
    h_ready(&h, 1);
    assert_int_equal(h_count(&h, 1, 2, RAFT_MSG_APP), 0);
    h_free(&h);
}

static void test_follower_forwards_proposal_to_leader(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_propose(&h, 3, "fwd"), 0);
    assert_non_null(h_find(&h, 3, 1, RAFT_MSG_PROP));
    h_stabilize(&h);
    for (raft_id id = 1; id <= 3; id++) assert_true(h_applied(&h, id, "fwd"));
    h_free(&h);
}

static void test_proposal_without_known_leader_is_dropped(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(raft_propose(R(&h, 2), "x", 1, NULL), RAFT_ERR_DROPPED);
    assert_int_equal(raft_read_index(R(&h, 2), "r", 1), RAFT_ERR_DROPPED);
    assert_int_equal(raft_transfer_leader(R(&h, 2), 3), RAFT_ERR_DROPPED);
    h_free(&h);
}

static void test_restarted_follower_catches_up_from_persisted_state(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_propose(&h, 1, "a"), 0);
    h_stabilize(&h);
    h_crash(&h, 3);
    assert_int_equal(h_propose(&h, 1, "b"), 0);
    h_stabilize(&h);
    assert_int_equal(h_restart(&h, 3), 0);
    assert_int_equal(ST(&h, 3).last_index, 3);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_true(h_applied(&h, 3, "a")); /* re-applied after restart */
    assert_true(h_applied(&h, 3, "b"));
    h_free(&h);
}

static void test_append_below_commit_is_answered_with_commit(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_msg m = app(1, 2, 2, 1, 1, 2, NULL, 0);
    assert_int_equal(raft_step(R(&h, 2), &m), 0);
    h_ready(&h, 2);
    raft_msg *r = h_find(&h, 2, 1, RAFT_MSG_APP_RESP);
    assert_non_null(r);
    assert_false(r->reject);
    assert_int_equal(r->index, 2);
    h_free(&h);
}

static void test_conflict_with_committed_entry_is_reported_as_corruption(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_entry bad = {.term = 9, .index = 2};
    raft_msg m = app(1, 2, 9, 1, 1, 2, &bad, 1);
    m.index = 2; /* prev = 2 matches; then claim index 2 anew at a different term */
    m.log_term = 2;
    bad.index = 3;
    assert_int_equal(raft_step(R(&h, 2), &m), 0);
    /* A message naming a commit past the log is corruption too. */
    raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 9, .commit = 50};
    assert_int_equal(raft_step(R(&h, 2), &hb), RAFT_ERR_CORRUPT);
    assert_int_equal(raft_tick(R(&h, 2)), RAFT_ERR_CORRUPT);
    h_free(&h);
}

static void test_committed_entries_are_handed_out_in_pages_of_max_committed_bytes(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, false);
    c.max_committed_bytes = 4;
    harness h = {0};
    elected(&h, 3, &c);
    h_crash(&h, 3);
    for (int i = 0; i < 6; i++) assert_int_equal(h_propose(&h, 1, "ab"), 0);
    h_stabilize(&h);
    assert_int_equal(h_restart(&h, 3), 0); /* commit 2 known; 6 more to learn and apply */
    h_tick(&h, 1, 1);
    raft_msg *m = NULL;
    for (int i = 0; i < 10; i++) {
        m = h_find(&h, 1, 3, RAFT_MSG_APP);
        if (m && m->n_entries == 6 && m->commit == 8) break;
        h_deliver(&h, 1, 3);
        h_deliver(&h, 3, 1);
    }
    assert_non_null(m);
    raft *f = R(&h, 3);
    assert_int_equal(raft_step(f, m), 0); /* six entries and their commit, by hand */
    size_t pages = 0, total = 0;
    while (raft_has_ready(f)) {
        struct raft_ready rd;
        assert_int_equal(raft_ready(f, &rd), 0);
        size_t bytes = 0;
        for (size_t i = 0; i < rd.n_committed; i++) bytes += rd.committed[i].len;
        assert_true(bytes <= 4 || rd.n_committed == 1);
        total += rd.n_committed;
        pages += rd.n_committed > 0;
        raft_memstore_append(h_node(&h, 3)->ms, rd.entries, rd.n_entries);
        if (rd.has_hard_state) raft_memstore_set_hard_state(h_node(&h, 3)->ms, &rd.hard_state);
        assert_int_equal(raft_advance(f, &rd), 0);
    }
    assert_int_equal(ST(&h, 3).applied, 8);
    assert_true(pages >= 3);
    assert_int_equal(total, 6);
    h_free(&h);
}

static void test_unreachable_follower_falls_back_to_probe(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_report_unreachable(R(&h, 1), 2);
    raft_status s = ST(&h, 1);
    for (size_t i = 0; i < s.n_progress; i++)
        if (s.progress[i].id == 2) assert_int_equal(s.progress[i].state, 0);
    h_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proposal_commits_on_all_members),
        cmocka_unit_test(test_old_term_entry_is_not_committed_by_counting_replicas),
        cmocka_unit_test(test_figure8_fault_switch_commits_old_term_entry),
        cmocka_unit_test(test_stale_append_does_not_truncate_log),
        cmocka_unit_test(test_conflicting_entries_are_replaced_from_first_conflict),
        cmocka_unit_test(test_follower_commit_is_capped_by_last_new_entry),
        cmocka_unit_test(test_heartbeat_commit_is_capped_by_follower_match),
        cmocka_unit_test(test_append_with_mismatched_previous_entry_is_rejected_with_hint),
        cmocka_unit_test(test_rejection_hint_skips_a_whole_diverging_term),
        cmocka_unit_test(test_append_stream_pauses_when_inflight_window_is_full),
        cmocka_unit_test(test_inflight_window_is_also_bounded_by_bytes),
        cmocka_unit_test(test_appends_batch_many_entries_up_to_max_message_bytes),
        cmocka_unit_test(test_probe_sends_one_append_until_answered),
        cmocka_unit_test(test_follower_forwards_proposal_to_leader),
        cmocka_unit_test(test_proposal_without_known_leader_is_dropped),
        cmocka_unit_test(test_restarted_follower_catches_up_from_persisted_state),
        cmocka_unit_test(test_append_below_commit_is_answered_with_commit),
        cmocka_unit_test(test_conflict_with_committed_entry_is_reported_as_corruption),
        cmocka_unit_test(test_committed_entries_are_handed_out_in_pages_of_max_committed_bytes),
        cmocka_unit_test(test_unreachable_follower_falls_back_to_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
