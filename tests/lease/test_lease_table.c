/* The lease table's rules, on a clock the tests move by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lease.h"

typedef struct fake_clock {
    int64_t ms;
} fake_clock;

static int64_t fake_now(void *arg)
{
    return ((fake_clock *)arg)->ms;
}

typedef struct fixture {
    fake_clock clock;
    lease_table *t;
} fixture;

static fixture *make_paused(int64_t min_ttl, int64_t checkpoint_ms, int64_t revoke_per_s,
                            bool primary, int64_t pause_ms)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->clock.ms = 1000000;
    lease_table_opts o = {.now_ms = fake_now,
                          .clock_arg = &f->clock,
                          .min_ttl = min_ttl,
                          .checkpoint_interval_ms = checkpoint_ms,
                          .revoke_per_s = revoke_per_s,
                          .revoke_retry_ms = 3000,
                          .pause_ms = pause_ms};
    assert_int_equal(lease_table_create(&o, &f->t), LEASE_OK);
    if (primary) assert_int_equal(lease_table_promote(f->t, 0), LEASE_OK);
    return f;
}

static fixture *make(int64_t min_ttl, int64_t checkpoint_ms, int64_t revoke_per_s, bool primary)
{
    return make_paused(min_ttl, checkpoint_ms, revoke_per_s, primary, 0);
}

static void done(fixture *f)
{
    lease_table_destroy(f->t);
    free(f);
}

static size_t expired(fixture *f, int64_t *ids, size_t max)
{
    return lease_table_expired(f->t, ids, max);
}

/* --- granting ------------------------------------------------------------------------- */

static void test_min_ttl_is_two_seconds_with_default_timeouts(void **state)
{
    (void)state;
    assert_int_equal(lease_min_ttl(1000, 100), 2);
}

static void test_min_ttl_follows_a_longer_election_timeout(void **state)
{
    (void)state;
    /* 10 ticks of 500 ms: 15 ticks = 7.5 s, rounded up. */
    assert_int_equal(lease_min_ttl(5000, 500), 8);
}

static void test_grant_below_the_minimum_ttl_is_raised_to_it(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    int64_t granted = 0;
    assert_int_equal(lease_table_grant(f->t, 7, 1, &granted), LEASE_OK);
    assert_int_equal(granted, 2);
    done(f);
}

static void test_grant_of_a_negative_ttl_gets_the_minimum(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    int64_t granted = 0;
    assert_int_equal(lease_table_grant(f->t, 7, -5, &granted), LEASE_OK);
    assert_int_equal(granted, 2);
    done(f);
}

static void test_grant_above_the_largest_ttl_fails_with_ttl_too_large(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    int64_t granted = 0;
    assert_int_equal(lease_table_grant(f->t, 7, LEASE_MAX_TTL + 1, &granted),
                     LEASE_ERR_TTL_TOO_LARGE);
    assert_false(lease_table_exists(f->t, 7));
    assert_int_equal(lease_table_grant(f->t, 7, LEASE_MAX_TTL, &granted), LEASE_OK);
    done(f);
}

static void test_grant_of_an_existing_id_fails_with_exists(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    assert_int_equal(lease_table_grant(f->t, 7, 20, NULL), LEASE_ERR_EXISTS);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.ttl, 10);
    done(f);
}

static void test_ttl_bound_is_checked_before_existence(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    assert_int_equal(lease_table_grant(f->t, 7, LEASE_MAX_TTL + 1, NULL), LEASE_ERR_TTL_TOO_LARGE);
    done(f);
}

static void test_grant_of_lease_id_zero_is_refused(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 0, 10, NULL), LEASE_ERR_INVALID);
    assert_int_equal(lease_table_count(f->t), 0);
    done(f);
}

static void test_check_grant_changes_nothing(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    int64_t granted = 0;
    assert_int_equal(lease_table_check_grant(f->t, 7, 1, &granted), LEASE_OK);
    assert_int_equal(granted, 2);
    assert_false(lease_table_exists(f->t, 7));
    done(f);
}

/* --- expiry --------------------------------------------------------------------------- */

static void test_a_lease_is_not_expired_before_its_ttl(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 9999;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 0);
    done(f);
}

static void test_a_lease_is_expired_once_its_ttl_has_passed(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 10000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 1);
    assert_int_equal(ids[0], 7);
    done(f);
}

static void test_an_expired_lease_is_handed_out_once_until_the_retry_time(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 10000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 1);
    f->clock.ms += 2999;
    assert_int_equal(expired(f, ids, 4), 0);
    done(f);
}

static void test_an_expired_lease_not_revoked_is_handed_out_again_after_the_retry_time(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 10000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 1);
    f->clock.ms += 3000;
    assert_int_equal(expired(f, ids, 4), 1);
    assert_int_equal(ids[0], 7);
    done(f);
}

static void test_a_revoked_lease_is_never_handed_out_as_expired(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    assert_int_equal(lease_table_revoke(f->t, 7), LEASE_OK);
    f->clock.ms += 60000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 0);
    done(f);
}

static void test_revoke_of_an_unknown_lease_is_not_found(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_revoke(f->t, 7), LEASE_ERR_NOT_FOUND);
    done(f);
}

static void test_expired_hands_out_at_most_max_leases_earliest_first(void **state)
{
    (void)state;
    fixture *f = make(1, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 3, 30, NULL), LEASE_OK);
    assert_int_equal(lease_table_grant(f->t, 1, 10, NULL), LEASE_OK);
    assert_int_equal(lease_table_grant(f->t, 2, 20, NULL), LEASE_OK);
    f->clock.ms += 60000;
    int64_t ids[2];
    assert_int_equal(expired(f, ids, 2), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(expired(f, ids, 2), 1);
    assert_int_equal(ids[0], 3);
    done(f);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_many_leases_expire_in_the_order_of_their_expiry(void **state)
{
    (void)state;
    fixture *f = make(1, 0, 0, true);
    enum { N = 5000 };
    int64_t *ttls = malloc(N * sizeof(*ttls));
    assert_non_null(ttls);
    srand(7);
    for (int i = 0; i < N; i++) {
        /* id encodes the ttl so the expected order is known; ids stay unique. */
        ttls[i] = 1 + rand() % 1000;
        assert_int_equal(lease_table_grant(f->t, ttls[i] * 100000 + i, ttls[i], NULL), LEASE_OK);
    }
    /* Renew a third of them later, moving them inside the heap. */
    f->clock.ms += 500;
    for (int i = 0; i < N; i += 3) {
        int64_t ttl = 0;
        assert_int_equal(lease_table_renew(f->t, ttls[i] * 100000 + i, &ttl, NULL), LEASE_OK);
    }
    int64_t last_expiry = 0;
    size_t seen = 0;
    for (int64_t step = 0; step <= 1001 * 1000; step += 250) {
        f->clock.ms += 250;
        int64_t ids[64];
        size_t n;
        while ((n = expired(f, ids, 64)) > 0) {
            for (size_t k = 0; k < n; k++) {
                int64_t i = ids[k] % 100000;
                int64_t expiry = ttls[i] * 1000 + (i % 3 == 0 ? 500 : 0);
                assert_true(expiry >= last_expiry);
                last_expiry = expiry;
                assert_int_equal(lease_table_revoke(f->t, ids[k]), LEASE_OK);
                seen++;
            }
        }
    }
    assert_int_equal(seen, N);
    free(ttls);
    done(f);
}

/* --- keep-alive ----------------------------------------------------------------------- */

static void test_renew_pushes_the_expiry_a_full_ttl_from_now(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 8000;
    int64_t ttl = 0;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_OK);
    assert_int_equal(ttl, 10);
    f->clock.ms += 9999;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 0);
    f->clock.ms += 1;
    assert_int_equal(expired(f, ids, 4), 1);
    done(f);
}

static void test_renew_of_an_expired_lease_is_not_found(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 10000;
    int64_t ttl = 0;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_ERR_NOT_FOUND);
    /* and it stays expired: the renewal did not revive it */
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 1);
    done(f);
}

static void test_renew_of_an_unknown_lease_is_not_found(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    int64_t ttl = 0;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_ERR_NOT_FOUND);
    done(f);
}

static void test_renew_on_a_member_that_is_not_primary_fails(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, false);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    int64_t ttl = 0;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_ERR_NOT_PRIMARY);
    done(f);
}

/* --- primary and not ------------------------------------------------------------------ */

static void test_a_member_that_is_not_primary_never_expires_a_lease(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, false);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 3600 * 1000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 0);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.remaining_ms, -1);
    done(f);
}

static void test_demote_holds_every_lease_until_the_next_promotion(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    lease_table_demote(f->t);
    assert_false(lease_table_is_primary(f->t));
    f->clock.ms += 60000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 0);
    done(f);
}

static void test_promote_gives_every_lease_its_ttl_plus_the_extension(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 9000; /* 1 s left on the old primary */
    lease_table_demote(f->t);
    assert_int_equal(lease_table_promote(f->t, 1000), LEASE_OK);
    int64_t ids[4];
    f->clock.ms += 10999;
    assert_int_equal(expired(f, ids, 4), 0);
    f->clock.ms += 1;
    assert_int_equal(expired(f, ids, 4), 1);
    done(f);
}

static void test_promote_starts_a_lease_from_its_checkpointed_remaining_ttl(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, false);
    assert_int_equal(lease_table_grant(f->t, 7, 600, NULL), LEASE_OK);
    assert_int_equal(lease_table_checkpoint(f->t, 7, 30), LEASE_OK);
    assert_int_equal(lease_table_promote(f->t, 1000), LEASE_OK);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.remaining_ms, 31000);
    done(f);
}

static void test_a_restored_lease_without_checkpoint_gets_its_full_ttl_on_promotion(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, false);
    assert_int_equal(lease_table_restore(f->t, 7, 600, 0), LEASE_OK);
    assert_int_equal(lease_table_promote(f->t, 1000), LEASE_OK);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.remaining_ms, 601000);
    done(f);
}

static void test_a_restored_lease_keeps_its_checkpointed_remaining_ttl(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, false);
    assert_int_equal(lease_table_restore(f->t, 7, 600, 45), LEASE_OK);
    assert_int_equal(lease_table_promote(f->t, 1000), LEASE_OK);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.remaining_ttl, 45);
    assert_int_equal(info.remaining_ms, 46000);
    done(f);
}

static void test_promote_lets_no_more_than_the_revoke_rate_expire_per_second(void **state)
{
    (void)state;
    /* 100 per second allowed; 400 leases all expiring at once after promotion. */
    fixture *f = make(1, 0, 100, false);
    for (int64_t id = 1; id <= 400; id++)
        assert_int_equal(lease_table_grant(f->t, id, 10, NULL), LEASE_OK);
    assert_int_equal(lease_table_promote(f->t, 1000), LEASE_OK);
    int64_t ids[1000];
    f->clock.ms += 11000;
    size_t first = expired(f, ids, 1000);
    assert_true(first <= 75);
    assert_true(first > 0);
    size_t total = first;
    for (size_t k = 0; k < first; k++) assert_int_equal(lease_table_revoke(f->t, ids[k]), LEASE_OK);
    for (int s = 0; s < 10; s++) {
        f->clock.ms += 1000;
        size_t n = expired(f, ids, 1000);
        assert_true(n <= 75);
        for (size_t k = 0; k < n; k++) assert_int_equal(lease_table_revoke(f->t, ids[k]), LEASE_OK);
        total += n;
    }
    assert_int_equal(total, 400);
    done(f);
}

static void test_promote_never_brings_an_expiry_earlier(void **state)
{
    (void)state;
    fixture *f = make(1, 0, 10, false);
    for (int64_t id = 1; id <= 100; id++)
        assert_int_equal(lease_table_grant(f->t, id, 5, NULL), LEASE_OK);
    assert_int_equal(lease_table_promote(f->t, 1000), LEASE_OK);
    for (int64_t id = 1; id <= 100; id++) {
        lease_info info;
        assert_int_equal(lease_table_lookup(f->t, id, &info), LEASE_OK);
        assert_true(info.remaining_ms >= 6000);
    }
    done(f);
}

/* --- checkpoints ---------------------------------------------------------------------- */

static void
test_a_checkpoint_is_due_after_the_interval_with_the_remaining_ttl_rounded_up(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 600, NULL), LEASE_OK);
    lease_checkpoint cp[4];
    f->clock.ms += 59999;
    assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 0);
    f->clock.ms += 1;
    assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 1);
    assert_int_equal(cp[0].id, 7);
    assert_int_equal(cp[0].remaining_ttl, 540);
    f->clock.ms += 500;
    assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 0);
    done(f);
}

static void test_checkpoints_recur_every_interval(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 600, NULL), LEASE_OK);
    lease_checkpoint cp[4];
    f->clock.ms += 60000;
    assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 1);
    f->clock.ms += 60000;
    assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 1);
    assert_int_equal(cp[0].remaining_ttl, 480);
    done(f);
}

static void test_a_lease_not_longer_than_the_interval_is_never_checkpointed(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 60, NULL), LEASE_OK);
    lease_checkpoint cp[4];
    for (int i = 0; i < 10; i++) {
        f->clock.ms += 30000;
        int64_t ttl;
        assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_OK);
        assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 0);
    }
    done(f);
}

static void test_a_lease_renewed_to_its_full_ttl_needs_no_checkpoint(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 600, NULL), LEASE_OK);
    f->clock.ms += 60000;
    int64_t ttl;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_OK);
    lease_checkpoint cp[4];
    assert_int_equal(lease_table_due_checkpoints(f->t, cp, 4), 0);
    done(f);
}

static void test_renew_after_a_checkpoint_asks_to_clear_it(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 600, NULL), LEASE_OK);
    assert_int_equal(lease_table_checkpoint(f->t, 7, 540), LEASE_OK);
    int64_t ttl;
    bool clear = false;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, &clear), LEASE_OK);
    assert_true(clear);
    assert_int_equal(lease_table_checkpoint(f->t, 7, 0), LEASE_OK);
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, &clear), LEASE_OK);
    assert_false(clear);
    done(f);
}

static void test_a_checkpoint_does_not_move_the_expiry_on_the_primary(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 600, NULL), LEASE_OK);
    /* A checkpoint measured before a keep-alive arrives after it. */
    assert_int_equal(lease_table_checkpoint(f->t, 7, 30), LEASE_OK);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.remaining_ms, 600000);
    done(f);
}

static void test_a_checkpoint_of_a_revoked_lease_is_ignored(void **state)
{
    (void)state;
    fixture *f = make(2, 60000, 0, true);
    assert_int_equal(lease_table_checkpoint(f->t, 7, 30), LEASE_OK);
    assert_false(lease_table_exists(f->t, 7));
    done(f);
}

/* --- reading -------------------------------------------------------------------------- */

static void test_lookup_reports_zero_remaining_once_expired(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    assert_int_equal(lease_table_grant(f->t, 7, 10, NULL), LEASE_OK);
    f->clock.ms += 12000;
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_OK);
    assert_int_equal(info.remaining_ms, 0);
    done(f);
}

static void test_lookup_of_an_unknown_lease_is_not_found(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    lease_info info;
    assert_int_equal(lease_table_lookup(f->t, 7, &info), LEASE_ERR_NOT_FOUND);
    done(f);
}

static void test_ids_are_listed_in_ascending_order(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    int64_t want[] = {5, 900, 42, 3000000, 1};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(lease_table_grant(f->t, want[i], 10, NULL), LEASE_OK);
    int64_t *ids;
    size_t n;
    assert_int_equal(lease_table_ids(f->t, &ids, &n), LEASE_OK);
    assert_int_equal(n, 5);
    qsort(want, 5, sizeof(want[0]), cmp_i64);
    for (size_t i = 0; i < 5; i++) assert_int_equal(ids[i], want[i]);
    free(ids);
    done(f);
}

static void test_the_table_grows_past_its_first_buckets(void **state)
{
    (void)state;
    fixture *f = make(2, 0, 0, true);
    for (int64_t id = 1; id <= 20000; id++)
        assert_int_equal(lease_table_grant(f->t, id, 10, NULL), LEASE_OK);
    assert_int_equal(lease_table_count(f->t), 20000);
    for (int64_t id = 1; id <= 20000; id++) assert_true(lease_table_exists(f->t, id));
    done(f);
}

/* --- pauses --------------------------------------------------------------------------- */

static void test_a_renewal_after_a_pause_finds_its_lease(void **state)
{
    (void)state;
    fixture *f = make_paused(2, 0, 0, true, 1000);
    assert_int_equal(lease_table_grant(f->t, 7, 3, NULL), LEASE_OK);
    lease_table_tick(f->t);
    f->clock.ms += 6000; /* stopped for twice the TTL: no tick, no renewal got through */
    int64_t ttl = 0;
    assert_int_equal(lease_table_renew(f->t, 7, &ttl, NULL), LEASE_OK);
    assert_int_equal(ttl, 3);
    done(f);
}

static void test_a_pause_restarts_every_clock_before_anything_expires(void **state)
{
    (void)state;
    fixture *f = make_paused(2, 0, 0, true, 1000);
    assert_int_equal(lease_table_grant(f->t, 7, 3, NULL), LEASE_OK);
    lease_table_tick(f->t);
    f->clock.ms += 6000;
    int64_t ids[4];
    assert_int_equal(expired(f, ids, 4), 0);
    for (int i = 0; i < 29; i++) {
        f->clock.ms += 100;
        lease_table_tick(f->t);
    }
    f->clock.ms += 99;
    assert_int_equal(expired(f, ids, 4), 0);
    f->clock.ms += 1;
    assert_int_equal(expired(f, ids, 4), 1);
    done(f);
}

static void test_the_tick_reports_a_pause(void **state)
{
    (void)state;
    fixture *f = make_paused(2, 0, 0, true, 1000);
    assert_false(lease_table_tick(f->t));
    f->clock.ms += 1000;
    assert_false(lease_table_tick(f->t));
    f->clock.ms += 1001;
    assert_true(lease_table_tick(f->t));
    done(f);
}

static void test_regular_ticks_let_leases_expire_on_time(void **state)
{
    (void)state;
    fixture *f = make_paused(2, 0, 0, true, 1000);
    assert_int_equal(lease_table_grant(f->t, 7, 3, NULL), LEASE_OK);
    int64_t ids[4];
    for (int i = 0; i < 30; i++) {
        f->clock.ms += 100;
        lease_table_tick(f->t);
    }
    assert_int_equal(expired(f, ids, 4), 1);
    done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_min_ttl_is_two_seconds_with_default_timeouts),
        cmocka_unit_test(test_min_ttl_follows_a_longer_election_timeout),
        cmocka_unit_test(test_grant_below_the_minimum_ttl_is_raised_to_it),
        cmocka_unit_test(test_grant_of_a_negative_ttl_gets_the_minimum),
        cmocka_unit_test(test_grant_above_the_largest_ttl_fails_with_ttl_too_large),
        cmocka_unit_test(test_grant_of_an_existing_id_fails_with_exists),
        cmocka_unit_test(test_ttl_bound_is_checked_before_existence),
        cmocka_unit_test(test_grant_of_lease_id_zero_is_refused),
        cmocka_unit_test(test_check_grant_changes_nothing),
        cmocka_unit_test(test_a_lease_is_not_expired_before_its_ttl),
        cmocka_unit_test(test_a_lease_is_expired_once_its_ttl_has_passed),
        cmocka_unit_test(test_an_expired_lease_is_handed_out_once_until_the_retry_time),
        cmocka_unit_test(
            test_an_expired_lease_not_revoked_is_handed_out_again_after_the_retry_time),
        cmocka_unit_test(test_a_revoked_lease_is_never_handed_out_as_expired),
        cmocka_unit_test(test_revoke_of_an_unknown_lease_is_not_found),
        cmocka_unit_test(test_expired_hands_out_at_most_max_leases_earliest_first),
        cmocka_unit_test(test_many_leases_expire_in_the_order_of_their_expiry),
        cmocka_unit_test(test_renew_pushes_the_expiry_a_full_ttl_from_now),
        cmocka_unit_test(test_renew_of_an_expired_lease_is_not_found),
        cmocka_unit_test(test_renew_of_an_unknown_lease_is_not_found),
        cmocka_unit_test(test_renew_on_a_member_that_is_not_primary_fails),
        cmocka_unit_test(test_a_member_that_is_not_primary_never_expires_a_lease),
        cmocka_unit_test(test_demote_holds_every_lease_until_the_next_promotion),
        cmocka_unit_test(test_promote_gives_every_lease_its_ttl_plus_the_extension),
        cmocka_unit_test(test_promote_starts_a_lease_from_its_checkpointed_remaining_ttl),
        cmocka_unit_test(test_a_restored_lease_without_checkpoint_gets_its_full_ttl_on_promotion),
        cmocka_unit_test(test_a_restored_lease_keeps_its_checkpointed_remaining_ttl),
        cmocka_unit_test(test_promote_lets_no_more_than_the_revoke_rate_expire_per_second),
        cmocka_unit_test(test_promote_never_brings_an_expiry_earlier),
        cmocka_unit_test(
            test_a_checkpoint_is_due_after_the_interval_with_the_remaining_ttl_rounded_up),
        cmocka_unit_test(test_checkpoints_recur_every_interval),
        cmocka_unit_test(test_a_lease_not_longer_than_the_interval_is_never_checkpointed),
        cmocka_unit_test(test_a_lease_renewed_to_its_full_ttl_needs_no_checkpoint),
        cmocka_unit_test(test_renew_after_a_checkpoint_asks_to_clear_it),
        cmocka_unit_test(test_a_checkpoint_does_not_move_the_expiry_on_the_primary),
        cmocka_unit_test(test_a_checkpoint_of_a_revoked_lease_is_ignored),
        cmocka_unit_test(test_lookup_reports_zero_remaining_once_expired),
        cmocka_unit_test(test_lookup_of_an_unknown_lease_is_not_found),
        cmocka_unit_test(test_ids_are_listed_in_ascending_order),
        cmocka_unit_test(test_the_table_grows_past_its_first_buckets),
        cmocka_unit_test(test_a_renewal_after_a_pause_finds_its_lease),
        cmocka_unit_test(test_a_pause_restarts_every_clock_before_anything_expires),
        cmocka_unit_test(test_the_tick_reports_a_pause),
        cmocka_unit_test(test_regular_ticks_let_leases_expire_on_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
