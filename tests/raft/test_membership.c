/* Membership by joint consensus, with learners: one change at a time, a new leader commits
 * in its term first, removing the leader, promotion, and restoring configurations. */
#include "test_util.h"

static raft_conf_change one(int type, raft_id node)
{
    raft_conf_change cc = {.n_changes = 1};
    cc.changes[0] = (raft_conf_change_item){(uint8_t)type, node};
    return cc;
}

static int change(harness *h, raft_id at, raft_conf_change cc)
{
    int rc = raft_propose_conf_change(R(h, at), &cc, "ctx", 3, NULL);
    if (rc) return rc;
    h_stabilize(h);
    return 0;
}

static void test_adding_a_voter_passes_through_joint_configuration_and_leaves_it(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_add_empty_node(&h, 4), 0);
    assert_int_equal(change(&h, 1, one(RAFT_CC_ADD_VOTER, 4)), 0);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    for (raft_id id = 1; id <= 4; id++) {
        raft_status s = ST(&h, id);
        assert_int_equal(s.conf.n_voters, 4);
        assert_int_equal(s.conf.n_voters_outgoing, 0);
    }
    /* The joint entry and the leave entry are both in the log. */
    assert_int_equal(ST(&h, 1).last_index, 4);
    h_free(&h);
}

static void test_second_change_is_refused_while_first_is_pending(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    raft_conf_change cc = one(RAFT_CC_ADD_LEARNER, 4);
    assert_int_equal(raft_propose_conf_change(R(&h, 1), &cc, NULL, 0, NULL), 0);
    cc = one(RAFT_CC_ADD_LEARNER, 5);
    assert_int_equal(raft_propose_conf_change(R(&h, 1), &cc, NULL, 0, NULL), RAFT_ERR_CONF_PENDING);
    h_free(&h);
}

/* Trap 5: a new leader accepts a change only once an entry of its own term is applied (it
 * may not know yet of a change its predecessor committed). */
static void test_new_leader_refuses_change_until_its_noop_is_applied(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(raft_campaign(R(&h, 1)), 0);
    h_ready(&h, 1);
    h_deliver(&h, 1, 0);
    h_deliver(&h, 0, 1);
    assert_int_equal(ST(&h, 1).soft.role, RAFT_LEADER);
    raft_conf_change cc = one(RAFT_CC_ADD_LEARNER, 4);
    assert_int_equal(raft_propose_conf_change(R(&h, 1), &cc, NULL, 0, NULL), RAFT_ERR_CONF_PENDING);
    h_stabilize(&h);
    assert_int_equal(raft_propose_conf_change(R(&h, 1), &cc, NULL, 0, NULL), 0);
    h_free(&h);
}

static void test_followers_may_not_propose_changes(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(change(&h, 2, one(RAFT_CC_ADD_LEARNER, 4)), RAFT_ERR_DROPPED);
    h_free(&h);
}

/* Trap 6: removing the leader works: it steps down once the change applies, and the rest
 * elect a leader among themselves and keep committing. */
static void test_removed_leader_steps_down_and_the_rest_elect_a_new_one(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(change(&h, 1, one(RAFT_CC_REMOVE, 1)), 0);
    for (int i = 0; i < 3 && ST(&h, 1).soft.role == RAFT_LEADER; i++) {
        h_tick(&h, 1, 1);
        h_stabilize(&h);
    }
    assert_int_equal(ST(&h, 1).soft.role, RAFT_FOLLOWER);
    assert_int_equal(h_campaign(&h, 2), 0);
    assert_int_equal(h_leader(&h), 2);
    assert_int_equal(ST(&h, 2).conf.n_voters, 2);
    assert_int_equal(h_propose(&h, 2, "after"), 0);
    h_stabilize(&h);
    assert_true(h_applied(&h, 3, "after"));
    /* The removed node cannot campaign any more. */
    assert_int_equal(raft_campaign(R(&h, 1)), 0);
    assert_int_equal(ST(&h, 1).soft.role, RAFT_FOLLOWER);
    h_free(&h);
}

static void test_learner_gets_the_log_but_does_not_count_toward_commit(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 1, 1, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    assert_int_equal(h_propose(&h, 1, "x"), 0);
    h_stabilize(&h);
    assert_true(h_applied(&h, 2, "x"));
    /* With the leader down, the learner's copy commits nothing and elects nobody. */
    h_crash(&h, 1);
    for (int i = 0; i < 50; i++) h_tick(&h, 2, 1);
    assert_int_equal(ST(&h, 2).soft.role, RAFT_FOLLOWER);
    h_free(&h);
}

/* Trap 6: a promoted learner votes. */
static void test_promoted_learner_votes_and_can_lead(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 2, 1, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    assert_int_equal(change(&h, 1, one(RAFT_CC_ADD_VOTER, 3)), 0);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_int_equal(ST(&h, 3).conf.n_voters, 3);
    assert_int_equal(h_campaign(&h, 3), 0);
    assert_int_equal(h_leader(&h), 3);
    h_free(&h);
}

static void test_demoting_a_voter_to_learner_is_refused(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(change(&h, 1, one(RAFT_CC_ADD_LEARNER, 3)), RAFT_ERR_INVALID);
    raft_conf_change leave = {0};
    assert_int_equal(change(&h, 1, leave), RAFT_ERR_INVALID); /* not in a joint config */
    h_free(&h);
}

/* Trap 6: a removed member that does not know it was removed cannot disrupt the cluster
 * (check-quorum lease), and its log does not win. */
static void test_removed_member_unaware_of_removal_does_not_disrupt(void **state)
{
    (void)state;
    raft_config c = test_cfg(true, true);
    harness h = {0};
    elected(&h, 3, &c);
    h_isolate(&h, 3);
    assert_int_equal(change(&h, 1, one(RAFT_CC_REMOVE, 3)), 0);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_int_equal(ST(&h, 1).conf.n_voters, 2);
    h_heal(&h);
    uint64_t term = ST(&h, 1).hard_state.term;
    for (int i = 0; i < 60; i++) {
        h_tick(&h, 3, 1);
        h_tick(&h, 1, 1);
        h_tick(&h, 2, 1);
        h_stabilize(&h);
    }
    assert_int_equal(h_leader(&h), 1);
    assert_int_equal(ST(&h, 1).hard_state.term, term);
    h_free(&h);
}

/* Trap 6: joint configurations and learners survive a restart through the snapshot. */
static void test_restart_restores_joint_configuration_and_learners_from_snapshot(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 1, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    raft_conf_change cc = one(RAFT_CC_REMOVE, 3);
    assert_int_equal(raft_propose_conf_change(R(&h, 1), &cc, NULL, 0, NULL), 0);
    h_ready(&h, 1);
    /* Only 1 and 2 talk, and only until 2 has applied the joint configuration. */
    for (int i = 0; i < 10 && ST(&h, 2).conf.n_voters_outgoing == 0; i++) {
        h_drop(&h, 0, 3);
        h_deliver(&h, 1, 2);
        h_deliver(&h, 2, 1);
    }
    h_drop(&h, 0, 0);
    raft_status s = ST(&h, 2);
    assert_int_equal(s.conf.n_voters_outgoing, 3);
    assert_int_equal(h_compact(&h, 2), 0);
    assert_int_equal(h_restart(&h, 2), 0);
    s = ST(&h, 2);
    assert_int_equal(s.conf.n_voters, 2);
    assert_int_equal(s.conf.n_voters_outgoing, 3);
    assert_int_equal(s.conf.n_learners, 1);
    h_free(&h);
}

/* The application restarts with its applied index: configuration changes between the
 * snapshot and that index are in force at once, before anything is handed out again. */
static void test_restart_with_applied_index_replays_configuration_changes(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    assert_int_equal(h_add_empty_node(&h, 4), 0);
    assert_int_equal(change(&h, 1, one(RAFT_CC_ADD_LEARNER, 4)), 0);
    assert_int_equal(h_propose(&h, 1, "w"), 0);
    h_stabilize(&h);
    uint64_t applied = ST(&h, 2).applied;
    assert_int_equal(h_restart_applied(&h, 2, applied), 0);
    raft_status s = ST(&h, 2);
    assert_int_equal(s.applied, applied);
    assert_int_equal(s.conf.n_learners, 1);
    assert_int_equal(h_node(&h, 2)->applied.n, 0); /* nothing handed out again */
    h_free(&h);
}

static void test_new_member_with_empty_storage_catches_up_and_applies_its_addition(void **state)
{
    (void)state;
    harness h = {0};
    elected(&h, 3, NULL);
    for (int i = 0; i < 3; i++) assert_int_equal(h_propose(&h, 1, "w"), 0);
    h_stabilize(&h);
    assert_int_equal(h_compact(&h, 1), 0);
    assert_int_equal(h_add_empty_node(&h, 4), 0);
    assert_int_equal(change(&h, 1, one(RAFT_CC_ADD_LEARNER, 4)), 0);
    h_tick(&h, 1, 1);
    h_stabilize(&h);
    assert_int_equal(ST(&h, 4).conf.n_learners, 1);
    assert_int_equal(ST(&h, 4).hard_state.commit, ST(&h, 1).hard_state.commit);
    h_free(&h);
}

static void test_conf_change_entry_carries_the_application_context(void **state)
{
    (void)state;
    raft_conf_change cc = one(RAFT_CC_ADD_VOTER, 7), out;
    size_t len;
    uint8_t *buf = raft_conf_change_encode(&cc, "http://x", 8, &len);
    assert_non_null(buf);
    const uint8_t *ctx;
    size_t ctx_len;
    assert_int_equal(raft_conf_change_decode(buf, len, &out, &ctx, &ctx_len), 0);
    assert_int_equal(out.n_changes, 1);
    assert_int_equal(out.changes[0].node, 7);
    assert_int_equal(ctx_len, 8);
    assert_memory_equal(ctx, "http://x", 8);
    assert_int_equal(raft_conf_change_decode(buf, len - 1, &out, &ctx, &ctx_len), RAFT_ERR_DECODE);
    buf[0] = 9;
    assert_int_equal(raft_conf_change_decode(buf, len, &out, &ctx, &ctx_len), RAFT_ERR_DECODE);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adding_a_voter_passes_through_joint_configuration_and_leaves_it),
        cmocka_unit_test(test_second_change_is_refused_while_first_is_pending),
        cmocka_unit_test(test_new_leader_refuses_change_until_its_noop_is_applied),
        cmocka_unit_test(test_followers_may_not_propose_changes),
        cmocka_unit_test(test_removed_leader_steps_down_and_the_rest_elect_a_new_one),
        cmocka_unit_test(test_learner_gets_the_log_but_does_not_count_toward_commit),
        cmocka_unit_test(test_promoted_learner_votes_and_can_lead),
        cmocka_unit_test(test_demoting_a_voter_to_learner_is_refused),
        cmocka_unit_test(test_removed_member_unaware_of_removal_does_not_disrupt),
        cmocka_unit_test(test_restart_restores_joint_configuration_and_learners_from_snapshot),
        cmocka_unit_test(test_restart_with_applied_index_replays_configuration_changes),
        cmocka_unit_test(test_new_member_with_empty_storage_catches_up_and_applies_its_addition),
        cmocka_unit_test(test_conf_change_entry_carries_the_application_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
