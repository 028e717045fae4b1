/* ids: the same IDs etcd derives from the same flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ids.h"

static void test_default_member_id_matches_etcds(void **state)
{
    (void)state;
    const char *urls[] = {"http://localhost:2380"};
    uint64_t id;
    assert_int_equal(ids_member_id(urls, 1, "etcd-cluster", -1, &id), 0);
    assert_int_equal(id, 0x8e9e05c52164694dULL);
}

static void test_default_cluster_id_matches_etcds(void **state)
{
    (void)state;
    uint64_t member = 0x8e9e05c52164694dULL, cluster;
    assert_int_equal(ids_cluster_id(&member, 1, &cluster), 0);
    assert_int_equal(cluster, 0xcdf818194e3a8c32ULL);
}

static void test_member_id_ignores_the_order_of_peer_urls(void **state)
{
    (void)state;
    const char *ab[] = {"http://a:1", "http://b:2"};
    const char *ba[] = {"http://b:2", "http://a:1"};
    uint64_t x, y;
    assert_int_equal(ids_member_id(ab, 2, "t", -1, &x), 0);
    assert_int_equal(ids_member_id(ba, 2, "t", -1, &y), 0);
    assert_int_equal(x, y);
}

static void test_cluster_token_changes_the_member_id(void **state)
{
    (void)state;
    const char *urls[] = {"http://localhost:2380"};
    uint64_t x, y;
    assert_int_equal(ids_member_id(urls, 1, "etcd-cluster", -1, &x), 0);
    assert_int_equal(ids_member_id(urls, 1, "other", -1, &y), 0);
    assert_true(x != y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_member_id_matches_etcds),
        cmocka_unit_test(test_default_cluster_id_matches_etcds),
        cmocka_unit_test(test_member_id_ignores_the_order_of_peer_urls),
        cmocka_unit_test(test_cluster_token_changes_the_member_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
