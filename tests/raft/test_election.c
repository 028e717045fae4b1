/* Elections: randomized timeouts, votes, pre-vote, check-quorum, leases, no-op on election. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_campaign_in_three_node_cluster_elects_leader_with_noop(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    assert_int_equal(h_leader(&h), 1);
    raft_status s = h_status(&h, 1);
    assert_int_equal(s.hard_state.term, 2);
    /* Bootstrap entry at 1, the leader's no-op at 2, committed everywhere. */
    for (raft_id id = 1; id <= 3; id++) {
        raft_status f = h_status(&h, id);
        assert_int_equal(f.last_index, 2);
        assert_int_equal(f.hard_state.commit, 2);
        assert_int_equal(f.soft.leader, 1);
    }
    h_free(&h);
}

static void test_proposal_commits_on_all_members(void **state)
{
    (void)state;
    harness h = {0};
    assert_int_equal(h_init(&h, 3, 0, NULL), 0);
    assert_int_equal(h_campaign(&h, 1), 0);
    assert_int_equal(h_propose(&h, 1, "x=1"), 0);
    h_stabilize(&h);
    for (raft_id id = 1; id <= 3; id++) assert_true(h_applied(&h, id, "x=1"));
    h_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_in_three_node_cluster_elects_leader_with_noop),
        cmocka_unit_test(test_proposal_commits_on_all_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
