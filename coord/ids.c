#include "ids.h"

#include <inttypes.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t digest_prefix(struct sha1_ctx *ctx)
{
    uint8_t d[SHA1_DIGEST_SIZE];
    sha1_digest(ctx, sizeof(d), d);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | d[i];
    return v;
}

int ids_member_id(const char *const *peer_urls, size_t n, const char *token, int64_t unix_seconds,
                  uint64_t *out)
{
    const char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (!sorted) return -1;
    memcpy(sorted, peer_urls, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    struct sha1_ctx ctx;
    sha1_init(&ctx);
    for (size_t i = 0; i < n; i++) sha1_update(&ctx, strlen(sorted[i]), (const uint8_t *)sorted[i]);
    sha1_update(&ctx, strlen(token), (const uint8_t *)token);
    if (unix_seconds >= 0) {
        char t[24];
        int len = snprintf(t, sizeof(t), "%" PRId64, unix_seconds);
        sha1_update(&ctx, (size_t)len, (const uint8_t *)t);
    }
    *out = digest_prefix(&ctx);
    free(sorted);
    return 0;
}

int ids_cluster_id(const uint64_t *member_ids, size_t n, uint64_t *out)
{
    uint64_t *sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (!sorted) return -1;
    memcpy(sorted, member_ids, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_u64);
    struct sha1_ctx ctx;
    sha1_init(&ctx);
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8];
        for (int j = 0; j < 8; j++) b[j] = (uint8_t)(sorted[i] >> (56 - 8 * j));
        sha1_update(&ctx, sizeof(b), b);
    }
    *out = digest_prefix(&ctx);
    free(sorted);
    return 0;
}
