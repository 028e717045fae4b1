/* mvcc_key: the kv column family's key and record encodings (see mvcc_key.h). */
#include "mvcc_key.h"
#include "storage.h"

#include <stdlib.h>
#include <string.h>

int mvcc_buf_reserve(mvcc_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int mvcc_buf_append(mvcc_buf *b, const void *p, size_t n)
{
    if (mvcc_buf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void mvcc_buf_free(mvcc_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int mvcc_key_append_escaped(mvcc_buf *b, const uint8_t *key, size_t n)
{
    if (n > (SIZE_MAX - MVCC_KEY_REV_BYTES - MVCC_KEY_TERM_BYTES) / 2) return -1;
    if (mvcc_buf_reserve(b, 2 * n + MVCC_KEY_TERM_BYTES + MVCC_KEY_REV_BYTES) != 0) return -1;
    uint8_t *out = b->p + b->len;
    const uint8_t *zero;
    while (n && (zero = memchr(key, 0, n)) != NULL) {
        size_t run = (size_t)(zero - key);
        memcpy(out, key, run);
        out += run;
        *out++ = 0x00;
        *out++ = 0xFF;
        key += run + 1;
        n -= run + 1;
    }
    if (n) memcpy(out, key, n);
    out += n;
    b->len = (size_t)(out - b->p);
    return 0;
}

int mvcc_key_append_version(mvcc_buf *b, const uint8_t *key, size_t n, int64_t rev)
{
    if (mvcc_key_append_escaped(b, key, n) != 0) return -1;
    /* append_escaped reserved room for the terminator and the revision */
    b->p[b->len++] = 0x00;
    b->p[b->len++] = 0x01;
    be64_put(b->p + b->len, UINT64_MAX - (uint64_t)rev);
    b->len += MVCC_KEY_REV_BYTES;
    return 0;
}

int mvcc_key_append_after_versions(mvcc_buf *b, const uint8_t *key, size_t n)
{
    if (mvcc_key_append_escaped(b, key, n) != 0) return -1;
    b->p[b->len++] = 0x00;
    b->p[b->len++] = 0x02;
    return 0;
}

int64_t mvcc_key_rev(const uint8_t *enc, size_t enc_len)
{
    return (int64_t)(UINT64_MAX - be64_get(enc + enc_len - MVCC_KEY_REV_BYTES));
}

bool mvcc_key_is_plain(const uint8_t *enc, size_t enc_len)
{
    return memchr(enc, 0, mvcc_key_escaped_len(enc_len)) == NULL;
}

int mvcc_key_decode(mvcc_buf *b, const uint8_t *enc, size_t enc_len)
{
    size_t n = mvcc_key_escaped_len(enc_len);
    b->len = 0;
    if (mvcc_buf_reserve(b, n ? n : 1) != 0) return -1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        b->p[j++] = enc[i];
        if (enc[i] == 0x00) i++; /* skip the 0xFF escape byte */
    }
    b->len = j;
    return 0;
}

int mvcc_key_user(mvcc_buf *scratch, const uint8_t *enc, size_t enc_len, const uint8_t **user,
                  size_t *user_len)
{
    if (mvcc_key_is_plain(enc, enc_len)) {
        *user = enc;
        *user_len = mvcc_key_escaped_len(enc_len);
        return 0;
    }
    if (mvcc_key_decode(scratch, enc, enc_len) != 0) return -1;
    *user = scratch->p;
    *user_len = scratch->len;
    return 0;
}

int mvcc_rec_decode(const uint8_t *p, size_t n, mvcc_rec *r)
{
    if (n < 1) return -1;
    memset(r, 0, sizeof(*r));
    if (p[0] & MVCC_REC_TOMBSTONE) {
        r->tombstone = true;
        return 0;
    }
    if (n < MVCC_REC_HEADER) return -1;
    r->create_revision = (int64_t)be64_get(p + 1);
    r->version = (int64_t)be64_get(p + 9);
    r->lease = (int64_t)be64_get(p + 17);
    r->value = p + MVCC_REC_HEADER;
    r->value_len = n - MVCC_REC_HEADER;
    return 0;
}

int mvcc_rec_encode(mvcc_buf *b, const mvcc_rec *r)
{
    b->len = 0;
    if (r->tombstone) return mvcc_buf_append(b, "\x01", 1);
    if (mvcc_buf_reserve(b, MVCC_REC_HEADER + r->value_len) != 0) return -1;
    b->p[0] = 0;
    be64_put(b->p + 1, (uint64_t)r->create_revision);
    be64_put(b->p + 9, (uint64_t)r->version);
    be64_put(b->p + 17, (uint64_t)r->lease);
    b->len = MVCC_REC_HEADER;
    return mvcc_buf_append(b, r->value, r->value_len);
}
