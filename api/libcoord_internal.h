/* libcoord_internal: what libcoord's files share (not part of the public API).
 *
 * coord_arena: the memory of one response, freed at once. Decoding copies the response bytes
 * into the arena, decodes them with pbx (keys and values stay views into that copy), and
 * converts nanopb's structs into libcoord's, all in the same arena.
 */
#ifndef COORD_API_LIBCOORD_INTERNAL_H
#define COORD_API_LIBCOORD_INTERNAL_H

#include "libcoord.h"

#include <stdarg.h>

struct coord_arena {
    struct coord_arena_block *blocks;
};

coord_arena *lc_arena_new(void);
/* Zeroed memory, or NULL when memory runs out. */
void *lc_arena_alloc(coord_arena *a, size_t size);
void lc_arena_free(coord_arena *a);

/* Fills err (if any) and returns code. */
int lc_fail(coord_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Requests: encoded into a new malloc'ed buffer (*out, caller frees). Return COORD_OK or an
 * error code with err filled. */
int lc_encode_range(const coord_range_req *req, uint8_t **out, size_t *len, coord_error *err);
int lc_encode_put(const coord_put_req *req, uint8_t **out, size_t *len, coord_error *err);
int lc_encode_delete(const coord_delete_req *req, uint8_t **out, size_t *len, coord_error *err);
int lc_encode_txn(const coord_txn_req *req, uint8_t **out, size_t *len, coord_error *err);
int lc_encode_compact(int64_t revision, bool physical, uint8_t **out, size_t *len,
                      coord_error *err);
int lc_encode_empty(uint8_t **out, size_t *len, coord_error *err);
int lc_encode_list(const coord_list_req *req, uint8_t **out, size_t *len, coord_error *err);

/* Responses: decoded from buf[0..len) (only read; a copy goes into a new arena the response
 * then owns). On failure the response is zeroed and owns nothing. */
int lc_decode_range(const uint8_t *buf, size_t len, coord_range_resp *resp, coord_error *err);
int lc_decode_put(const uint8_t *buf, size_t len, coord_put_resp *resp, coord_error *err);
int lc_decode_delete(const uint8_t *buf, size_t len, coord_delete_resp *resp, coord_error *err);
int lc_decode_txn(const uint8_t *buf, size_t len, coord_txn_resp *resp, coord_error *err);
int lc_decode_compact(const uint8_t *buf, size_t len, coord_header *header, coord_error *err);
int lc_decode_status(const uint8_t *buf, size_t len, coord_status_resp *resp, coord_error *err);
int lc_decode_member_list(const uint8_t *buf, size_t len, coord_member_list_resp *resp,
                          coord_error *err);
int lc_decode_list(const uint8_t *buf, size_t len, coord_list_resp *resp, coord_error *err);

/* For the other call files (libcoord_lease.c, libcoord_lock.c): one unary call with the
 * client's failover and retries, bounded by timeout_ms (<= 0: the command timeout); write calls
 * are not retried once they may have reached a server. On COORD_OK *reply holds the answer
 * (free it with rpc_reply_free). */
struct rpc_reply;
struct rpc_channel;
int lc_call(coord_client *c, const char *method, bool write, int64_t timeout_ms,
            const uint8_t *req, size_t req_len, struct rpc_reply *reply, coord_error *err);
/* The current endpoint's channel (for streams); it lives as long as the client. */
int lc_channel(coord_client *c, struct rpc_channel **ch, coord_error *err);
int64_t lc_command_timeout_ms(coord_client *c);

#endif
