#include "apply.h"

#include "apply_lease.h"
#include "arena.h"
#include "kv_exec.h"
#include "members.h"
#include "membership.h"
#include "pbx.h"

#include <grpc/byte_buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *entry_build(enum entry_type type, uint64_t request_id, const uint8_t *req, size_t req_len,
                     size_t *len)
{
    uint8_t *e = malloc(ENTRY_HEADER_LEN + req_len);
    if (!e) return NULL;
    e[0] = (uint8_t)type;
    be64_put(e + 1, request_id);
    if (req_len) memcpy(e + ENTRY_HEADER_LEN, req, req_len);
    *len = ENTRY_HEADER_LEN + req_len;
    return e;
}

/* Records the applied index alone: the entry changed nothing (a no-op, or a request that
 * failed). */
static int commit_nothing(coord_server *s, uint64_t index)
{
    mvcc_txn *t;
    if (mvcc_write_begin(s->kv, &t) != MVCC_OK) return -1;
    int64_t rev;
    int rc = mvcc_txn_commit(t, index, NULL, &rev);
    mvcc_txn_end(t);
    return rc == MVCC_OK ? 0 : -1;
}

static void answer(coord_server *s, uint64_t id, coord_err e, const pb_msgdesc_t *desc,
                   const void *msg)
{
    if (e != COORD_OK) {
        wait_trigger(s->waits, id, e, NULL);
        return;
    }
    grpc_byte_buffer *bb = pbx_encode_bb(desc, msg);
    if (!bb) {
        wait_trigger(s->waits, id, COORD_ERR_INTERNAL, NULL);
        return;
    }
    if (!wait_trigger(s->waits, id, COORD_OK, bb)) grpc_byte_buffer_destroy(bb);
}

union kv_request {
    etcdserverpb_PutRequest put;
    etcdserverpb_DeleteRangeRequest del;
    etcdserverpb_TxnRequest txn;
};

union kv_response {
    etcdserverpb_PutResponse put;
    etcdserverpb_DeleteRangeResponse del;
    etcdserverpb_TxnResponse txn;
};

/* Put, DeleteRange and Txn: one write transaction; on an error it is dropped whole. */
static int apply_kv(coord_server *s, enum entry_type type, uint64_t id, uint64_t index,
                    uint64_t term, const uint8_t *req, size_t len)
{
    const pb_msgdesc_t *req_desc, *resp_desc;
    switch (type) {
    case ENTRY_PUT:
        req_desc = &etcdserverpb_PutRequest_msg;
        resp_desc = &etcdserverpb_PutResponse_msg;
        break;
    case ENTRY_DELETE_RANGE:
        req_desc = &etcdserverpb_DeleteRangeRequest_msg;
        resp_desc = &etcdserverpb_DeleteRangeResponse_msg;
        break;
    default:
        req_desc = &etcdserverpb_TxnRequest_msg;
        resp_desc = &etcdserverpb_TxnResponse_msg;
        break;
    }
    union kv_request rq;
    if (pbx_decode(req_desc, &rq, req, len) != 0) {
        /* The handler decoded it before proposing, so this entry is not ours: refuse it. */
        answer(s, id, COORD_ERR_INVALID_ARGUMENT, NULL, NULL);
        return commit_nothing(s, index);
    }
    int rc = 0;
    arena mem = {0};
    mvcc_txn *t;
    if (mvcc_write_begin(s->kv, &t) != MVCC_OK) {
        rc = -1;
        goto done_release_request;
    }
    kv_exec x;
    kv_exec_init(&x, s->kv, t, &mem, true);
    apply_lease_hooks lh = {.s = s, .batch = rocksdb_writebatch_create()};
    apply_lease_hooks_install(&x, &lh);
    union kv_response rs;
    memset(&rs, 0, sizeof(rs));
    coord_err e;
    etcdserverpb_ResponseHeader *h;
    switch (type) {
    case ENTRY_PUT:
        e = kv_exec_put(&x, &rq.put, &rs.put);
        h = &rs.put.header;
        break;
    case ENTRY_DELETE_RANGE:
        e = kv_exec_delete_range(&x, &rq.del, &rs.del);
        h = &rs.del.header;
        break;
    default:
        e = kv_exec_txn(&x, &rq.txn, &rs.txn);
        h = &rs.txn.header;
        break;
    }
    if (e == COORD_ERR_INTERNAL) {
        rc = -1;
        goto done_end_txn;
    }
    if (e != COORD_OK) {
        mvcc_txn_end(t);
        t = NULL;
        answer(s, id, e, NULL, NULL);
        rc = commit_nothing(s, index);
        goto done_end_txn;
    }
    int64_t rev;
    if (mvcc_txn_commit(t, index, lh.batch, &rev) != MVCC_OK) {
        rc = -1;
        goto done_end_txn;
    }
    if (x.changed && s->on_revision) s->on_revision(s->on_revision_arg, rev);
    server_fill_header_term(s, h, h->revision, term);
    answer(s, id, COORD_OK, resp_desc, &rs);
done_end_txn:
    if (t) mvcc_txn_end(t);
    rocksdb_writebatch_destroy(lh.batch);
    arena_free(&mem);
done_release_request:
    pbx_release(req_desc, &rq);
    return rc;
}

static int apply_compact(coord_server *s, uint64_t id, uint64_t index, uint64_t term,
                         const uint8_t *req, size_t len)
{
    etcdserverpb_CompactionRequest rq;
    if (pbx_decode(&etcdserverpb_CompactionRequest_msg, &rq, req, len) != 0) {
        answer(s, id, COORD_ERR_INVALID_ARGUMENT, NULL, NULL);
        return commit_nothing(s, index);
    }
    int64_t cur = mvcc_current_rev(s->kv);
    if (rq.revision <= mvcc_compacted_rev(s->kv)) {
        answer(s, id, COORD_ERR_COMPACTED, NULL, NULL);
        return commit_nothing(s, index);
    }
    if (rq.revision > cur) {
        answer(s, id, COORD_ERR_FUTURE_REV, NULL, NULL);
        return commit_nothing(s, index);
    }
    mvcc_txn *t;
    if (mvcc_write_begin(s->kv, &t) != MVCC_OK) return -1;
    int64_t rev;
    int rc = mvcc_txn_compact(t, rq.revision);
    if (rc == MVCC_OK) rc = mvcc_txn_commit(t, index, NULL, &rev);
    mvcc_txn_end(t);
    if (rc != MVCC_OK) return -1;
    /* Physical removal runs here for now, so `--physical` and plain compaction both answer
     * after it; it is bounded by the history being removed, not by the key space. */
    if (mvcc_compact_physical(s->kv, rq.revision) != MVCC_OK)
        fprintf(stderr, "coord: physical compaction at %lld failed; it is retried at the next\n",
                (long long)rq.revision);
    etcdserverpb_CompactionResponse rs = {0};
    rs.has_header = true;
    server_fill_header_term(s, &rs.header, mvcc_current_rev(s->kv), term);
    answer(s, id, COORD_OK, &etcdserverpb_CompactionResponse_msg, &rs);
    return 0;
}

int apply_entry(void *arg, uint64_t index, uint64_t term, const uint8_t *entry, size_t len)
{
    apply_ctx *ctx = arg;
    coord_server *s = ctx->srv;
    if (len == 0) return commit_nothing(s, index);
    if (len < ENTRY_HEADER_LEN) {
        fprintf(stderr, "coord: entry %llu is too short (%zu bytes); skipped\n",
                (unsigned long long)index, len);
        return commit_nothing(s, index);
    }
    enum entry_type type = entry[0];
    uint64_t id = be64_get(entry + 1);
    const uint8_t *req = entry + ENTRY_HEADER_LEN;
    size_t req_len = len - ENTRY_HEADER_LEN;
    switch (type) {
    case ENTRY_NOOP:
        return commit_nothing(s, index);
    case ENTRY_PUT:
    case ENTRY_DELETE_RANGE:
    case ENTRY_TXN:
        return apply_kv(s, type, id, index, term, req, req_len);
    case ENTRY_COMPACT:
        return apply_compact(s, id, index, term, req, req_len);
    case ENTRY_LEASE_GRANT:
        return apply_lease_grant(s, id, index, term, req, req_len);
    case ENTRY_LEASE_REVOKE:
        return apply_lease_revoke(s, id, index, term, req, req_len);
    case ENTRY_LEASE_CHECKPOINT:
        return apply_lease_checkpoint(s, id, index, term, req, req_len);
    case ENTRY_MEMBER_ATTR:
        return members_apply_attr(s, index, req, req_len);
    case ENTRY_MEMBER_UPDATE:
        return membership_apply_update(s, id, index, req, req_len);
    default:
        fprintf(stderr, "coord: entry %llu has unknown type %d; skipped\n",
                (unsigned long long)index, type);
        wait_trigger(s->waits, id, COORD_ERR_INVALID_ARGUMENT, NULL);
        return commit_nothing(s, index);
    }
}
