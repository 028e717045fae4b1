#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(cli_err *e, int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->exit_code = exit_code;
    return exit_code;
}

void cli_globals_init(cli_globals *g)
{
    memset(g, 0, sizeof(*g));
    g->endpoints_csv = "127.0.0.1:2379";
    g->dial_timeout_ms = 2000;
    g->command_timeout_ms = 5000;
    g->write_out = "simple";
}

struct cli_pool_block {
    struct cli_pool_block *next;
    max_align_t data[];
};

void *cli_pool_alloc(cli_pool *p, size_t size)
{
    struct cli_pool_block *b = calloc(1, sizeof(*b) + size);
    if (!b) return NULL;
    b->next = p->blocks;
    p->blocks = b;
    return b->data;
}

char *cli_pool_strndup(cli_pool *p, const char *s, size_t len)
{
    char *d = cli_pool_alloc(p, len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void cli_pool_free(cli_pool *p)
{
    struct cli_pool_block *b = p->blocks;
    while (b) {
        struct cli_pool_block *next = b->next;
        free(b);
        b = next;
    }
    p->blocks = NULL;
}
