/* raft_msg: the peer wire format of raft_msg and of configuration-change entries.
 *
 * Message layout (all integers unsigned LEB128 varints unless marked u8):
 *   u8 version (1) | u8 type | u8 flags (1 reject, 2 transfer, 4 snapshot)
 *   from to term log_term index commit reject_hint read_seq
 *   ctx_len ctx[ctx_len]
 *   n_entries { term index u8 type len data[len] } * n_entries
 *   [snapshot: index term conf data_len data[data_len]]
 * conf: n_voters ids.. n_voters_outgoing ids.. n_learners ids..
 * The decoder checks every length against what is left, rejects varints over 64 bits,
 * unknown versions, types and flags, and trailing bytes; it never reads past len.
 */
#include "raft_internal.h"

#include <stdlib.h>
#include <string.h>

#define MSG_VERSION 1
#define CC_VERSION  1
#define F_REJECT    1u
#define F_TRANSFER  2u
#define F_SNAPSHOT  4u
#define F_ALL       (F_REJECT | F_TRANSFER | F_SNAPSHOT)

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
} reader;

static bool get_varint(reader *rd, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (rd->p == rd->end) return false;
        uint8_t b = *rd->p++;
        if (shift == 63 && b > 1) return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool get_u8(reader *rd, uint8_t *out)
{
    if (rd->p == rd->end) return false;
    *out = *rd->p++;
    return true;
}

/* A length prefix that must fit in what is left (and in 32 bits). */
static bool get_len(reader *rd, uint32_t *out)
{
    uint64_t v;
    if (!get_varint(rd, &v) || v > UINT32_MAX || v > (uint64_t)(rd->end - rd->p)) return false;
    *out = (uint32_t)v;
    return true;
}

static size_t ids_size(const raft_id *ids, uint32_t n)
{
    size_t s = varint_size(n);
    for (uint32_t i = 0; i < n; i++) s += varint_size(ids[i]);
    return s;
}

static size_t conf_size(const raft_conf_state *c)
{
    return ids_size(c->voters, c->n_voters) + ids_size(c->voters_outgoing, c->n_voters_outgoing) +
           ids_size(c->learners, c->n_learners);
}

static uint8_t *put_ids(uint8_t *p, const raft_id *ids, uint32_t n)
{
    p = put_varint(p, n);
    for (uint32_t i = 0; i < n; i++) p = put_varint(p, ids[i]);
    return p;
}

static bool get_ids(reader *rd, raft_id *ids, uint32_t *n)
{
    uint64_t cnt;
    if (!get_varint(rd, &cnt) || cnt > RAFT_MAX_NODES) return false;
    for (uint64_t i = 0; i < cnt; i++)
        if (!get_varint(rd, &ids[i])) return false;
    *n = (uint32_t)cnt;
    return true;
}

static bool get_conf(reader *rd, raft_conf_state *c)
{
    return get_ids(rd, c->voters, &c->n_voters) &&
           get_ids(rd, c->voters_outgoing, &c->n_voters_outgoing) &&
           get_ids(rd, c->learners, &c->n_learners);
}

size_t raft_msg_encoded_size(const raft_msg *m)
{
    size_t s = 3 + varint_size(m->from) + varint_size(m->to) + varint_size(m->term) +
               varint_size(m->log_term) + varint_size(m->index) + varint_size(m->commit) +
               varint_size(m->reject_hint) + varint_size(m->read_seq);
    s += varint_size(m->ctx_len) + m->ctx_len;
    s += varint_size(m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        s += varint_size(e->term) + varint_size(e->index) + 1 + varint_size(e->len) + e->len;
    }
    if (m->snapshot) {
        const raft_snapshot *sn = m->snapshot;
        s += varint_size(sn->meta.index) + varint_size(sn->meta.term) + conf_size(&sn->meta.conf) +
             varint_size(sn->len) + sn->len;
    }
    return s;
}

size_t raft_msg_encode(const raft_msg *m, uint8_t *buf, size_t cap)
{
    size_t need = raft_msg_encoded_size(m);
    if (cap < need) return 0;
    uint8_t *p = buf;
    *p++ = MSG_VERSION;
    *p++ = m->type;
    *p++ = (uint8_t)((m->reject ? F_REJECT : 0) | (m->transfer ? F_TRANSFER : 0) |
                     (m->snapshot ? F_SNAPSHOT : 0));
    p = put_varint(p, m->from);
    p = put_varint(p, m->to);
    p = put_varint(p, m->term);
    p = put_varint(p, m->log_term);
    p = put_varint(p, m->index);
    p = put_varint(p, m->commit);
    p = put_varint(p, m->reject_hint);
    p = put_varint(p, m->read_seq);
    p = put_varint(p, m->ctx_len);
    if (m->ctx_len) memcpy(p, m->ctx, m->ctx_len);
    p += m->ctx_len;
    p = put_varint(p, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        p = put_varint(p, e->term);
        p = put_varint(p, e->index);
        *p++ = e->type;
        p = put_varint(p, e->len);
        if (e->len) memcpy(p, e->data, e->len);
        p += e->len;
    }
    if (m->snapshot) {
        const raft_snapshot *sn = m->snapshot;
        p = put_varint(p, sn->meta.index);
        p = put_varint(p, sn->meta.term);
        p = put_ids(p, sn->meta.conf.voters, sn->meta.conf.n_voters);
        p = put_ids(p, sn->meta.conf.voters_outgoing, sn->meta.conf.n_voters_outgoing);
        p = put_ids(p, sn->meta.conf.learners, sn->meta.conf.n_learners);
        p = put_varint(p, sn->len);
        if (sn->len) memcpy(p, sn->data, sn->len);
        p += sn->len;
    }
    return (size_t)(p - buf);
}

/* Parses the message; with fill false only validates and sizes (entry count, data bytes),
 * with fill true copies into the block laid out by raft_msg_decode. */
static bool parse(reader rd, raft_msg *m, bool fill, uint8_t *bytes, uint64_t *n_entries,
                  uint64_t *data_bytes)
{
    uint8_t version, type, flags;
    if (!get_u8(&rd, &version) || version != MSG_VERSION) return false;
    if (!get_u8(&rd, &type) || type < RAFT_MSG_APP || type > RAFT_MSG_TYPE_MAX) return false;
    if (!get_u8(&rd, &flags) || (flags & ~F_ALL)) return false;
    m->type = type;
    m->reject = flags & F_REJECT;
    m->transfer = flags & F_TRANSFER;
    if (!get_varint(&rd, &m->from) || !get_varint(&rd, &m->to) || !get_varint(&rd, &m->term) ||
        !get_varint(&rd, &m->log_term) || !get_varint(&rd, &m->index) ||
        !get_varint(&rd, &m->commit) || !get_varint(&rd, &m->reject_hint) ||
        !get_varint(&rd, &m->read_seq))
        return false;
    uint32_t ctx_len;
    if (!get_len(&rd, &ctx_len)) return false;
    uint64_t total = ctx_len;
    if (fill && ctx_len) {
        memcpy(bytes, rd.p, ctx_len);
        m->ctx = bytes;
        m->ctx_len = ctx_len;
        bytes += ctx_len;
    }
    rd.p += ctx_len;
    uint64_t n;
    /* Each entry takes at least four bytes, which bounds the count before allocating. */
    if (!get_varint(&rd, &n) || n > (uint64_t)(rd.end - rd.p) / 4) return false;
    for (uint64_t i = 0; i < n; i++) {
        raft_entry e = {0};
        uint32_t len;
        if (!get_varint(&rd, &e.term) || !get_varint(&rd, &e.index) || !get_u8(&rd, &e.type) ||
            e.type > RAFT_ENTRY_CONF_CHANGE || !get_len(&rd, &len))
            return false;
        if (fill) {
            e.len = len;
            if (len) {
                memcpy(bytes, rd.p, len);
                e.data = bytes;
                bytes += len;
            }
            m->entries[i] = e;
        }
        rd.p += len;
        total += len;
    }
    if (fill) m->n_entries = (uint32_t)n;
    if (flags & F_SNAPSHOT) {
        raft_snapshot_meta meta = {0};
        uint32_t len;
        if (!get_varint(&rd, &meta.index) || !get_varint(&rd, &meta.term) ||
            !get_conf(&rd, &meta.conf) || !get_len(&rd, &len))
            return false;
        if (fill) {
            m->snapshot->meta = meta;
            m->snapshot->len = len;
            if (len) {
                memcpy(bytes, rd.p, len);
                m->snapshot->data = bytes;
            }
        }
        rd.p += len;
        total += len;
    }
    if (rd.p != rd.end) return false;
    *n_entries = n;
    *data_bytes = total;
    return true;
}

int raft_msg_decode(const uint8_t *buf, size_t len, raft_msg *out)
{
    *out = (raft_msg){0};
    if (!buf) return RAFT_ERR_DECODE; /* (and NULL + 0 is undefined) */
    reader rd = {buf, buf + len};
    raft_msg probe = {0};
    uint64_t n, bytes;
    if (!parse(rd, &probe, false, NULL, &n, &bytes)) return RAFT_ERR_DECODE;
    bool has_snap = buf[2] & F_SNAPSHOT;
    size_t head = n * sizeof(raft_entry) + (has_snap ? sizeof(raft_snapshot) : 0);
    uint8_t *mem = malloc(head + bytes + 1);
    if (!mem) return RAFT_ERR_NOMEM;
    out->entries = n ? (raft_entry *)mem : NULL;
    out->snapshot = has_snap ? (raft_snapshot *)(mem + n * sizeof(raft_entry)) : NULL;
    if (out->snapshot) *out->snapshot = (raft_snapshot){0};
    if (!parse(rd, out, true, mem + head, &n, &bytes)) {
        free(mem); /* cannot happen: the first pass accepted the same bytes */
        *out = (raft_msg){0};
        return RAFT_ERR_DECODE;
    }
    out->mem = mem;
    return RAFT_OK;
}

void raft_msg_free(raft_msg *m)
{
    free(m->mem);
    *m = (raft_msg){0};
}

bool raft_msg_needs_durable(const raft_msg *m)
{
    /* A leader's own durability only matters for counting its copy, which the core does
     * after raft_advance; everything else (votes, acks) promises durable state. */
    return !(m->type == RAFT_MSG_APP || m->type == RAFT_MSG_SNAP || m->type == RAFT_MSG_HEARTBEAT);
}

const char *raft_msg_type_name(int type)
{
    static const char *const names[] = {
        [RAFT_MSG_APP] = "MsgApp",
        [RAFT_MSG_APP_RESP] = "MsgAppResp",
        [RAFT_MSG_VOTE] = "MsgVote",
        [RAFT_MSG_VOTE_RESP] = "MsgVoteResp",
        [RAFT_MSG_PRE_VOTE] = "MsgPreVote",
        [RAFT_MSG_PRE_VOTE_RESP] = "MsgPreVoteResp",
        [RAFT_MSG_SNAP] = "MsgSnap",
        [RAFT_MSG_HEARTBEAT] = "MsgHeartbeat",
        [RAFT_MSG_HEARTBEAT_RESP] = "MsgHeartbeatResp",
        [RAFT_MSG_TIMEOUT_NOW] = "MsgTimeoutNow",
        [RAFT_MSG_PROP] = "MsgProp",
        [RAFT_MSG_TRANSFER] = "MsgTransferLeader",
        [RAFT_MSG_READ_INDEX] = "MsgReadIndex",
        [RAFT_MSG_READ_INDEX_RESP] = "MsgReadIndexResp",
    };
    if (type < RAFT_MSG_APP || type > RAFT_MSG_TYPE_MAX) return "MsgUnknown";
    return names[type];
}

uint8_t *raft_conf_change_encode(const raft_conf_change *cc, const void *ctx, size_t ctx_len,
                                 size_t *out_len)
{
    if (cc->n_changes > RAFT_MAX_NODES || ctx_len > UINT32_MAX) return NULL;
    size_t s = 1 + varint_size(cc->n_changes) + varint_size(ctx_len) + ctx_len;
    for (uint32_t i = 0; i < cc->n_changes; i++) s += 1 + varint_size(cc->changes[i].node);
    uint8_t *buf = malloc(s);
    if (!buf) return NULL;
    uint8_t *p = buf;
    *p++ = CC_VERSION;
    p = put_varint(p, cc->n_changes);
    for (uint32_t i = 0; i < cc->n_changes; i++) {
        *p++ = cc->changes[i].type;
        p = put_varint(p, cc->changes[i].node);
    }
    p = put_varint(p, ctx_len);
    if (ctx_len) memcpy(p, ctx, ctx_len);
    *out_len = s;
    return buf;
}

int raft_conf_change_decode(const uint8_t *buf, size_t len, raft_conf_change *cc,
                            const uint8_t **ctx, size_t *ctx_len)
{
    *cc = (raft_conf_change){0};
    if (!buf) return RAFT_ERR_DECODE;
    reader rd = {buf, buf + len};
    uint8_t version;
    uint64_t n;
    if (!get_u8(&rd, &version) || version != CC_VERSION) return RAFT_ERR_DECODE;
    if (!get_varint(&rd, &n) || n > RAFT_MAX_NODES) return RAFT_ERR_DECODE;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t type;
        if (!get_u8(&rd, &type) || type < RAFT_CC_ADD_VOTER || type > RAFT_CC_REMOVE ||
            !get_varint(&rd, &cc->changes[i].node))
            return RAFT_ERR_DECODE;
        cc->changes[i].type = type;
    }
    uint32_t cl;
    if (!get_len(&rd, &cl) || (size_t)(rd.end - rd.p) != cl) return RAFT_ERR_DECODE;
    cc->n_changes = (uint32_t)n;
    if (ctx) *ctx = cl ? rd.p : NULL;
    if (ctx_len) *ctx_len = cl;
    return RAFT_OK;
}
