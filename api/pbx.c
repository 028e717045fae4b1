/* pbx: nanopb callbacks for views and lists, decode with leak-proof list ownership, and
 * encoding to buffers and to chains of gRPC slices. Contract in pbx.h. */
#include "pbx.h"

#include <grpc/byte_buffer.h>
#include <grpc/slice.h>
#include <grpc/slice_buffer.h>
#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>
#include <stdlib.h>
#include <string.h>

/* Nesting of lists inside lists (TxnRequest -> RequestOp -> TxnRequest ...) that a decode
 * accepts. Each level costs a few nanopb stack frames; a 2 MiB request could otherwise nest
 * hundreds of thousands of levels and overflow the stack. */
#define PBX_MAX_LIST_DEPTH 64

/* Every list block a decode allocates starts with this header; `slot` is its index in the
 * decode's registry. The registry finds blocks that the message no longer reaches: nanopb
 * zeroes a oneof's storage when the wire switches members, orphaning lists decoded into the
 * old member, and an input may do that on purpose. `elem` saves looking the element size up
 * again for every element. */
typedef union block_hdr {
    struct {
        size_t slot;
        size_t elem;
    } h;
    max_align_t align;
} block_hdr;

typedef struct decode_ctx {
    const uint8_t *cur; /* read cursor; substreams share it through `state` */
    block_hdr **blocks; /* registry: every list block allocated by this decode, by slot */
    size_t nblocks, capblocks;
    int depth; /* lists being decoded inside one another */
} decode_ctx;

struct pbx_emitter {
    pb_ostream_t *os;
    const pb_field_iter_t *field;
};

size_t pbx_msg_size(const pb_msgdesc_t *desc)
{
    for (size_t i = 0; i < pbx_msgs_count; i++)
        if (pbx_msgs[i].desc == desc) return pbx_msgs[i].size;
    return 0;
}

static bool is_list(const pb_field_iter_t *f)
{
    return PB_ATYPE(f->type) == PB_ATYPE_CALLBACK && PB_HTYPE(f->type) == PB_HTYPE_REPEATED;
}

static bool is_bytes(const pb_field_iter_t *f)
{
    return PB_LTYPE(f->type) == PB_LTYPE_BYTES || PB_LTYPE(f->type) == PB_LTYPE_STRING;
}

/* Element size of a list field, or 0 if the field is not a list pbx can hold. */
static size_t list_elem_size(const pb_field_iter_t *f)
{
    if (f->data_size != sizeof(pbx_list_t)) return 0;
    if (PB_LTYPE_IS_SUBMSG(f->type)) return pbx_msg_size(f->submsg_desc);
    if (is_bytes(f)) return sizeof(pbx_bytes_t);
    return 0;
}

/* ---- decode ---- */

static bool ctx_read(pb_istream_t *is, pb_byte_t *buf, size_t n)
{
    decode_ctx *c = is->state;
    if (buf) memcpy(buf, c->cur, n);
    c->cur += n;
    return true;
}

static bool list_grow(decode_ctx *c, pbx_list_t *l, size_t elem)
{
    size_t ncap = l->cap ? l->cap * 2 : 4;
    if (ncap > (SIZE_MAX - sizeof(block_hdr)) / elem) return false;
    block_hdr *old = l->cap ? (block_hdr *)l->items - 1 : NULL;
    if (!old && c->nblocks == c->capblocks) {
        size_t n = c->capblocks ? c->capblocks * 2 : 16;
        block_hdr **nb = realloc(c->blocks, n * sizeof(*nb));
        if (!nb) return false;
        c->blocks = nb;
        c->capblocks = n;
    }
    block_hdr *b = realloc(old, sizeof(block_hdr) + ncap * elem);
    if (!b) return false;
    if (!old) {
        b->h.slot = c->nblocks++;
        b->h.elem = elem;
    }
    c->blocks[b->h.slot] = b;
    l->items = b + 1;
    l->cap = ncap;
    return true;
}

static void take_view(decode_ctx *c, pb_istream_t *is, pbx_bytes_t *v)
{
    v->ptr = c->cur;
    v->len = is->bytes_left;
    c->cur += is->bytes_left;
    is->bytes_left = 0;
}

static bool decode_cb(pb_istream_t *is, const pb_field_iter_t *f)
{
    /* nanopb hands a callback a stream over a stack copy when the wire type is not
     * length-delimited; views into it would dangle, and no field of ours is such. */
    if (is->callback != ctx_read) PB_RETURN_ERROR(is, "wrong wire type");
    decode_ctx *c = is->state;

    if (!is_list(f)) {
        if (f->data_size != sizeof(pbx_bytes_t) || !is_bytes(f))
            PB_RETURN_ERROR(is, "unsupported callback field");
        /* nanopb sets which_ only for static oneof members. */
        if (PB_HTYPE(f->type) == PB_HTYPE_ONEOF) *(pb_size_t *)f->pSize = f->tag;
        take_view(c, is, f->pData);
        return true;
    }

    pbx_list_t *l = f->pData;
    size_t elem = l->cap ? ((block_hdr *)l->items - 1)->h.elem : list_elem_size(f);
    if (!elem) PB_RETURN_ERROR(is, "unsupported list field");
    if (l->count == l->cap && !list_grow(c, l, elem)) PB_RETURN_ERROR(is, "out of memory");
    void *item = (char *)l->items + l->count * elem;
    memset(item, 0, elem);
    if (is_bytes(f)) {
        take_view(c, is, item);
    } else {
        if (c->depth >= PBX_MAX_LIST_DEPTH) PB_RETURN_ERROR(is, "nesting too deep");
        c->depth++;
        bool ok = pb_decode_ex(is, f->submsg_desc, item, PB_DECODE_NOINIT);
        c->depth--;
        if (!ok) return false;
    }
    l->count++;
    return true;
}

/* ---- walking a decoded message's lists ---- */

/* Whether a message of this type can own list memory (saves walking every KeyValue). */
static bool owns_memory(const pb_msgdesc_t *desc, void *sample)
{
    pb_field_iter_t it;
    if (!pb_field_iter_begin(&it, desc, sample)) return false;
    do {
        if (is_list(&it)) return true;
        if (PB_ATYPE(it.type) == PB_ATYPE_STATIC && PB_LTYPE_IS_SUBMSG(it.type) &&
            owns_memory(it.submsg_desc, it.pData))
            return true;
    } while (pb_field_iter_next(&it));
    return false;
}

/* Visits every list block reachable from msg: frees it (release) or strikes it from the
 * registry (c != NULL) so that what remains there is unreachable. */
static void walk(const pb_msgdesc_t *desc, void *msg, decode_ctx *c)
{
    pb_field_iter_t it;
    if (!pb_field_iter_begin(&it, desc, msg)) return;
    do {
        if (is_list(&it)) {
            pbx_list_t *l = it.pData;
            size_t elem = list_elem_size(&it);
            if (!elem || !l->cap) continue;
            if (PB_LTYPE_IS_SUBMSG(it.type) && l->count && owns_memory(it.submsg_desc, l->items))
                for (size_t i = 0; i < l->count; i++)
                    walk(it.submsg_desc, (char *)l->items + i * elem, c);
            block_hdr *b = (block_hdr *)l->items - 1;
            if (c) {
                c->blocks[b->h.slot] = NULL;
            } else {
                free(b);
                memset(l, 0, sizeof(*l));
            }
        } else if (PB_ATYPE(it.type) == PB_ATYPE_STATIC && PB_LTYPE_IS_SUBMSG(it.type)) {
            if (PB_HTYPE(it.type) == PB_HTYPE_ONEOF && *(pb_size_t *)it.pSize != it.tag) continue;
            size_t n = 1;
            if (PB_HTYPE(it.type) == PB_HTYPE_REPEATED) {
                n = *(pb_size_t *)it.pSize;
                if (n > it.array_size) n = it.array_size;
            }
            for (size_t i = 0; i < n; i++)
                walk(it.submsg_desc, (char *)it.pData + i * it.data_size, c);
        }
    } while (pb_field_iter_next(&it));
}

int pbx_decode_why(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len,
                   const char **why)
{
    size_t size = pbx_msg_size(desc);
    if (!size) {
        if (why) *why = "unknown message type";
        return -1;
    }
    memset(msg, 0, size);
    decode_ctx c = {.cur = buf};
    pb_istream_t is = {.callback = ctx_read, .state = &c, .bytes_left = len};
    bool ok = pb_decode_ex(&is, desc, msg, PB_DECODE_NOINIT);
    if (ok) {
        walk(desc, msg, &c);
    } else {
        if (why) *why = PB_GET_ERROR(&is);
        memset(msg, 0, size);
    }
    /* On success only orphans are left in the registry; on failure, everything. */
    for (size_t i = 0; i < c.nblocks; i++) free(c.blocks[i]);
    free(c.blocks);
    return ok ? 0 : -1;
}

int pbx_decode(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len)
{
    return pbx_decode_why(desc, msg, buf, len, NULL);
}

void pbx_release(const pb_msgdesc_t *desc, void *msg)
{
    if (!msg) return;
    walk(desc, msg, NULL);
    size_t size = pbx_msg_size(desc);
    if (size) memset(msg, 0, size);
}

/* ---- encode ---- */

static bool emit_one(pb_ostream_t *os, const pb_field_iter_t *f, const void *elem)
{
    if (!pb_encode_tag_for_field(os, f)) return false;
    if (PB_LTYPE_IS_SUBMSG(f->type)) return pb_encode_submessage(os, f->submsg_desc, elem);
    const pbx_bytes_t *b = elem;
    return pb_encode_string(os, b->ptr, b->len);
}

bool pbx_emit(pbx_emitter *e, const void *elem)
{
    return emit_one(e->os, e->field, elem);
}

static bool encode_cb(pb_ostream_t *os, const pb_field_iter_t *f)
{
    if (!is_list(f)) {
        if (f->data_size != sizeof(pbx_bytes_t) || !is_bytes(f))
            PB_RETURN_ERROR(os, "unsupported callback field");
        const pbx_bytes_t *b = f->pData;
        /* proto3 omits empty singular bytes; a oneof member is sent whenever chosen. */
        if (!b->len && PB_HTYPE(f->type) != PB_HTYPE_ONEOF) return true;
        return pb_encode_tag_for_field(os, f) && pb_encode_string(os, b->ptr, b->len);
    }
    size_t elem = list_elem_size(f);
    if (!elem) PB_RETURN_ERROR(os, "unsupported list field");
    const pbx_list_t *l = f->pData;
    if (l->gen) {
        pbx_emitter e = {os, f};
        return l->gen(l->gen_arg, &e);
    }
    for (size_t i = 0; i < l->count; i++)
        if (!emit_one(os, f, (const char *)l->items + i * elem)) return false;
    return true;
}

bool pbx_field_cb(pb_istream_t *is, pb_ostream_t *os, const pb_field_iter_t *field)
{
    return is ? decode_cb(is, field) : encode_cb(os, field);
}

int pbx_encoded_size(const pb_msgdesc_t *desc, const void *msg, size_t *size)
{
    return pb_get_encoded_size(size, desc, msg) ? 0 : -1;
}

int pbx_encode_to(const pb_msgdesc_t *desc, const void *msg, uint8_t *buf, size_t cap,
                  size_t *written)
{
    pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
    if (!pb_encode(&os, desc, msg)) return -1;
    *written = os.bytes_written;
    return 0;
}

int pbx_encode_alloc(const pb_msgdesc_t *desc, const void *msg, uint8_t **out, size_t *len)
{
    size_t n;
    if (pbx_encoded_size(desc, msg, &n)) return -1;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return -1;
    size_t w;
    if (pbx_encode_to(desc, msg, buf, n, &w) || w != n) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* ---- one-pass encoding into a chain of slices ---- */

/* Slices start small (most replies are a header) and double up to a cap, so a large range
 * reply costs a few hundred slices and wastes at most one partly filled slice. */
#define CHAIN_FIRST_SLICE 256
#define CHAIN_MAX_SLICE   (256 * 1024)

typedef struct slice_chain {
    grpc_slice_buffer done; /* full slices, in order */
    grpc_slice cur;         /* slice being filled; `used` bytes of it are written */
    size_t used;
    bool has_cur;
    size_t next_size;
} slice_chain;

static void chain_flush(slice_chain *ch)
{
    if (!ch->has_cur) return;
    if (ch->used == GRPC_SLICE_LENGTH(ch->cur)) {
        grpc_slice_buffer_add(&ch->done, ch->cur);
    } else {
        grpc_slice_buffer_add(&ch->done, grpc_slice_sub(ch->cur, 0, ch->used));
        grpc_slice_unref(ch->cur);
    }
    ch->has_cur = false;
}

static bool chain_write(pb_ostream_t *os, const pb_byte_t *buf, size_t n)
{
    slice_chain *ch = os->state;
    while (n) {
        if (!ch->has_cur || ch->used == GRPC_SLICE_LENGTH(ch->cur)) {
            chain_flush(ch);
            size_t size = ch->next_size;
            /* A big bytes field gets one slice of its own size (up to the cap). */
            while (size < n && size < CHAIN_MAX_SLICE) size *= 2;
            ch->cur = grpc_slice_malloc(size);
            ch->used = 0;
            ch->has_cur = true;
            if (ch->next_size < CHAIN_MAX_SLICE) ch->next_size *= 2;
        }
        size_t room = GRPC_SLICE_LENGTH(ch->cur) - ch->used;
        size_t k = n < room ? n : room;
        memcpy(GRPC_SLICE_START_PTR(ch->cur) + ch->used, buf, k);
        ch->used += k;
        buf += k;
        n -= k;
    }
    return true;
}

struct grpc_byte_buffer *pbx_encode_bb(const pb_msgdesc_t *desc, const void *msg)
{
    slice_chain ch = {.next_size = CHAIN_FIRST_SLICE};
    grpc_slice_buffer_init(&ch.done);
    pb_ostream_t os = {.callback = chain_write, .state = &ch, .max_size = SIZE_MAX};
    grpc_byte_buffer *bb = NULL;
    if (pb_encode(&os, desc, msg)) {
        chain_flush(&ch);
        bb = grpc_raw_byte_buffer_create(ch.done.slices, ch.done.count);
    } else if (ch.has_cur) {
        grpc_slice_unref(ch.cur);
    }
    grpc_slice_buffer_destroy(&ch.done);
    return bb;
}
