/* coordctl's output formats (cli/printer.h): simple, json and fields, as etcdctl prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default single-member ids: both above INT64_MAX, as etcd's often are. */
#define CLUSTER_ID 14841639068965178418ull
#define MEMBER_ID  10276657743932975437ull

typedef struct capture {
    char *out, *err;
    size_t out_len, err_len;
    printer p;
} capture;

static void capture_start(capture *c, cli_format format)
{
    memset(c, 0, sizeof(*c));
    c->p.format = format;
    c->p.out = open_memstream(&c->out, &c->out_len);
    c->p.err = open_memstream(&c->err, &c->err_len);
    assert_non_null(c->p.out);
    assert_non_null(c->p.err);
}

static void capture_end(capture *c)
{
    fclose(c->p.out);
    fclose(c->p.err);
}

static void capture_free(capture *c)
{
    free(c->out);
    free(c->err);
}

static const coord_header header = {CLUSTER_ID, MEMBER_ID, 4, 2};

static coord_kv kv(const char *key, const char *value, int64_t create, int64_t mod, int64_t ver)
{
    return (coord_kv){coord_str(key), coord_str(value), create, mod, ver, 0};
}

static void test_simple_put_prints_ok_then_the_previous_pair(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    coord_put_resp r = {
        .header = header, .has_prev_kv = true, .prev_kv = kv("foo", "bar", 2, 2, 1)};
    assert_int_equal(print_put(&c.p, &r), 0);
    capture_end(&c);
    assert_string_equal(c.out, "OK\nfoo\nbar\n");
    capture_free(&c);
}

static void test_simple_get_prints_key_and_value_lines(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    coord_kv kvs[] = {kv("k1", "v1", 2, 2, 1), kv("k2", "", 3, 3, 1)};
    coord_range_resp r = {.header = header, .kvs = kvs, .n_kvs = 2, .count = 2};
    assert_int_equal(print_range(&c.p, &r), 0);
    capture_end(&c);
    assert_string_equal(c.out, "k1\nv1\nk2\n\n");
    capture_free(&c);
}

static void test_print_value_only_leaves_the_keys_out(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    c.p.value_only = true;
    coord_kv kvs[] = {kv("k1", "v1", 2, 2, 1)};
    coord_range_resp r = {.header = header, .kvs = kvs, .n_kvs = 1, .count = 1};
    print_range(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "v1\n");
    capture_free(&c);
}

static void test_count_only_prints_the_count_alone(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    c.p.count_only = true;
    coord_range_resp r = {.header = header, .count = 42};
    print_range(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "42\n");
    capture_free(&c);
}

static void test_hex_prints_every_byte_as_an_escape(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    c.p.hex = true;
    coord_kv kvs[] = {kv("k1", "v", 2, 2, 1)};
    coord_range_resp r = {.header = header, .kvs = kvs, .n_kvs = 1, .count = 1};
    print_range(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "\\x6b\\x31\n\\x76\n");
    capture_free(&c);
}

static void test_simple_delete_prints_the_count_then_the_deleted_pairs(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    coord_kv prev[] = {kv("a", "1", 2, 2, 1)};
    coord_delete_resp r = {.header = header, .deleted = 1, .prev_kvs = prev, .n_prev_kvs = 1};
    print_delete(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "1\na\n1\n");
    capture_free(&c);
}

static void test_simple_txn_prints_the_branch_then_each_response_after_a_blank_line(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    coord_kv kvs[] = {kv("k", "v", 2, 2, 1)};
    coord_op_resp ops[3] = {
        {.type = COORD_OP_PUT, .u.put = {.header = {.revision = 5}}},
        {.type = COORD_OP_RANGE, .u.range = {.kvs = kvs, .n_kvs = 1, .count = 1}},
        {.type = COORD_OP_DELETE, .u.del = {.deleted = 0}},
    };
    coord_txn_resp r = {.header = header, .succeeded = false, .responses = ops, .n_responses = 3};
    print_txn(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "FAILURE\n\nOK\n\nk\nv\n\n0\n");
    capture_free(&c);
}

static void test_json_writes_ids_above_int64_as_plain_numbers(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    coord_put_resp r = {.header = header};
    print_put(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "{\"header\":{\"cluster_id\":14841639068965178418,"
                               "\"member_id\":10276657743932975437,\"revision\":4,"
                               "\"raft_term\":2}}\n");
    capture_free(&c);
}

static void test_json_range_has_base64_bytes_and_leaves_zero_fields_out(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    coord_kv kvs[] = {kv("foo", "bar3", 2, 4, 3), kv("k", "", 5, 5, 1)};
    coord_range_resp r = {.header = header, .kvs = kvs, .n_kvs = 2, .more = true, .count = 3};
    print_range(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out,
                        "{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":"
                        "10276657743932975437,\"revision\":4,\"raft_term\":2},\"kvs\":[{\"key\":"
                        "\"Zm9v\",\"create_revision\":2,\"mod_revision\":4,\"version\":3,\"value\":"
                        "\"YmFyMw==\"},{\"key\":\"aw==\",\"create_revision\":5,\"mod_revision\":5,"
                        "\"version\":1}],\"more\":true,\"count\":3}\n");
    capture_free(&c);
}

static void test_json_of_an_empty_range_is_the_header_alone(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    coord_range_resp r = {.header = {.revision = 1}};
    print_range(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "{\"header\":{\"revision\":1}}\n");
    capture_free(&c);
}

static void test_json_txn_wraps_each_response_in_its_oneof_name(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    coord_op_resp ops[2] = {
        {.type = COORD_OP_PUT, .u.put = {.header = {.revision = 5}}},
        {.type = COORD_OP_DELETE, .u.del = {.header = {.revision = 5}, .deleted = 2}},
    };
    coord_txn_resp r = {
        .header = {.revision = 5}, .succeeded = true, .responses = ops, .n_responses = 2};
    print_txn(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "{\"header\":{\"revision\":5},\"succeeded\":true,\"responses\":["
                               "{\"Response\":{\"ResponsePut\":{\"header\":{\"revision\":5}}}},"
                               "{\"Response\":{\"ResponseDeleteRange\":{\"header\":{\"revision\":"
                               "5},\"deleted\":2}}}]}\n");
    capture_free(&c);
}

static void test_json_text_that_is_not_utf8_gets_replacement_characters(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    const char *peers[] = {"http://x"};
    coord_member m = {.id = 1, .name = "bad\xff", .peer_urls = peers, .n_peer_urls = 1};
    coord_member_list_resp r = {.members = &m, .n_members = 1};
    print_member_list(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "{\"header\":{},\"members\":[{\"ID\":1,\"name\":\"bad\xef\xbf\xbd\","
                               "\"peerURLs\":[\"http://x\"]}]}\n");
    capture_free(&c);
}

static void test_json_text_cannot_pass_for_a_number_placeholder(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    coord_member m = {.id = 2, .name = "\x01u64:5"};
    coord_member_list_resp r = {.members = &m, .n_members = 1};
    print_member_list(&c.p, &r);
    capture_end(&c);
    assert_string_equal(
        c.out, "{\"header\":{},\"members\":[{\"ID\":2,\"name\":\"\xef\xbf\xbdu64:5\"}]}\n");
    capture_free(&c);
}

static void test_fields_prints_one_quoted_line_per_field(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_FIELDS);
    coord_kv kvs[] = {kv("k\n1", "v", 2, 2, 1)};
    coord_range_resp r = {.header = header, .kvs = kvs, .n_kvs = 1, .count = 1};
    print_range(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "\"ClusterID\" : 14841639068965178418\n"
                               "\"MemberID\" : 10276657743932975437\n"
                               "\"Revision\" : 4\n"
                               "\"RaftTerm\" : 2\n"
                               "\"Key\" : \"k\\n1\"\n"
                               "\"CreateRevision\" : 2\n"
                               "\"ModRevision\" : 2\n"
                               "\"Version\" : 1\n"
                               "\"Value\" : \"v\"\n"
                               "\"Lease\" : 0\n"
                               "\"More\" : false\n"
                               "\"Count\" : 1\n");
    capture_free(&c);
}

static void test_simple_member_list_is_one_comma_separated_line_per_member(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    const char *peers[] = {"http://localhost:2380"};
    const char *clients[] = {"http://a:2379", "http://b:2379"};
    coord_member m[2] = {
        {MEMBER_ID, "default", peers, 1, clients, 2, false},
        {0x1234, "", peers, 1, NULL, 0, true},
    };
    coord_member_list_resp r = {.header = header, .members = m, .n_members = 2};
    print_member_list(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "8e9e05c52164694d, started, default, http://localhost:2380, "
                               "http://a:2379,http://b:2379, false\n"
                               "1234, unstarted, , http://localhost:2380, , true\n");
    capture_free(&c);
}

static void test_simple_endpoint_status_ends_with_the_joined_errors(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    const char *errors[] = {"etcdserver: no leader", "NOSPACE"};
    coord_status_resp s = {.header = header,
                           .version = "3.4.23",
                           .db_size = 20480,
                           .leader = MEMBER_ID,
                           .raft_index = 13,
                           .raft_term = 2,
                           .raft_applied_index = 12};
    ep_status list[1] = {{"127.0.0.1:2379", &s}};
    print_endpoint_status(&c.p, list, 1);
    s.errors = errors;
    s.n_errors = 2;
    s.leader = 0;
    print_endpoint_status(&c.p, list, 1);
    capture_end(&c);
    assert_string_equal(
        c.out, "127.0.0.1:2379, 8e9e05c52164694d, 3.4.23, 20 kB, true, false, 2, 13, 12, \n"
               "127.0.0.1:2379, 8e9e05c52164694d, 3.4.23, 20 kB, false, false, 2, 13, 12, "
               "etcdserver: no leader, NOSPACE\n");
    capture_free(&c);
}

static void test_simple_endpoint_health_writes_to_stderr(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    ep_health h[2] = {
        {.endpoint = "a:1", .healthy = true, .took = "1.5ms"},
        {.endpoint = "b:2", .healthy = false, .took = "5s", .error = "context deadline exceeded"}};
    print_endpoint_health(&c.p, h, 2);
    capture_end(&c);
    assert_string_equal(c.out, "");
    assert_string_equal(c.err, "a:1 is healthy: successfully committed proposal: took = 1.5ms\n"
                               "b:2 is unhealthy: failed to commit proposal: context deadline "
                               "exceeded\n");
    capture_free(&c);
}

static void test_json_endpoint_health_keeps_false_and_drops_an_empty_error(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_JSON);
    ep_health h[2] = {{.endpoint = "a:1", .healthy = true, .took = "1.5ms"},
                      {.endpoint = "b:2", .healthy = false, .took = "5s", .error = "down"}};
    print_endpoint_health(&c.p, h, 2);
    capture_end(&c);
    assert_string_equal(c.out, "[{\"endpoint\":\"a:1\",\"health\":true,\"took\":\"1.5ms\"},"
                               "{\"endpoint\":\"b:2\",\"health\":false,\"took\":\"5s\","
                               "\"error\":\"down\"}]\n");
    capture_free(&c);
}

static void test_ls_marks_a_child_with_descendants_with_a_slash(void **state)
{
    (void)state;
    capture c;
    capture_start(&c, CLI_FORMAT_SIMPLE);
    coord_child kids[3] = {
        {.key = coord_str("/s/a"), .has_kv = true},
        {.key = coord_str("/s/b"), .has_children = true},
        {.key = coord_str("/s/c/"), .has_children = true},
    };
    const coord_child *order[3] = {&kids[0], &kids[1], &kids[2]};
    ls_result r = {header, order, 3};
    print_ls(&c.p, &r);
    capture_end(&c);
    assert_string_equal(c.out, "/s/a\n/s/b/\n/s/c/\n");
    capture_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_put_prints_ok_then_the_previous_pair),
        cmocka_unit_test(test_simple_get_prints_key_and_value_lines),
        cmocka_unit_test(test_print_value_only_leaves_the_keys_out),
        cmocka_unit_test(test_count_only_prints_the_count_alone),
        cmocka_unit_test(test_hex_prints_every_byte_as_an_escape),
        cmocka_unit_test(test_simple_delete_prints_the_count_then_the_deleted_pairs),
        cmocka_unit_test(test_simple_txn_prints_the_branch_then_each_response_after_a_blank_line),
        cmocka_unit_test(test_json_writes_ids_above_int64_as_plain_numbers),
        cmocka_unit_test(test_json_range_has_base64_bytes_and_leaves_zero_fields_out),
        cmocka_unit_test(test_json_of_an_empty_range_is_the_header_alone),
        cmocka_unit_test(test_json_txn_wraps_each_response_in_its_oneof_name),
        cmocka_unit_test(test_json_text_that_is_not_utf8_gets_replacement_characters),
        cmocka_unit_test(test_json_text_cannot_pass_for_a_number_placeholder),
        cmocka_unit_test(test_fields_prints_one_quoted_line_per_field),
        cmocka_unit_test(test_simple_member_list_is_one_comma_separated_line_per_member),
        cmocka_unit_test(test_simple_endpoint_status_ends_with_the_joined_errors),
        cmocka_unit_test(test_simple_endpoint_health_writes_to_stderr),
        cmocka_unit_test(test_json_endpoint_health_keeps_false_and_drops_an_empty_error),
        cmocka_unit_test(test_ls_marks_a_child_with_descendants_with_a_slash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
