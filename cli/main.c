/* coordctl: finds the command in argv, parses its flags with the global ones, runs it and
 * turns a failure into etcdctl's "Error: <message>" and exit code. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Global flags whose value may follow as the next argument ("-w json"). */
static bool takes_separate_value(const char *arg)
{
    static const char *const names[] = {"--endpoints", "--dial-timeout", "--command-timeout",
                                        "--write-out", "-w"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(arg, names[i]) == 0) return true;
    return false;
}

/* Indices of the first two arguments that are not flags (or flag values); -1 if absent. */
static void find_words(int argc, char **argv, int word_at[2])
{
    word_at[0] = word_at[1] = -1;
    int found = 0;
    for (int i = 1; i < argc && found < 2; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            if (takes_separate_value(argv[i])) i++;
            continue;
        }
        word_at[found++] = i;
    }
}

static int parse_format(const char *name, cli_format *out)
{
    if (strcmp(name, "simple") == 0) return *out = CLI_FORMAT_SIMPLE, 0;
    if (strcmp(name, "json") == 0) return *out = CLI_FORMAT_JSON, 0;
    if (strcmp(name, "fields") == 0) return *out = CLI_FORMAT_FIELDS, 0;
    return -1;
}

static int report(const cli_err *e)
{
    if (e->message[0]) fprintf(stderr, "Error: %s\n", e->message);
    return e->exit_code;
}

/* Without a command: the main help, `help [command]`, or an unknown command. */
static int run_without_command(int argc, char **argv)
{
    cli_globals g;
    cli_globals_init(&g);
    flag_set set = {cli_global_flags, cli_n_global_flags, &g};
    cli_err e = {0};
    int n_pos;
    char **pos;
    if (flags_parse(argc, argv, &set, 1, &n_pos, &pos, &e) != CLI_EXIT_OK) {
        report(&e);
        fputs("Run 'coordctl --help' for usage.\n", stderr);
        return e.exit_code;
    }
    if (n_pos == 0 || g.help) {
        cli_print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(pos[0], "help") == 0) {
        int used;
        const command *cmd = cli_find_command(pos + 1, n_pos - 1, &used);
        if (cmd)
            cli_print_command_help(stdout, cmd);
        else
            cli_print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "Error: unknown command \"%s\" for \"coordctl\"\n", pos[0]);
    fputs("Run 'coordctl --help' for usage.\n", stderr);
    return CLI_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    int word_at[2];
    find_words(argc, argv, word_at);
    char *words[2] = {word_at[0] >= 0 ? argv[word_at[0]] : NULL,
                      word_at[1] >= 0 ? argv[word_at[1]] : NULL};
    int n_words = word_at[0] < 0 ? 0 : word_at[1] < 0 ? 1 : 2;
    int used = 0;
    const command *cmd = cli_find_command(words, n_words, &used);
    if (!cmd) return run_without_command(argc, argv);

    /* The command's own argv: its name, then every argument but the command words. */
    char **sub = calloc((size_t)argc + 1, sizeof(*sub));
    void *opts = calloc(1, cmd->opts_size ? cmd->opts_size : 1);
    if (!sub || !opts) {
        free(sub);
        free(opts);
        fputs("Error: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    int n_sub = 0;
    sub[n_sub++] = argv[0];
    for (int i = 1; i < argc; i++)
        if (i != word_at[0] && !(used == 2 && i == word_at[1])) sub[n_sub++] = argv[i];

    cli_ctx ctx = {.in = stdin};
    cli_globals_init(&ctx.globals);
    cmd->opts_init(opts);
    flag_set sets[2] = {{cmd->flags, *cmd->n_flags, opts},
                        {cli_global_flags, cli_n_global_flags, &ctx.globals}};
    cli_err e = {0};
    int n_pos, rc;
    char **pos;
    if (flags_from_env(&sets[1], "COORDCTL", &e) != CLI_EXIT_OK) {
        rc = report(&e);
        goto out;
    }
    if (flags_parse(n_sub, sub, sets, 2, &n_pos, &pos, &e) != CLI_EXIT_OK) {
        rc = report(&e);
        fprintf(stderr, "Run 'coordctl %s --help' for usage.\n", cmd->name);
        goto out;
    }
    if (ctx.globals.help) {
        cli_print_command_help(stdout, cmd);
        rc = CLI_EXIT_OK;
        goto out;
    }
    cli_format format;
    if (parse_format(ctx.globals.write_out, &format) != 0) {
        rc = report(&(cli_err){CLI_EXIT_BAD_FEATURE, "unsupported output format"});
        goto out;
    }
    ctx.out = (printer){.format = format, .hex = ctx.globals.hex, .out = stdout, .err = stderr};
    rc = cmd->run(&ctx, opts, n_pos, pos, &e);
    if (rc != CLI_EXIT_OK) report(&e);
out:
    cli_pool_free(&ctx.pool);
    free(opts);
    free(sub);
    return rc;
}
