/* Flag parsing and help (cli/flags.h), and the Go-style text conversions (cli/textfmt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "flags.h"
#include "kvops.h"
#include "textfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct globals {
    const char *write_out;
    int64_t timeout_ms;
    bool hex;
} globals;

static const flag_def global_defs[] = {
    {"write-out", 'w', FLAG_STRING, offsetof(globals, write_out), "\"simple\"", "format"},
    {"command-timeout", 0, FLAG_DURATION, offsetof(globals, timeout_ms), "5s", "timeout"},
    {"hex", 0, FLAG_BOOL, offsetof(globals, hex), "false", "hex"},
};

typedef struct parse_result {
    get_opts get;
    globals g;
    int rc;
    int n_pos;
    char **pos;
    cli_err err;
} parse_result;

/* Parses "get ARGS..." with get's flags and the globals above. argv must stay alive. */
static void parse_get(parse_result *r, int argc, char **argv)
{
    memset(r, 0, sizeof(*r));
    get_opts_init(&r->get);
    r->g.write_out = "simple";
    flag_set sets[2] = {{get_flag_defs, n_get_flag_defs, &r->get}, {global_defs, 3, &r->g}};
    r->rc = flags_parse(argc, argv, sets, 2, &r->n_pos, &r->pos, &r->err);
}

static void test_global_flags_work_after_the_arguments(void **state)
{
    (void)state;
    char *argv[] = {"get", "foo", "-w", "json", "--prefix", "--command-timeout=250ms", NULL};
    parse_result r;
    parse_get(&r, 6, argv);
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_int_equal(r.n_pos, 1);
    assert_string_equal(r.pos[0], "foo");
    assert_string_equal(r.g.write_out, "json");
    assert_int_equal(r.g.timeout_ms, 250);
    assert_true(r.get.prefix);
}

static void test_a_boolean_flag_takes_an_optional_value(void **state)
{
    (void)state;
    char *argv[] = {"get", "--prefix=false", "--keys-only=true", "k", NULL};
    parse_result r;
    parse_get(&r, 4, argv);
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_false(r.get.prefix);
    assert_true(r.get.keys_only);
}

static void test_double_dash_ends_the_flags(void **state)
{
    (void)state;
    char *argv[] = {"get", "--", "-k", "--limit", NULL};
    parse_result r;
    parse_get(&r, 4, argv);
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_int_equal(r.n_pos, 2);
    assert_string_equal(r.pos[0], "-k");
    assert_string_equal(r.pos[1], "--limit");
}

static void test_an_unknown_flag_is_named_in_the_error(void **state)
{
    (void)state;
    char *argv[] = {"get", "k", "--count-all", NULL};
    parse_result r;
    parse_get(&r, 3, argv);
    assert_int_equal(r.rc, CLI_EXIT_ERROR);
    assert_string_equal(r.err.message, "unknown flag: --count-all");
}

static void test_a_flag_without_its_value_is_refused(void **state)
{
    (void)state;
    char *argv[] = {"get", "k", "--limit", NULL};
    parse_result r;
    parse_get(&r, 3, argv);
    assert_int_equal(r.rc, CLI_EXIT_ERROR);
    assert_string_equal(r.err.message, "flag needs an argument: --limit");
}

static void test_a_value_of_the_wrong_type_is_refused(void **state)
{
    (void)state;
    char *argv[] = {"get", "k", "--limit", "x", NULL};
    parse_result r;
    parse_get(&r, 4, argv);
    assert_int_equal(r.rc, CLI_EXIT_ERROR);
    assert_string_equal(r.err.message,
                        "invalid argument \"x\" for \"--limit\" flag: not an integer");
    char *argv2[] = {"get", "k", "--command-timeout", "soon", NULL};
    parse_get(&r, 4, argv2);
    assert_int_equal(r.rc, CLI_EXIT_ERROR);
}

static void test_help_aligns_descriptions_on_a_tab_stop_past_the_widest_flag(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    flags_print_help(f, global_defs, 3, NULL);
    fclose(f);
    /* Widest: "      --command-timeout=5s" (26 columns): descriptions at column 32. */
    assert_string_equal(text, "      --command-timeout=5s\ttimeout\n"
                              "      --hex[=false]\t\thex\n"
                              "  -w, --write-out=\"simple\"\tformat\n");
    free(text);
}

static void test_the_environment_sets_defaults_that_flags_override(void **state)
{
    (void)state;
    globals g = {.write_out = "simple"};
    flag_set set = {global_defs, 3, &g};
    cli_err e = {0};
    setenv("TESTCTL_WRITE_OUT", "json", 1);
    setenv("TESTCTL_COMMAND_TIMEOUT", "2s", 1);
    assert_int_equal(flags_from_env(&set, "TESTCTL", &e), CLI_EXIT_OK);
    assert_string_equal(g.write_out, "json");
    assert_int_equal(g.timeout_ms, 2000);
    char *argv[] = {"x", "--command-timeout=1s", NULL};
    int n_pos;
    char **pos;
    assert_int_equal(flags_parse(2, argv, &set, 1, &n_pos, &pos, &e), CLI_EXIT_OK);
    assert_int_equal(g.timeout_ms, 1000);
    setenv("TESTCTL_HEX", "maybe", 1);
    assert_int_equal(flags_from_env(&set, "TESTCTL", &e), CLI_EXIT_ERROR);
    assert_non_null(strstr(e.message, "TESTCTL_HEX"));
    unsetenv("TESTCTL_WRITE_OUT");
    unsetenv("TESTCTL_COMMAND_TIMEOUT");
    unsetenv("TESTCTL_HEX");
}

static void test_durations_print_as_go_prints_them(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *text;
    } cases[] = {
        {0, "0s"},        {850, "850ns"},       {1500, "1.5µs"},        {1463407, "1.463407ms"},
        {2000000, "2ms"}, {2500000000, "2.5s"}, {90000000000, "1m30s"}, {3600000000000, "1h0m0s"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        fmt_duration(buf, sizeof(buf), cases[i].ns);
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_durations_parse_from_go_syntax(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(parse_duration("5s", &ns), 0);
    assert_int_equal(ns, 5000000000);
    assert_int_equal(parse_duration("1m30s", &ns), 0);
    assert_int_equal(ns, 90000000000);
    assert_int_equal(parse_duration("250ms", &ns), 0);
    assert_int_equal(ns, 250000000);
    assert_int_equal(parse_duration("1.5h", &ns), 0);
    assert_int_equal(ns, 5400000000000);
    assert_int_equal(parse_duration("0", &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(parse_duration("5", &ns), -1);
    assert_int_equal(parse_duration("s", &ns), -1);
    assert_int_equal(parse_duration("5 s", &ns), -1);
}

static void test_sizes_print_in_si_units_as_etcdctl_does(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        const char *text;
    } cases[] = {
        {9, "9 B"}, {20480, "20 kB"}, {1234567, "1.2 MB"}, {999, "999 B"}, {1000, "1.0 kB"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        fmt_bytes_si(buf, sizeof(buf), cases[i].n);
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_go_quoting_escapes_controls_and_invalid_utf8(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fmt_go_quoted(f, (const uint8_t *)"a\"b\\\n\x01\xff\xc3\xa9", 9);
    fclose(f);
    assert_string_equal(text, "\"a\\\"b\\\\\\n\\x01\\xff\xc3\xa9\"");
    free(text);
}

static void test_booleans_parse_as_strconv_does(void **state)
{
    (void)state;
    bool b;
    assert_int_equal(parse_bool("T", &b), 0);
    assert_true(b);
    assert_int_equal(parse_bool("False", &b), 0);
    assert_false(b);
    assert_int_equal(parse_bool("yes", &b), -1);
}

static void test_a_prefix_range_ends_past_the_last_byte_below_ff(void **state)
{
    (void)state;
    uint8_t out[8];
    coord_bytes end = coord_prefix_end((coord_bytes){(const uint8_t *)"ab\xff", 3}, out);
    assert_int_equal(end.len, 2);
    assert_memory_equal(end.ptr, "ac", 2);
    end = coord_prefix_end((coord_bytes){(const uint8_t *)"\xff\xff", 2}, out);
    assert_int_equal(end.len, 1);
    assert_int_equal(end.ptr[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global_flags_work_after_the_arguments),
        cmocka_unit_test(test_a_boolean_flag_takes_an_optional_value),
        cmocka_unit_test(test_double_dash_ends_the_flags),
        cmocka_unit_test(test_an_unknown_flag_is_named_in_the_error),
        cmocka_unit_test(test_a_flag_without_its_value_is_refused),
        cmocka_unit_test(test_a_value_of_the_wrong_type_is_refused),
        cmocka_unit_test(test_help_aligns_descriptions_on_a_tab_stop_past_the_widest_flag),
        cmocka_unit_test(test_the_environment_sets_defaults_that_flags_override),
        cmocka_unit_test(test_durations_print_as_go_prints_them),
        cmocka_unit_test(test_durations_parse_from_go_syntax),
        cmocka_unit_test(test_sizes_print_in_si_units_as_etcdctl_does),
        cmocka_unit_test(test_go_quoting_escapes_controls_and_invalid_utf8),
        cmocka_unit_test(test_booleans_parse_as_strconv_does),
        cmocka_unit_test(test_a_prefix_range_ends_past_the_last_byte_below_ff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
