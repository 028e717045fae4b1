/* The transaction script grammar of `coordctl txn` (cli/txn_parse.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "txn_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool bytes_are(coord_bytes b, const char *s, size_t len)
{
    return b.len == len && (len == 0 || memcmp(b.ptr, s, len) == 0);
}
#define BYTES_ARE(b, lit) bytes_are((b), (lit), sizeof(lit) - 1)

typedef struct parsed {
    cli_pool pool;
    cli_err err;
    int rc;
    coord_txn_req req;
    char *prompts;
    size_t prompts_len;
} parsed;

static void parse_script(parsed *p, const char *script, bool interactive)
{
    memset(p, 0, sizeof(*p));
    FILE *in = fmemopen((void *)script, strlen(script), "r");
    assert_non_null(in);
    FILE *prompt = interactive ? open_memstream(&p->prompts, &p->prompts_len) : NULL;
    p->rc = txn_parse(in, prompt, &p->pool, &p->req, &p->err);
    fclose(in);
    if (prompt) fclose(prompt);
}

static void parsed_free(parsed *p)
{
    cli_pool_free(&p->pool);
    free(p->prompts);
}

static int compare_line(const char *line, coord_compare *c, cli_err *e, cli_pool *pool)
{
    memset(e, 0, sizeof(*e));
    return txn_parse_compare(line, pool, c, e);
}

static void test_a_script_has_compares_then_success_then_failure(void **state)
{
    (void)state;
    parsed p;
    parse_script(
        &p, "value(\"k1\") = \"v1\"\nmod(\"k2\") > \"0\"\n\nput k3 v3\nget k\n\ndel k4\n\n", false);
    assert_int_equal(p.rc, CLI_EXIT_OK);
    assert_int_equal(p.req.n_compares, 2);
    assert_int_equal(p.req.n_success, 2);
    assert_int_equal(p.req.n_failure, 1);
    assert_int_equal(p.req.success[0].type, COORD_OP_PUT);
    assert_int_equal(p.req.success[1].type, COORD_OP_RANGE);
    assert_int_equal(p.req.failure[0].type, COORD_OP_DELETE);
    parsed_free(&p);
}

static void test_the_end_of_input_ends_the_current_section(void **state)
{
    (void)state;
    parsed p;
    parse_script(&p, "value(\"a\") = \"1\"\n\nput a 2", false);
    assert_int_equal(p.rc, CLI_EXIT_OK);
    assert_int_equal(p.req.n_compares, 1);
    assert_int_equal(p.req.n_success, 1);
    assert_true(BYTES_ARE(p.req.success[0].u.put.value, "2"));
    assert_int_equal(p.req.n_failure, 0);
    parsed_free(&p);
}

static void test_interactive_mode_announces_each_section(void **state)
{
    (void)state;
    parsed p;
    parse_script(&p, "\n\n\n", true);
    assert_int_equal(p.rc, CLI_EXIT_OK);
    assert_string_equal(p.prompts, "compares:\nsuccess requests (get, put, del):\n"
                                   "failure requests (get, put, del):\n");
    parsed_free(&p);
}

static void test_lines_are_trimmed_before_they_are_read(void **state)
{
    (void)state;
    parsed p;
    parse_script(&p, "   version(\"k\") = \"3\"   \n \t \n  put k v  \n\n\n", false);
    assert_int_equal(p.rc, CLI_EXIT_OK);
    assert_int_equal(p.req.n_compares, 1);
    assert_int_equal(p.req.n_success, 1);
    parsed_free(&p);
}

static void test_each_compare_target_has_its_short_and_long_name(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        coord_compare_target target;
    } cases[] = {
        {"ver(\"k\") = \"1\"", COORD_CMP_VERSION}, {"version(\"k\") = \"1\"", COORD_CMP_VERSION},
        {"c(\"k\") = \"1\"", COORD_CMP_CREATE},    {"create(\"k\") = \"1\"", COORD_CMP_CREATE},
        {"m(\"k\") = \"1\"", COORD_CMP_MOD},       {"mod(\"k\") = \"1\"", COORD_CMP_MOD},
        {"val(\"k\") = \"1\"", COORD_CMP_VALUE},   {"value(\"k\") = \"1\"", COORD_CMP_VALUE},
        {"lease(\"k\") = \"1\"", COORD_CMP_LEASE},
    };
    cli_pool pool = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        coord_compare c;
        cli_err e;
        assert_int_equal(compare_line(cases[i].line, &c, &e, &pool), CLI_EXIT_OK);
        assert_int_equal(c.target, cases[i].target);
        assert_true(BYTES_ARE(c.key, "k"));
    }
    cli_pool_free(&pool);
}

static void test_each_operator_maps_to_its_compare_result(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        coord_compare_result result;
    } cases[] = {
        {"mod(\"k\") = \"1\"", COORD_CMP_EQUAL},
        {"mod(\"k\") != \"1\"", COORD_CMP_NOT_EQUAL},
        {"mod(\"k\") > \"1\"", COORD_CMP_GREATER},
        {"mod(\"k\") < \"1\"", COORD_CMP_LESS},
    };
    cli_pool pool = {0};
    for (size_t i = 0; i < 4; i++) {
        coord_compare c;
        cli_err e;
        assert_int_equal(compare_line(cases[i].line, &c, &e, &pool), CLI_EXIT_OK);
        assert_int_equal(c.result, cases[i].result);
        assert_int_equal(c.number, 1);
    }
    cli_pool_free(&pool);
}

static void test_a_lease_operand_is_hexadecimal(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("lease(\"k\") = \"694d7f\"", &c, &e, &pool), CLI_EXIT_OK);
    assert_int_equal(c.number, 0x694d7f);
    cli_pool_free(&pool);
}

static void test_a_value_operand_keeps_go_escapes_decoded(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("value(\"k\\tey\") = \"a\\x00b\\n\\u00e9\"", &c, &e, &pool),
                     CLI_EXIT_OK);
    assert_true(BYTES_ARE(c.key, "k\tey"));
    assert_true(BYTES_ARE(c.value, "a\0b\n\xc3\xa9"));
    cli_pool_free(&pool);
}

static void test_a_backquoted_string_is_taken_raw(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("value(`a\\n`) = `\"x\"`", &c, &e, &pool), CLI_EXIT_OK);
    assert_true(BYTES_ARE(c.key, "a\\n"));
    assert_true(BYTES_ARE(c.value, "\"x\""));
    cli_pool_free(&pool);
}

static void test_a_second_quoted_string_is_the_range_end(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("version(\"a\", \"c\") > \"0\"", &c, &e, &pool), CLI_EXIT_OK);
    assert_true(BYTES_ARE(c.key, "a"));
    assert_true(BYTES_ARE(c.range_end, "c"));
    cli_pool_free(&pool);
}

static void test_a_line_without_parenthesis_is_a_malformed_comparison(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("garbage", &c, &e, &pool), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message, "malformed comparison: garbage");
    cli_pool_free(&pool);
}

static void test_a_half_read_compare_reports_what_was_read(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("value(\"k1\" = \"v\"", &c, &e, &pool), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message,
                        "malformed comparison: value(\"k1\" = \"v\"; got value(\"k1\")  \"\"");
    cli_pool_free(&pool);
}

static void test_an_unknown_target_is_named_in_the_error(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("size(\"k\") = \"1\"", &c, &e, &pool), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message,
                        "malformed comparison: size(\"k\") = \"1\" (unknown target size)");
    cli_pool_free(&pool);
}

static void test_an_unknown_operator_is_an_error_not_a_crash(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("value(\"k\") =! \"v\"", &c, &e, &pool), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message,
                        "malformed comparison: value(\"k\") =! \"v\" (unknown operator =!)");
    cli_pool_free(&pool);
}

static void test_a_numeric_target_refuses_a_non_number(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_compare c;
    cli_err e;
    assert_int_equal(compare_line("ver(\"k1\") = \"x\"", &c, &e, &pool), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message, "invalid txn compare request: ver(\"k1\") = \"x\"");
    cli_pool_free(&pool);
}

static void test_a_request_line_takes_the_flags_of_its_command(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_op op;
    cli_err e = {0};
    assert_int_equal(txn_parse_op("get k --prefix --limit=3 --rev 7 --keys-only", &pool, &op, &e),
                     CLI_EXIT_OK);
    assert_int_equal(op.type, COORD_OP_RANGE);
    assert_true(BYTES_ARE(op.u.range.key, "k"));
    assert_true(BYTES_ARE(op.u.range.range_end, "l"));
    assert_int_equal(op.u.range.limit, 3);
    assert_int_equal(op.u.range.revision, 7);
    assert_true(op.u.range.keys_only);
    assert_int_equal(txn_parse_op("put k v --prev-kv --lease=1f", &pool, &op, &e), CLI_EXIT_OK);
    assert_int_equal(op.type, COORD_OP_PUT);
    assert_true(op.u.put.prev_kv);
    assert_int_equal(op.u.put.lease, 0x1f);
    assert_int_equal(txn_parse_op("del a --from-key", &pool, &op, &e), CLI_EXIT_OK);
    assert_int_equal(op.type, COORD_OP_DELETE);
    assert_true(BYTES_ARE(op.u.del.range_end, "\0"));
    cli_pool_free(&pool);
}

static void test_quoted_words_may_hold_blanks(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_op op;
    cli_err e = {0};
    assert_int_equal(txn_parse_op("put \"spaced key\" 'single quoted'", &pool, &op, &e),
                     CLI_EXIT_OK);
    assert_true(BYTES_ARE(op.u.put.key, "spaced key"));
    assert_true(BYTES_ARE(op.u.put.value, "single quoted"));
    cli_pool_free(&pool);
}

static void test_a_request_of_one_word_is_refused(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_op op;
    cli_err e = {0};
    assert_int_equal(txn_parse_op("put", &pool, &op, &e), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message, "invalid txn compare request: put");
    cli_pool_free(&pool);
}

static void test_an_unknown_request_or_flag_is_an_invalid_txn_request(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_op op;
    cli_err e = {0};
    assert_int_equal(txn_parse_op("foo a b", &pool, &op, &e), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message, "invalid txn request: foo a b");
    assert_int_equal(txn_parse_op("get a --bogus", &pool, &op, &e), CLI_EXIT_INVALID_INPUT);
    assert_string_equal(e.message, "invalid txn request: get a --bogus");
    cli_pool_free(&pool);
}

static void test_a_put_inside_a_txn_needs_its_value_on_the_line(void **state)
{
    (void)state;
    cli_pool pool = {0};
    coord_op op;
    cli_err e = {0};
    assert_int_equal(txn_parse_op("put onlykey", &pool, &op, &e), CLI_EXIT_BAD_ARGS);
    assert_string_equal(e.message,
                        "put command needs 1 argument and input from stdin or 2 arguments");
    cli_pool_free(&pool);
}

static void test_an_unterminated_quote_is_refused(void **state)
{
    (void)state;
    cli_pool pool = {0};
    char **words;
    int n;
    assert_int_equal(txn_split_words("put \"open k", &pool, &words, &n), -1);
    assert_int_equal(txn_split_words("put 'open k", &pool, &words, &n), -1);
    assert_int_equal(txn_split_words("put a\"b c", &pool, &words, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(words[1], "a\"b");
    cli_pool_free(&pool);
}

static void test_a_bad_compare_stops_the_script_with_invalid_input(void **state)
{
    (void)state;
    parsed p;
    parse_script(&p, "value(\"a\") = \"1\"\nnonsense\n\n\n\n", false);
    assert_int_equal(p.rc, CLI_EXIT_INVALID_INPUT);
    assert_string_equal(p.err.message, "malformed comparison: nonsense");
    parsed_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_script_has_compares_then_success_then_failure),
        cmocka_unit_test(test_the_end_of_input_ends_the_current_section),
        cmocka_unit_test(test_interactive_mode_announces_each_section),
        cmocka_unit_test(test_lines_are_trimmed_before_they_are_read),
        cmocka_unit_test(test_each_compare_target_has_its_short_and_long_name),
        cmocka_unit_test(test_each_operator_maps_to_its_compare_result),
        cmocka_unit_test(test_a_lease_operand_is_hexadecimal),
        cmocka_unit_test(test_a_value_operand_keeps_go_escapes_decoded),
        cmocka_unit_test(test_a_backquoted_string_is_taken_raw),
        cmocka_unit_test(test_a_second_quoted_string_is_the_range_end),
        cmocka_unit_test(test_a_line_without_parenthesis_is_a_malformed_comparison),
        cmocka_unit_test(test_a_half_read_compare_reports_what_was_read),
        cmocka_unit_test(test_an_unknown_target_is_named_in_the_error),
        cmocka_unit_test(test_an_unknown_operator_is_an_error_not_a_crash),
        cmocka_unit_test(test_a_numeric_target_refuses_a_non_number),
        cmocka_unit_test(test_a_request_line_takes_the_flags_of_its_command),
        cmocka_unit_test(test_quoted_words_may_hold_blanks),
        cmocka_unit_test(test_a_request_of_one_word_is_refused),
        cmocka_unit_test(test_an_unknown_request_or_flag_is_an_invalid_txn_request),
        cmocka_unit_test(test_a_put_inside_a_txn_needs_its_value_on_the_line),
        cmocka_unit_test(test_an_unterminated_quote_is_refused),
        cmocka_unit_test(test_a_bad_compare_stops_the_script_with_invalid_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
