/* Helpers shared by the raft unit tests (cmocka). */
#ifndef COORD_TESTS_RAFT_TEST_UTIL_H
#define COORD_TESTS_RAFT_TEST_UTIL_H

#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static inline raft_config test_cfg(bool pre_vote, bool check_quorum)
{
    raft_config c;
    raft_config_init(&c);
    c.pre_vote = pre_vote;
    c.check_quorum = check_quorum;
    c.log_level = RAFT_LOG_DEBUG;
    return c;
}

/* A cluster of n voters with node 1 elected (and everything delivered). */
static inline void elected(harness *h, int n, const raft_config *cfg)
{
    assert_int_equal(h_init(h, n, 0, cfg), 0);
    assert_int_equal(h_campaign(h, 1), 0);
    assert_int_equal(h_leader(h), 1);
}

static inline raft *R(harness *h, raft_id id)
{
    return h_node(h, id)->r;
}

#define ST(h, id) h_status((h), (id))

#endif
