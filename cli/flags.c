#include "flags.h"

#include "textfmt.h"

#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long reports long options by `val`; ours start past every char value. */
#define FLAG_VAL_BASE 256

typedef struct flag_ref {
    const flag_def *def;
    void *target;
} flag_ref;

static int set_value(const flag_ref *r, const char *text, cli_err *e)
{
    char *field = (char *)r->target + r->def->offset;
    switch (r->def->type) {
    case FLAG_BOOL: {
        bool v = true;
        if (text && parse_bool(text, &v) != 0)
            return cli_fail(e, CLI_EXIT_ERROR,
                            "invalid argument \"%s\" for \"--%s\" flag: not a boolean", text,
                            r->def->name);
        memcpy(field, &v, sizeof(v));
        return CLI_EXIT_OK;
    }
    case FLAG_STRING:
        memcpy(field, &text, sizeof(text));
        return CLI_EXIT_OK;
    case FLAG_INT64: {
        int64_t v;
        if (parse_int64(text, 0, &v) != 0)
            return cli_fail(e, CLI_EXIT_ERROR,
                            "invalid argument \"%s\" for \"--%s\" flag: not an integer", text,
                            r->def->name);
        memcpy(field, &v, sizeof(v));
        return CLI_EXIT_OK;
    }
    case FLAG_DURATION: {
        int64_t ns;
        if (parse_duration(text, &ns) != 0)
            return cli_fail(e, CLI_EXIT_ERROR,
                            "invalid argument \"%s\" for \"--%s\" flag: not a duration "
                            "(like 5s or 300ms)",
                            text, r->def->name);
        int64_t ms = ns / 1000000;
        memcpy(field, &ms, sizeof(ms));
        return CLI_EXIT_OK;
    }
    }
    return cli_fail(e, CLI_EXIT_ERROR, "internal: flag --%s has no type", r->def->name);
}

int flags_parse(int argc, char **argv, const flag_set *sets, size_t n_sets, int *n_pos, char ***pos,
                cli_err *e)
{
    size_t total = 0;
    for (size_t i = 0; i < n_sets; i++) total += sets[i].n_defs;

    int rc = CLI_EXIT_OK;
    flag_ref *refs = calloc(total ? total : 1, sizeof(*refs));
    struct option *longopts = calloc(total + 1, sizeof(*longopts));
    /* ':' first: a missing value is reported as ':' rather than '?'. */
    char *shortopts = calloc(2 * total + 2, 1);
    if (!refs || !longopts || !shortopts) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        goto out_free_tables;
    }
    size_t k = 0, s = 0;
    shortopts[s++] = ':';
    for (size_t i = 0; i < n_sets; i++) {
        for (size_t j = 0; j < sets[i].n_defs; j++, k++) {
            const flag_def *d = &sets[i].defs[j];
            refs[k].def = d;
            refs[k].target = sets[i].target;
            longopts[k].name = d->name;
            longopts[k].has_arg = d->type == FLAG_BOOL ? optional_argument : required_argument;
            longopts[k].val = FLAG_VAL_BASE + (int)k;
            if (d->shorthand) {
                shortopts[s++] = d->shorthand;
                if (d->type != FLAG_BOOL) shortopts[s++] = ':';
            }
        }
    }

    opterr = 0;
    optind = 0; /* GNU: start afresh, even after an earlier parse */
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (c == -1) break;
        if (c == '?') {
            if (optopt)
                rc = cli_fail(e, CLI_EXIT_ERROR, "unknown shorthand flag: '%c' in -%c", optopt,
                              optopt);
            else
                rc = cli_fail(e, CLI_EXIT_ERROR, "unknown flag: %s", argv[optind - 1]);
            goto out_free_tables;
        }
        if (c == ':') {
            if (optopt >= FLAG_VAL_BASE)
                rc = cli_fail(e, CLI_EXIT_ERROR, "flag needs an argument: --%s",
                              refs[optopt - FLAG_VAL_BASE].def->name);
            else
                rc = cli_fail(e, CLI_EXIT_ERROR, "flag needs an argument: '%c' in -%c", optopt,
                              optopt);
            goto out_free_tables;
        }
        const flag_ref *r = NULL;
        if (c >= FLAG_VAL_BASE) {
            r = &refs[c - FLAG_VAL_BASE];
        } else {
            for (size_t i = 0; i < total && !r; i++)
                if (refs[i].def->shorthand == c) r = &refs[i];
        }
        if (!r) {
            rc = cli_fail(e, CLI_EXIT_ERROR, "unknown shorthand flag: '%c' in -%c", c, c);
            goto out_free_tables;
        }
        rc = set_value(r, optarg, e);
        if (rc != CLI_EXIT_OK) goto out_free_tables;
    }
    *n_pos = argc - optind;
    *pos = argv + optind;

out_free_tables:
    free(shortopts);
    free(longopts);
    free(refs);
    return rc;
}

int flags_from_env(const flag_set *set, const char *prefix, cli_err *e)
{
    for (size_t i = 0; i < set->n_defs; i++) {
        /* Help is asked for, never configured. */
        if (strcmp(set->defs[i].name, "help") == 0) continue;
        char name[128];
        int n = snprintf(name, sizeof(name), "%s_%s", prefix, set->defs[i].name);
        if (n < 0 || (size_t)n >= sizeof(name)) continue;
        for (char *c = name; *c; c++) *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
        const char *value = getenv(name);
        if (!value) continue;
        flag_ref r = {&set->defs[i], set->target};
        if (set_value(&r, value, e) != CLI_EXIT_OK) {
            char why[sizeof(e->message)];
            snprintf(why, sizeof(why), "%s", e->message);
            return cli_fail(e, CLI_EXIT_ERROR, "%s (from %s)", why, name);
        }
    }
    return CLI_EXIT_OK;
}

static int compare_defs(const void *a, const void *b)
{
    const flag_def *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void left_column(char *buf, size_t cap, const flag_def *d)
{
    int w = d->shorthand ? snprintf(buf, cap, "  -%c, --%s", d->shorthand, d->name)
                         : snprintf(buf, cap, "      --%s", d->name);
    if (w < 0 || (size_t)w >= cap) return;
    if (d->type == FLAG_BOOL)
        snprintf(buf + w, cap - (size_t)w, "[=%s]", d->def_text);
    else
        snprintf(buf + w, cap - (size_t)w, "=%s", d->def_text);
}

void flags_print_help(FILE *out, const flag_def *defs, size_t n_defs, const flag_def *extra)
{
    size_t n = n_defs + (extra ? 1 : 0);
    const flag_def **sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted) return;
    for (size_t i = 0; i < n_defs; i++) sorted[i] = &defs[i];
    if (extra) sorted[n_defs] = extra;
    qsort(sorted, n, sizeof(*sorted), compare_defs);

    size_t widest = 0;
    char left[160];
    for (size_t i = 0; i < n; i++) {
        left_column(left, sizeof(left), sorted[i]);
        if (strlen(left) > widest) widest = strlen(left);
    }
    /* Tab stops every 8 columns, the descriptions on the first stop past the widest flag. */
    size_t column = (widest / 8 + 1) * 8;
    for (size_t i = 0; i < n; i++) {
        left_column(left, sizeof(left), sorted[i]);
        fputs(left, out);
        for (size_t at = strlen(left); at < column; at = (at / 8 + 1) * 8) fputc('\t', out);
        fprintf(out, "%s\n", sorted[i]->usage);
    }
    free(sorted);
}
