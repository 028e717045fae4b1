/* config: etcd's flags, defaults and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static enum config_result parse(coord_config *cfg, char *err_text, size_t n, int argc, char **argv)
{
    FILE *out = fopen("/dev/null", "w");
    FILE *err = fmemopen(err_text, n, "w");
    enum config_result r = config_parse(cfg, argc, argv, out, err);
    fclose(err);
    fclose(out);
    return r;
}

static void test_no_flags_give_etcds_defaults(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 1, argv), CONFIG_OK);
    assert_string_equal(cfg.name, "default");
    assert_string_equal(cfg.data_dir, "default.coord");
    assert_string_equal(cfg.listen_client_urls.urls[0].url, "http://localhost:2379");
    assert_int_equal(cfg.listen_client_urls.urls[0].port, 2379);
    assert_string_equal(cfg.initial_cluster_token, "etcd-cluster");
    assert_int_equal(cfg.initial_cluster_count, 1);
    assert_string_equal(cfg.initial_cluster[0].peer_urls.urls[0].url, "http://localhost:2380");
    assert_int_equal(cfg.max_request_bytes, 1572864);
    assert_int_equal(cfg.max_txn_ops, 128);
    assert_int_equal(cfg.heartbeat_ms, 100);
    assert_int_equal(cfg.election_ms, 1000);
    config_free(&cfg);
}

static void test_data_dir_defaults_to_the_name(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--name", "s1", "--initial-cluster", "s1=http://localhost:2380", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 5, argv), CONFIG_OK);
    assert_string_equal(cfg.data_dir, "s1.coord");
    config_free(&cfg);
}

static void test_flags_take_equals_and_single_dash_forms(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "-data-dir=/tmp/x", "--max-request-bytes=100", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_OK);
    assert_string_equal(cfg.data_dir, "/tmp/x");
    assert_int_equal(cfg.max_request_bytes, 100);
    config_free(&cfg);
}

static void test_unknown_flag_is_an_error_naming_it(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--no-such-flag", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 2, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "--no-such-flag"));
}

static void test_listen_client_urls_without_advertise_is_etcds_error(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--listen-client-urls", "http://127.0.0.1:3000", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "--advertise-client-urls is required when --listen-client-urls "
                                "is set explicitly"));
}

static void test_a_url_without_a_port_is_refused(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--listen-peer-urls", "http://127.0.0.1", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "--listen-peer-urls"));
}

static void test_a_non_numeric_value_is_refused(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--max-request-bytes", "lots", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "lots"));
}

static void test_a_name_missing_from_the_initial_cluster_is_refused(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--name", "x", "--initial-cluster", "y=http://localhost:2380", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 5, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "couldn't find local name \"x\""));
}

static void test_joining_an_existing_cluster_is_accepted(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--initial-cluster-state", "existing", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_OK);
    assert_false(cfg.initial_cluster_state_new);
    config_free(&cfg);
}

static void test_three_members_are_accepted(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--initial-cluster",
                    "default=http://localhost:2380,b=http://localhost:2480,c=http://localhost:2580",
                    NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_OK);
    assert_int_equal(cfg.initial_cluster_count, 3);
    config_free(&cfg);
}

static void test_a_bad_initial_cluster_state_is_refused(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *argv[] = {"coord", "--initial-cluster-state", "maybe", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 3, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "--initial-cluster-state"));
}

static void test_version_and_help_exit_without_error(void **state)
{
    (void)state;
    coord_config cfg;
    char err[512] = {0};
    char *v[] = {"coord", "--version", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 2, v), CONFIG_EXIT);
    char *h[] = {"coord", "--help", NULL};
    assert_int_equal(parse(&cfg, err, sizeof(err), 2, h), CONFIG_EXIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_flags_give_etcds_defaults),
        cmocka_unit_test(test_data_dir_defaults_to_the_name),
        cmocka_unit_test(test_flags_take_equals_and_single_dash_forms),
        cmocka_unit_test(test_unknown_flag_is_an_error_naming_it),
        cmocka_unit_test(test_listen_client_urls_without_advertise_is_etcds_error),
        cmocka_unit_test(test_a_url_without_a_port_is_refused),
        cmocka_unit_test(test_a_non_numeric_value_is_refused),
        cmocka_unit_test(test_a_name_missing_from_the_initial_cluster_is_refused),
        cmocka_unit_test(test_joining_an_existing_cluster_is_accepted),
        cmocka_unit_test(test_three_members_are_accepted),
        cmocka_unit_test(test_a_bad_initial_cluster_state_is_refused),
        cmocka_unit_test(test_version_and_help_exit_without_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
