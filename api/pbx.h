/* pbx: the protobuf codec around nanopb for every message in api/proto.
 *
 * Every bytes/string field is a pbx_bytes_t and every repeated field (except small bounded
 * scalar arrays) a pbx_list_t; both are nanopb callback fields served by pbx_field_cb.
 *
 * Decoding (pbx_decode) is zero-copy: bytes fields are views into the decoded buffer and die
 * with it; copy what you keep. Lists are the only memory a decode allocates; the message owns
 * them and pbx_release frees them. A failed decode leaves the message zeroed, owning nothing.
 *
 * Encoding reads bytes from views and lists from `items`, or from a generator that emits the
 * elements itself (pbx_list_t.gen) so a long list is encoded straight from its source.
 * pbx_encode_bb encodes a top-level message in one pass into a chain of gRPC slices, so a
 * generator in a top-level list runs exactly once; in a list nested deeper (a RangeResponse
 * inside a TxnResponse) nanopb sizes the enclosing submessage first and the generator runs
 * twice, so it must then emit the same elements both times.
 */
#ifndef COORD_API_PBX_H
#define COORD_API_PBX_H

#include <pb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bytes or string field. ptr may be NULL when len is 0 (guard memcpy). A string is NOT
 * NUL-terminated. */
typedef struct pbx_bytes {
    const uint8_t *ptr;
    size_t len;
} pbx_bytes_t;

typedef struct pbx_emitter pbx_emitter;

/* Emits the elements of a list being encoded by calling pbx_emit once per element, in order.
 * Returns false to abort the encoding (pbx_emit's failure must be passed on). */
typedef bool (*pbx_gen_fn)(void *arg, pbx_emitter *e);

/* A repeated field. Elements are the submessage's struct (mvccpb_KeyValue for
 * RangeResponse.kvs) or pbx_bytes_t for repeated bytes/string.
 * To encode, set items+count (cap stays 0: the array is the caller's), or gen+gen_arg. */
typedef struct pbx_list {
    void *items;
    size_t count;
    size_t cap;     /* > 0 only for lists allocated by pbx_decode; pbx_release frees those */
    pbx_gen_fn gen; /* encode only; when set, items/count are ignored */
    void *gen_arg;
} pbx_list_t;

/* Encodes one element of the list being generated: a pointer to the element struct, or to a
 * pbx_bytes_t for a list of bytes/strings. */
bool pbx_emit(pbx_emitter *e, const void *elem);

/* The nanopb callback named in the .options files; not called directly. */
bool pbx_field_cb(pb_istream_t *is, pb_ostream_t *os, const pb_field_iter_t *field);

/* Decodes buf[0..len) into msg (any message of api/proto; its previous contents are
 * overwritten, not freed). Returns 0, or -1 on malformed input (msg then owns nothing). */
int pbx_decode(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len);
/* As pbx_decode; on failure *why (if why != NULL) gets a static description. */
int pbx_decode_why(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len,
                   const char **why);
/* Frees the lists a decode allocated, recursively; the message is zeroed. */
void pbx_release(const pb_msgdesc_t *desc, void *msg);

/* Size of the encoded message. Returns 0 or -1. */
int pbx_encoded_size(const pb_msgdesc_t *desc, const void *msg, size_t *size);
/* Encodes into buf (cap bytes), *written gets the length. Returns 0 or -1 (too small/error). */
int pbx_encode_to(const pb_msgdesc_t *desc, const void *msg, uint8_t *buf, size_t cap,
                  size_t *written);
/* Encodes into a new malloc'ed buffer (*out, caller frees; non-NULL even for 0 bytes). */
int pbx_encode_alloc(const pb_msgdesc_t *desc, const void *msg, uint8_t **out, size_t *len);

struct grpc_byte_buffer;
/* Encodes in one pass into a new gRPC byte buffer (caller owns it), or NULL on failure. */
struct grpc_byte_buffer *pbx_encode_bb(const pb_msgdesc_t *desc, const void *msg);

/* The C struct size of a message of api/proto, or 0 for an unknown descriptor. */
size_t pbx_msg_size(const pb_msgdesc_t *desc);

/* Generated at build time (pbx_msgs.c): every message of api/proto with its struct size. */
typedef struct pbx_msg_info {
    const pb_msgdesc_t *desc;
    size_t size;
    const char *name;
} pbx_msg_info;
extern const pbx_msg_info pbx_msgs[];
extern const size_t pbx_msgs_count;

#endif
