/* mvcc_key: how MVCC versions are laid out in the kv column family, and a growable buffer.
 *
 * A version of user key K at revision R is stored under
 *     escape(K) ‖ 0x00 0x01 ‖ be64(UINT64_MAX − R)
 * where escape turns every 0x00 byte into 0x00 0xFF. Encoded keys sort exactly like
 * (K ascending, R descending): the terminator 0x00 0x01 is below any escaped byte that can
 * follow in a longer key (0x00 0xFF or 1..0xFF), so a key sorts before every key it is a
 * prefix of. "escape(K) ‖ 0x00 0x02" sorts after every version of K and at or before every
 * larger key; "escape(K)" alone sorts at or before every key >= K.
 *
 * The value is a record: one flags byte (bit 0 = tombstone); a live record goes on with
 * be64 create_revision, be64 version, be64 lease and then the value bytes.
 */
#ifndef COORD_MVCC_KEY_H
#define COORD_MVCC_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MVCC_KEY_REV_BYTES  8 /* be64(UINT64_MAX − revision) at the end of every kv key */
#define MVCC_KEY_TERM_BYTES 2
#define MVCC_REC_HEADER     25 /* flags + create + version + lease */
#define MVCC_REC_TOMBSTONE  0x01

/* Owned, growable bytes. Invariant: len <= cap; p is NULL only while cap == 0. */
typedef struct mvcc_buf {
    uint8_t *p;
    size_t len, cap;
} mvcc_buf;

/* Makes room for at least `extra` more bytes beyond len. Returns 0 or -1 (out of memory). */
int mvcc_buf_reserve(mvcc_buf *b, size_t extra);
int mvcc_buf_append(mvcc_buf *b, const void *p, size_t n);
void mvcc_buf_free(mvcc_buf *b);

/* Appends escape(key). */
int mvcc_key_append_escaped(mvcc_buf *b, const uint8_t *key, size_t n);
/* Appends escape(key) ‖ terminator ‖ be64(MAX − rev): the kv key of one version. */
int mvcc_key_append_version(mvcc_buf *b, const uint8_t *key, size_t n, int64_t rev);
/* Appends escape(key) ‖ 0x00 0x02: the first encoded key after every version of key. */
int mvcc_key_append_after_versions(mvcc_buf *b, const uint8_t *key, size_t n);

/* Parts of an encoded kv key (len >= MVCC_KEY_REV_BYTES + MVCC_KEY_TERM_BYTES, checked by
 * mvcc_key_valid). The "prefix" is escape(K) ‖ terminator: two versions of one user key share
 * exactly their prefix. */
static inline bool mvcc_key_valid(size_t enc_len)
{
    return enc_len >= MVCC_KEY_REV_BYTES + MVCC_KEY_TERM_BYTES;
}
static inline size_t mvcc_key_prefix_len(size_t enc_len)
{
    return enc_len - MVCC_KEY_REV_BYTES;
}
int64_t mvcc_key_rev(const uint8_t *enc, size_t enc_len);
/* True when the escaped part holds no 0x00, so the user key is the escaped bytes verbatim. */
bool mvcc_key_is_plain(const uint8_t *enc, size_t enc_len);
/* Length of the escaped user key part (the prefix without its terminator). */
static inline size_t mvcc_key_escaped_len(size_t enc_len)
{
    return enc_len - MVCC_KEY_REV_BYTES - MVCC_KEY_TERM_BYTES;
}
/* Replaces b's contents with the user key of enc. Returns 0 or -1 (out of memory). */
int mvcc_key_decode(mvcc_buf *b, const uint8_t *enc, size_t enc_len);
/* Sets *user and *user_len to the user key of enc, decoding into scratch only if it holds 0x00. */
int mvcc_key_user(mvcc_buf *scratch, const uint8_t *enc, size_t enc_len, const uint8_t **user,
                  size_t *user_len);

/* A decoded record; value points into the bytes it was decoded from. */
typedef struct mvcc_rec {
    bool tombstone;
    int64_t create_revision;
    int64_t version;
    int64_t lease;
    const uint8_t *value;
    size_t value_len;
} mvcc_rec;

/* Returns 0, or -1 when the bytes are not a record. */
int mvcc_rec_decode(const uint8_t *p, size_t n, mvcc_rec *r);
/* Replaces b's contents with the encoded record. */
int mvcc_rec_encode(mvcc_buf *b, const mvcc_rec *r);

#endif
