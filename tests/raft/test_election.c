/* Elections: randomized timeouts, votes and their durability, pre-vote, check-quorum,
 * leases, and the leader's no-op. */
#include "test_util.h"

static void test_campaign_in_three_node_cluster_elects_leader_with_noop(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(ST(&h, 1).hard_state.term, 2);
    /* Bootstrap entry at 1, the leader's no-op at 2, committed everywhere. */
    for (raft_id id = 1; id <= 3; id++) {
        raft_status f = ST(&h, id);
        assert_int_equal(f.last_index, 2);
        assert_int_equal(f.hard_state.commit, 2);
        assert_int_equal(f.soft.leader, 1);
    }
    h_free(&h);
}

static void test_election_timeout_is_randomized_within_one_to_two_timeouts(void **state)
{
    (void)state;
    /* Different seeds must give different timeouts, all in [election, 2 * election). */
    bool seen[20] = {0};
    int distinct = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        raft_config c = test_cfg(false, false);
        c.seed = seed;
        harness h = {0};
        assert_int_equal(h_init(&h, 3, 0, &c), 0);
        int t = 0;
        while (ST(&h, 1).soft.role == RAFT_FOLLOWER && t < 40) {
            h_tick(&h, 1, 1);
            t++;
        }
        assert_true(t >= 10 && t < 20);
        if (!seen[t]) distinct++;
        seen[t] = true;
        h_free(&h);
    }
    assert_true(distinct >= 5);
}

static void test_node_grants_at_most_one_vote_per_term(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    raft_msg v2 = {.type = RAFT_MSG_VOTE, .from = 2, .to = 3, .term = 5, .index = 1, .log_term = 1};
    raft_msg v1 = v2;
    v1.from = 1;
    assert_int_equal(raft_step(R(&h, 3), &v2), 0);
    assert_int_equal(raft_step(R(&h, 3), &v1), 0);
    h_ready(&h, 3);
    raft_msg *to2 = h_find(&h, 3, 2, RAFT_MSG_VOTE_RESP);
    raft_msg *to1 = h_find(&h, 3, 1, RAFT_MSG_VOTE_RESP);
    assert_non_null(to2);
    assert_non_null(to1);
    assert_false(to2->reject);
    assert_true(to1->reject);
    h_free(&h);
}

static void test_vote_is_refused_to_candidate_with_shorter_log_of_same_term(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    h_isolate(&h, 3);
    assert_int_equal(h_propose(&h, 1, "x"), 0);
    h_stabilize(&h);
    h_heal(&h);
    /* 3 missed "x": its last entry is older, so 2 refuses it. */
    raft_msg v = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 3, .index = 2, .log_term = 2};
    assert_int_equal(raft_step(R(&h, 2), &v), 0);
    h_ready(&h, 2);
    raft_msg *resp = h_find(&h, 2, 3, RAFT_MSG_VOTE_RESP);
    assert_non_null(resp);
    assert_true(resp->reject);
    h_free(&h);
}

/* Regression guard for trap 4 (vote durability): term and vote reach storage in the same
 * ready as the vote response, so a node that crashes after answering still knows whom it
 * voted for and cannot vote twice in that term. */
static void test_vote_survives_restart_so_no_second_vote_in_same_term(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    raft_msg v2 = {.type = RAFT_MSG_VOTE, .from = 2, .to = 3, .term = 5, .index = 1, .log_term = 1};
    assert_int_equal(raft_step(R(&h, 3), &v2), 0);
    struct raft_ready rd;
    assert_int_equal(raft_ready(R(&h, 3), &rd), 0);
    assert_true(rd.has_hard_state);
    assert_true(rd.must_sync);
    assert_int_equal(rd.hard_state.term, 5);
    assert_int_equal(rd.hard_state.vote, 2);
    assert_true(raft_msg_needs_durable(&rd.messages[0]));
    raft_memstore_set_hard_state(h_node(&h, 3)->ms, &rd.hard_state);
    assert_int_equal(raft_advance(R(&h, 3), &rd), 0);
    assert_int_equal(h_restart(&h, 3), 0);
    assert_int_equal(ST(&h, 3).hard_state.vote, 2);
    raft_msg v1 = v2;
    v1.from = 1;
    assert_int_equal(raft_step(R(&h, 3), &v1), 0);
    h_ready(&h, 3);
    raft_msg *resp = h_find(&h, 3, 1, RAFT_MSG_VOTE_RESP);
    assert_non_null(resp);
    assert_true(resp->reject);
    h_free(&h);
}

static void test_leader_without_active_quorum_steps_down_after_election_timeout(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, true);
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 1);
    for (int i = 0; i < 2 * c.election_tick; i++) {
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(ST(&h, 1).soft.role, RAFT_FOLLOWER);
    h_free(&h);
}

static void test_leader_with_active_quorum_stays_leader(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, true);
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 3);
    for (int i = 0; i < 3 * c.election_tick; i++) {
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(ST(&h, 1).soft.role, RAFT_LEADER);
    h_free(&h);
}

static void test_follower_in_lease_ignores_higher_term_vote_request(void **state)
{
    (void)state;
    raft_config c = test_cfg(false, true);
    harness h = {0};
    elected(&h, 3, &c);
    raft_msg v = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 9, .index = 99, .log_term = 9};
    assert_int_equal(raft_step(R(&h, 2), &v), 0);
    h_ready(&h, 2);
    assert_int_equal(ST(&h, 2).hard_state.term, 2);
    assert_null(h_find(&h, 2, 3, RAFT_MSG_VOTE_RESP));
    h_free(&h);
}

static void test_prevote_of_partitioned_node_does_not_raise_anyones_term(void **state)
{
    (void)state;
    raft_config c = test_cfg(true, true);
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 3);
    for (int i = 0; i < 5 * c.election_tick; i++) {
        h_tick(&h, 3, 1);
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(ST(&h, 3).hard_state.term, 2);
    h_heal(&h);
    for (int i = 0; i < 3; i++) {
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(h_leader(&h), 1);
    assert_int_equal(ST(&h, 1).hard_state.term, 2);
    h_free(&h);
}

/* Trap 7: a lower-term pre-vote is answered with a rejection carrying our term, so the
 * pre-candidate catches up instead of retrying forever. */
static void test_lower_term_prevote_is_rejected_with_current_term(void **state)
{
    (void)state;
    raft_config c = test_cfg(true, true);
    harness h = {0};
    elected(&h, 3, &c);
    raft_msg pv = {
        .type = RAFT_MSG_PRE_VOTE, .from = 3, .to = 2, .term = 1, .index = 9, .log_term = 9};
    assert_int_equal(raft_step(R(&h, 2), &pv), 0);
    h_ready(&h, 2);
    raft_msg *resp = h_find(&h, 2, 3, RAFT_MSG_PRE_VOTE_RESP);
    assert_non_null(resp);
    assert_true(resp->reject);
    assert_int_equal(resp->term, 2);
    h_free(&h);
}

/* Trap 7: becoming pre-candidate forgets the leader, so the node does not keep rejecting
 * pre-votes "in lease" of a leader it has itself given up on. */
static void test_precandidate_forgets_its_leader(void **state)
{
    (void)state;
    raft_config c = test_cfg(true, true);
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 2);
    for (int i = 0; i < 2 * c.election_tick && ST(&h, 2).soft.role != RAFT_PRE_CANDIDATE; i++)
        h_tick(&h, 2, 1);
    assert_int_equal(ST(&h, 2).soft.role, RAFT_PRE_CANDIDATE);
    assert_int_equal(ST(&h, 2).soft.leader, RAFT_NONE);
    h_free(&h);
}

static void test_higher_term_append_turns_candidate_into_follower(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(raft_campaign(R(&h, 2)), 0);
    assert_int_equal(ST(&h, 2).soft.role, RAFT_CANDIDATE);
    raft_msg app = {.type = RAFT_MSG_APP, .from = 1, .to = 2, .term = 7, .index = 1, .log_term = 1};
    assert_int_equal(raft_step(R(&h, 2), &app), 0);
    assert_int_equal(ST(&h, 2).soft.role, RAFT_FOLLOWER);
    assert_int_equal(ST(&h, 2).soft.leader, 1);
    assert_int_equal(ST(&h, 2).hard_state.term, 7);
    h_free(&h);
}

static void test_stale_leader_steps_down_on_answer_carrying_newer_term(void **state)
{
    (void)state;
    raft_config c = test_cfg(true, false);
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 1);
    assert_int_equal(h_campaign(&h, 2), 0);
    assert_int_equal(ST(&h, 2).soft.role, RAFT_LEADER);
    h_heal(&h);
    h_tick(&h, 1, 1); /* heartbeat at the old term */
    h_stabilize(&h);
    assert_int_equal(ST(&h, 1).soft.role, RAFT_FOLLOWER);
    assert_int_equal(ST(&h, 1).hard_state.term, 3);
    h_free(&h);
}

static void test_learner_never_campaigns(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 2, 1, NULL), 0);
    for (int i = 0; i < 50; i++) h_tick(&h, 3, 1);
    assert_int_equal(ST(&h, 3).soft.role, RAFT_FOLLOWER);
    assert_int_equal(ST(&h, 3).hard_state.term, 1);
    assert_int_equal(raft_campaign(R(&h, 3)), 0);
    assert_int_equal(ST(&h, 3).soft.role, RAFT_FOLLOWER);
    h_free(&h);
}

/* Trap 4: a single node must not count its own copy before it is durable. */
static void test_single_node_commits_its_entry_only_after_it_is_persisted(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 1, 0, NULL), 0);
    assert_int_equal(raft_campaign(R(&h, 1)), 0);
    assert_int_equal(ST(&h, 1).soft.role, RAFT_LEADER);
    h_ready(&h, 1);
    assert_int_equal(raft_propose(R(&h, 1), "x", 1, NULL), 0);
    struct raft_ready rd;
    assert_int_equal(raft_ready(R(&h, 1), &rd), 0);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.hard_state.commit < rd.entries[0].index, true);
    assert_int_equal(rd.n_committed, 0);
    raft_memstore_append(h_node(&h, 1)->ms, rd.entries, rd.n_entries);
    assert_int_equal(raft_advance(R(&h, 1), &rd), 0);
    assert_int_equal(ST(&h, 1).hard_state.commit, 3);
    h_ready(&h, 1);
    assert_true(h_applied(&h, 1, "x"));
    h_free(&h);
}

static void test_candidate_that_loses_majority_returns_to_follower(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(raft_campaign(R(&h, 1)), 0);
    h_ready(&h, 1);
    h_drop(&h, 0, 0);
    raft_msg no2 = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1, .term = 2, .reject = true};
    raft_msg no3 = no2;
    no3.from = 3;
    assert_int_equal(raft_step(R(&h, 1), &no2), 0);
    assert_int_equal(raft_step(R(&h, 1), &no3), 0);
    assert_int_equal(ST(&h, 1).soft.role, RAFT_FOLLOWER);
    h_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_in_three_node_cluster_elects_leader_with_noop),
        cmocka_unit_test(test_election_timeout_is_randomized_within_one_to_two_timeouts),
        cmocka_unit_test(test_node_grants_at_most_one_vote_per_term),
        cmocka_unit_test(test_vote_is_refused_to_candidate_with_shorter_log_of_same_term),
        cmocka_unit_test(test_vote_survives_restart_so_no_second_vote_in_same_term),
        cmocka_unit_test(test_leader_without_active_quorum_steps_down_after_election_timeout),
        cmocka_unit_test(test_leader_with_active_quorum_stays_leader),
        cmocka_unit_test(test_follower_in_lease_ignores_higher_term_vote_request),
        cmocka_unit_test(test_prevote_of_partitioned_node_does_not_raise_anyones_term),
        cmocka_unit_test(test_lower_term_prevote_is_rejected_with_current_term),
        cmocka_unit_test(test_precandidate_forgets_its_leader),
        cmocka_unit_test(test_higher_term_append_turns_candidate_into_follower),
        cmocka_unit_test(test_stale_leader_steps_down_on_answer_carrying_newer_term),
        cmocka_unit_test(test_learner_never_campaigns),
        cmocka_unit_test(test_single_node_commits_its_entry_only_after_it_is_persisted),
        cmocka_unit_test(test_candidate_that_loses_majority_returns_to_follower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
