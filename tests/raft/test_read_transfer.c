/* ReadIndex (after a commit in term, batched on one heartbeat round, forwarded by
 * followers) and leadership transfer (catch up, then TimeoutNow). */
#include "test_util.h"

static size_t reads(harness *h, raft_id id)
{
    return h_node(h, id)->n_reads;
}

/* Trap 8: a read that reaches a new leader before its no-op commits is queued, not answered
 * (its commit index may be stale) and not dropped. */
static void test_read_before_noop_commits_is_queued_then_answered(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(raft_campaign(R(&h, 1)), 0);
    h_ready(&h, 1);
    h_deliver(&h, 1, 0);
    h_deliver(&h, 0, 1); /* leader, no-op not yet acknowledged */
    assert_int_equal(ST(&h, 1).soft.role, RAFT_LEADER);
    assert_int_equal(raft_read_index(R(&h, 1), "r1", 2), 0);
    h_ready(&h, 1);
    assert_int_equal(reads(&h, 1), 0);
    h_stabilize(&h);
    assert_int_equal(reads(&h, 1), 1);
    assert_int_equal(h_node(&h, 1)->reads[0].index, 2);
    assert_memory_equal(h_node(&h, 1)->reads[0].ctx, "r1", 2);
    h_free(&h);
}

static void test_reads_arriving_together_share_one_heartbeat_round(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    for (int i = 0; i < 5; i++) assert_int_equal(raft_read_index(R(&h, 1), "r", 1), 0);
    h_ready(&h, 1);
    assert_int_equal(h_count(&h, 1, 2, RAFT_MSG_HEARTBEAT), 1);
    assert_int_equal(h_count(&h, 1, 3, RAFT_MSG_HEARTBEAT), 1);
    h_stabilize(&h);
    assert_int_equal(reads(&h, 1), 5);
    h_free(&h);
}

static void test_read_is_answered_only_after_a_quorum_confirms_leadership(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(raft_read_index(R(&h, 1), "r", 1), 0);
    h_ready(&h, 1);
    h_drop(&h, 1, 3);
    assert_int_equal(reads(&h, 1), 0);
    h_deliver(&h, 1, 2);
    assert_int_equal(reads(&h, 1), 0);
    h_deliver(&h, 2, 1);
    assert_int_equal(reads(&h, 1), 1);
    h_free(&h);
}

static void test_isolated_leader_never_answers_a_read(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    h_isolate(&h, 1);
    assert_int_equal(raft_read_index(R(&h, 1), "r", 1), 0);
    for (int i = 0; i < 5; i++) {
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(reads(&h, 1), 0);
    h_free(&h);
}

static void test_follower_read_is_forwarded_and_answered_with_leader_commit(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_propose(&h, 1, "w"), 0);
    h_stabilize(&h);
    assert_int_equal(raft_read_index(R(&h, 3), "f", 1), 0);
    h_ready(&h, 3);
    assert_non_null(h_find(&h, 3, 1, RAFT_MSG_READ_INDEX));
    h_stabilize(&h);
    assert_int_equal(reads(&h, 3), 1);
    assert_int_equal(h_node(&h, 3)->reads[0].index, 3);
    h_free(&h);
}

static void test_single_voter_answers_read_at_once(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 1, 0, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    assert_int_equal(raft_read_index(R(&h, 1), "s", 1), 0);
    h_ready(&h, 1);
    assert_int_equal(reads(&h, 1), 1);
    h_free(&h);
}

static void test_transfer_to_up_to_date_follower_sends_timeout_now_and_it_leads(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 2), 0);
    h_ready(&h, 1);
    assert_non_null(h_find(&h, 1, 2, RAFT_MSG_TIMEOUT_NOW));
    h_stabilize(&h);
    assert_int_equal(h_leader(&h), 2);
    assert_int_equal(ST(&h, 1).soft.role, RAFT_FOLLOWER);
    h_free(&h);
}

static void test_transfer_catches_the_target_up_before_timeout_now(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    h_isolate(&h, 3);
    assert_int_equal(h_propose(&h, 1, "x"), 0);
    h_stabilize(&h);
    h_heal(&h);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 3), 0);
    h_ready(&h, 1);
    assert_null(h_find(&h, 1, 3, RAFT_MSG_TIMEOUT_NOW));
    h_stabilize(&h);
    assert_int_equal(h_leader(&h), 3);
    assert_true(h_applied(&h, 3, "x"));
    h_free(&h);
}

static void test_proposals_are_dropped_while_a_transfer_is_in_progress(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    h_isolate(&h, 3);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 3), 0);
    assert_int_equal(raft_propose(R(&h, 1), "x", 1, NULL), RAFT_ERR_DROPPED);
    h_free(&h);
}

static void test_transfer_is_abandoned_after_an_election_timeout(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    h_isolate(&h, 3);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 3), 0);
    assert_int_equal(ST(&h, 1).transferee, 3);
    h_tick(&h, 1, 10);
    assert_int_equal(ST(&h, 1).transferee, RAFT_NONE);
    assert_int_equal(h_propose(&h, 1, "x"), 0);
    h_free(&h);
}

static void test_transfer_campaign_is_not_blocked_by_follower_leases(void **state)
{
    (void)state;
    raft_config c = test_cfg(true, true);
    harness h = {0};
    elected(&h, 3, &c);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 2), 0);
    h_stabilize(&h);
    assert_int_equal(h_leader(&h), 2);
    h_free(&h);
}

static void test_transfer_to_learner_or_self_is_ignored(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 2, 1, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 3), 0);
    assert_int_equal(ST(&h, 1).transferee, RAFT_NONE);
    assert_int_equal(raft_transfer_leader(R(&h, 1), 1), 0);
    assert_int_equal(ST(&h, 1).transferee, RAFT_NONE);
    h_free(&h);
}

static void test_follower_forwards_transfer_request_to_leader(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(raft_transfer_leader(R(&h, 2), 3), 0);
    h_stabilize(&h);
    assert_int_equal(h_leader(&h), 3);
    h_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_before_noop_commits_is_queued_then_answered),
        cmocka_unit_test(test_reads_arriving_together_share_one_heartbeat_round),
        cmocka_unit_test(test_read_is_answered_only_after_a_quorum_confirms_leadership),
        cmocka_unit_test(test_isolated_leader_never_answers_a_read),
        cmocka_unit_test(test_follower_read_is_forwarded_and_answered_with_leader_commit),
        cmocka_unit_test(test_single_voter_answers_read_at_once),
        cmocka_unit_test(test_transfer_to_up_to_date_follower_sends_timeout_now_and_it_leads),
        cmocka_unit_test(test_transfer_catches_the_target_up_before_timeout_now),
        cmocka_unit_test(test_proposals_are_dropped_while_a_transfer_is_in_progress),
        cmocka_unit_test(test_transfer_is_abandoned_after_an_election_timeout),
        cmocka_unit_test(test_transfer_campaign_is_not_blocked_by_follower_leases),
        cmocka_unit_test(test_transfer_to_learner_or_self_is_ignored),
        cmocka_unit_test(test_follower_forwards_transfer_request_to_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
