/* libcoord's byte helpers, response arenas and _free functions: no gRPC here, so programs
 * that only format or test libcoord values link this file alone. */
#include "libcoord_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct coord_arena_block {
    struct coord_arena_block *next;
    max_align_t data[];
};

coord_bytes coord_str(const char *s)
{
    return (coord_bytes){(const uint8_t *)s, s ? strlen(s) : 0};
}

coord_bytes coord_prefix_end(coord_bytes prefix, uint8_t *out)
{
    size_t n = prefix.len;
    while (n > 0 && prefix.ptr[n - 1] == 0xff) n--;
    if (n == 0) {
        out[0] = 0;
        return (coord_bytes){out, 1};
    }
    memcpy(out, prefix.ptr, n);
    out[n - 1]++;
    return (coord_bytes){out, n};
}

coord_arena *lc_arena_new(void)
{
    return calloc(1, sizeof(coord_arena));
}

void *lc_arena_alloc(coord_arena *a, size_t size)
{
    struct coord_arena_block *b = calloc(1, sizeof(*b) + size);
    if (!b) return NULL;
    b->next = a->blocks;
    a->blocks = b;
    return b->data;
}

void lc_arena_free(coord_arena *a)
{
    if (!a) return;
    struct coord_arena_block *b = a->blocks;
    while (b) {
        struct coord_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

int lc_fail(coord_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

#define DEFINE_FREE(type)                                                                          \
    void type##_free(type *resp)                                                                   \
    {                                                                                              \
        if (!resp) return;                                                                         \
        lc_arena_free(resp->arena);                                                                \
        memset(resp, 0, sizeof(*resp));                                                            \
    }

DEFINE_FREE(coord_range_resp)
DEFINE_FREE(coord_put_resp)
DEFINE_FREE(coord_delete_resp)
DEFINE_FREE(coord_txn_resp)
DEFINE_FREE(coord_status_resp)
DEFINE_FREE(coord_member_list_resp)
DEFINE_FREE(coord_list_resp)
