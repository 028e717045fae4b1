/* libcoord's requests to protobuf and protobuf answers to libcoord's structs. */
#include "libcoord_internal.h"

#include "coord.pb.h"
#include "kv.pb.h"
#include "pbx.h"
#include "rpc.pb.h"

#include <stdlib.h>
#include <string.h>

/* Deeper nesting of transactions is refused rather than risking the stack. */
#define MAX_TXN_DEPTH 32

static pbx_bytes_t to_pb(coord_bytes b)
{
    return (pbx_bytes_t){b.ptr, b.len};
}

static coord_bytes from_pb(pbx_bytes_t b)
{
    return (coord_bytes){b.ptr, b.len};
}

static int encode(const pb_msgdesc_t *desc, const void *msg, uint8_t **out, size_t *len,
                  coord_error *err)
{
    if (pbx_encode_alloc(desc, msg, out, len) != 0)
        return lc_fail(err, COORD_INTERNAL, "cannot encode the request");
    return COORD_OK;
}

static void range_to_pb(const coord_range_req *r, etcdserverpb_RangeRequest *m)
{
    memset(m, 0, sizeof(*m));
    m->key = to_pb(r->key);
    m->range_end = to_pb(r->range_end);
    m->limit = r->limit;
    m->revision = r->revision;
    m->sort_order = (etcdserverpb_RangeRequest_SortOrder)r->sort_order;
    m->sort_target = (etcdserverpb_RangeRequest_SortTarget)r->sort_target;
    m->serializable = r->serializable;
    m->keys_only = r->keys_only;
    m->count_only = r->count_only;
    m->min_mod_revision = r->min_mod_revision;
    m->max_mod_revision = r->max_mod_revision;
    m->min_create_revision = r->min_create_revision;
    m->max_create_revision = r->max_create_revision;
}

static void put_to_pb(const coord_put_req *r, etcdserverpb_PutRequest *m)
{
    memset(m, 0, sizeof(*m));
    m->key = to_pb(r->key);
    m->value = to_pb(r->value);
    m->lease = r->lease;
    m->prev_kv = r->prev_kv;
    m->ignore_value = r->ignore_value;
    m->ignore_lease = r->ignore_lease;
}

static void delete_to_pb(const coord_delete_req *r, etcdserverpb_DeleteRangeRequest *m)
{
    memset(m, 0, sizeof(*m));
    m->key = to_pb(r->key);
    m->range_end = to_pb(r->range_end);
    m->prev_kv = r->prev_kv;
}

static int compare_to_pb(const coord_compare *c, etcdserverpb_Compare *m)
{
    memset(m, 0, sizeof(*m));
    m->result = (etcdserverpb_Compare_CompareResult)c->result;
    m->target = (etcdserverpb_Compare_CompareTarget)c->target;
    m->key = to_pb(c->key);
    m->range_end = to_pb(c->range_end);
    switch (c->target) {
    case COORD_CMP_VERSION:
        m->which_target_union = etcdserverpb_Compare_version_tag;
        m->target_union.version = c->number;
        return 0;
    case COORD_CMP_CREATE:
        m->which_target_union = etcdserverpb_Compare_create_revision_tag;
        m->target_union.create_revision = c->number;
        return 0;
    case COORD_CMP_MOD:
        m->which_target_union = etcdserverpb_Compare_mod_revision_tag;
        m->target_union.mod_revision = c->number;
        return 0;
    case COORD_CMP_VALUE:
        m->which_target_union = etcdserverpb_Compare_value_tag;
        m->target_union.value = to_pb(c->value);
        return 0;
    case COORD_CMP_LEASE:
        m->which_target_union = etcdserverpb_Compare_lease_tag;
        m->target_union.lease = c->number;
        return 0;
    }
    return -1;
}

static int txn_to_pb(const coord_txn_req *t, etcdserverpb_TxnRequest *m, coord_arena *tmp,
                     int depth, coord_error *err);

static int ops_to_pb(const coord_op *ops, size_t n, pbx_list_t *list, coord_arena *tmp, int depth,
                     coord_error *err)
{
    memset(list, 0, sizeof(*list));
    if (!n) return COORD_OK;
    etcdserverpb_RequestOp *items = lc_arena_alloc(tmp, n * sizeof(*items));
    if (!items) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        switch (ops[i].type) {
        case COORD_OP_RANGE:
            items[i].which_request = etcdserverpb_RequestOp_request_range_tag;
            range_to_pb(&ops[i].u.range, &items[i].request.request_range);
            break;
        case COORD_OP_PUT:
            items[i].which_request = etcdserverpb_RequestOp_request_put_tag;
            put_to_pb(&ops[i].u.put, &items[i].request.request_put);
            break;
        case COORD_OP_DELETE:
            items[i].which_request = etcdserverpb_RequestOp_request_delete_range_tag;
            delete_to_pb(&ops[i].u.del, &items[i].request.request_delete_range);
            break;
        case COORD_OP_TXN: {
            items[i].which_request = etcdserverpb_RequestOp_request_txn_tag;
            if (!ops[i].u.txn) return lc_fail(err, COORD_INVALID_ARGUMENT, "nested txn is NULL");
            int rc = txn_to_pb(ops[i].u.txn, &items[i].request.request_txn, tmp, depth + 1, err);
            if (rc != COORD_OK) return rc;
            break;
        }
        default:
            return lc_fail(err, COORD_INVALID_ARGUMENT, "unknown op type %d", (int)ops[i].type);
        }
    }
    list->items = items;
    list->count = n;
    return COORD_OK;
}

static int txn_to_pb(const coord_txn_req *t, etcdserverpb_TxnRequest *m, coord_arena *tmp,
                     int depth, coord_error *err)
{
    memset(m, 0, sizeof(*m));
    if (depth > MAX_TXN_DEPTH)
        return lc_fail(err, COORD_INVALID_ARGUMENT, "transactions nested too deep");
    if (t->n_compares) {
        etcdserverpb_Compare *cmps = lc_arena_alloc(tmp, t->n_compares * sizeof(*cmps));
        if (!cmps) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < t->n_compares; i++)
            if (compare_to_pb(&t->compares[i], &cmps[i]) != 0)
                return lc_fail(err, COORD_INVALID_ARGUMENT, "unknown compare target %d",
                               (int)t->compares[i].target);
        m->compare.items = cmps;
        m->compare.count = t->n_compares;
    }
    int rc = ops_to_pb(t->success, t->n_success, &m->success, tmp, depth, err);
    if (rc != COORD_OK) return rc;
    return ops_to_pb(t->failure, t->n_failure, &m->failure, tmp, depth, err);
}

int lc_encode_range(const coord_range_req *req, uint8_t **out, size_t *len, coord_error *err)
{
    etcdserverpb_RangeRequest m;
    range_to_pb(req, &m);
    return encode(&etcdserverpb_RangeRequest_msg, &m, out, len, err);
}

int lc_encode_put(const coord_put_req *req, uint8_t **out, size_t *len, coord_error *err)
{
    etcdserverpb_PutRequest m;
    put_to_pb(req, &m);
    return encode(&etcdserverpb_PutRequest_msg, &m, out, len, err);
}

int lc_encode_delete(const coord_delete_req *req, uint8_t **out, size_t *len, coord_error *err)
{
    etcdserverpb_DeleteRangeRequest m;
    delete_to_pb(req, &m);
    return encode(&etcdserverpb_DeleteRangeRequest_msg, &m, out, len, err);
}

int lc_encode_txn(const coord_txn_req *req, uint8_t **out, size_t *len, coord_error *err)
{
    coord_arena *tmp = lc_arena_new();
    if (!tmp) return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    etcdserverpb_TxnRequest m;
    int rc = txn_to_pb(req, &m, tmp, 0, err);
    if (rc == COORD_OK) rc = encode(&etcdserverpb_TxnRequest_msg, &m, out, len, err);
    lc_arena_free(tmp);
    return rc;
}

int lc_encode_compact(int64_t revision, bool physical, uint8_t **out, size_t *len, coord_error *err)
{
    etcdserverpb_CompactionRequest m = {0};
    m.revision = revision;
    m.physical = physical;
    return encode(&etcdserverpb_CompactionRequest_msg, &m, out, len, err);
}

int lc_encode_empty(uint8_t **out, size_t *len, coord_error *err)
{
    etcdserverpb_StatusRequest m = {0};
    return encode(&etcdserverpb_StatusRequest_msg, &m, out, len, err);
}

int lc_encode_list(const coord_list_req *req, uint8_t **out, size_t *len, coord_error *err)
{
    coordpb_ListRequest m = {0};
    m.dir = to_pb(req->dir);
    m.revision = req->revision;
    m.limit = req->limit;
    m.after = to_pb(req->after);
    m.serializable = req->serializable;
    m.keys_only = req->keys_only;
    return encode(&coordpb_ListRequest_msg, &m, out, len, err);
}

/* --- decoding ------------------------------------------------------------------------- */

/* Copies buf into a new arena and decodes msg from the copy (views point into it). */
static int decode(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len,
                  coord_arena **arena, coord_error *err)
{
    coord_arena *a = lc_arena_new();
    uint8_t *copy = a ? lc_arena_alloc(a, len ? len : 1) : NULL;
    if (!copy) {
        lc_arena_free(a);
        return lc_fail(err, COORD_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (len) memcpy(copy, buf, len);
    const char *why = "malformed";
    if (pbx_decode_why(desc, msg, copy, len, &why) != 0) {
        lc_arena_free(a);
        return lc_fail(err, COORD_INTERNAL, "cannot decode the response: %s", why);
    }
    *arena = a;
    return COORD_OK;
}

static void header_from_pb(const etcdserverpb_ResponseHeader *m, coord_header *h)
{
    h->cluster_id = m->cluster_id;
    h->member_id = m->member_id;
    h->revision = m->revision;
    h->raft_term = m->raft_term;
}

static void kv_from_pb(const mvccpb_KeyValue *m, coord_kv *kv)
{
    kv->key = from_pb(m->key);
    kv->value = from_pb(m->value);
    kv->create_revision = m->create_revision;
    kv->mod_revision = m->mod_revision;
    kv->version = m->version;
    kv->lease = m->lease;
}

static int kvs_from_pb(const pbx_list_t *list, coord_kv **kvs, size_t *n, coord_arena *a)
{
    *kvs = NULL;
    *n = 0;
    if (!list->count) return 0;
    coord_kv *out = lc_arena_alloc(a, list->count * sizeof(*out));
    if (!out) return -1;
    const mvccpb_KeyValue *items = list->items;
    for (size_t i = 0; i < list->count; i++) kv_from_pb(&items[i], &out[i]);
    *kvs = out;
    *n = list->count;
    return 0;
}

/* A NUL-terminated copy of a string field. */
static const char *text_from_pb(pbx_bytes_t b, coord_arena *a)
{
    char *s = lc_arena_alloc(a, b.len + 1);
    if (s && b.len) memcpy(s, b.ptr, b.len);
    return s;
}

static int texts_from_pb(const pbx_list_t *list, const char ***out, size_t *n, coord_arena *a)
{
    *out = NULL;
    *n = 0;
    if (!list->count) return 0;
    const char **texts = lc_arena_alloc(a, list->count * sizeof(*texts));
    if (!texts) return -1;
    const pbx_bytes_t *items = list->items;
    for (size_t i = 0; i < list->count; i++)
        if (!(texts[i] = text_from_pb(items[i], a))) return -1;
    *out = texts;
    *n = list->count;
    return 0;
}

static int range_from_pb(const etcdserverpb_RangeResponse *m, coord_range_resp *r, coord_arena *a)
{
    header_from_pb(&m->header, &r->header);
    r->more = m->more;
    r->count = m->count;
    return kvs_from_pb(&m->kvs, &r->kvs, &r->n_kvs, a);
}

static void put_from_pb(const etcdserverpb_PutResponse *m, coord_put_resp *r)
{
    header_from_pb(&m->header, &r->header);
    r->has_prev_kv = m->has_prev_kv;
    if (m->has_prev_kv) kv_from_pb(&m->prev_kv, &r->prev_kv);
}

static int delete_from_pb(const etcdserverpb_DeleteRangeResponse *m, coord_delete_resp *r,
                          coord_arena *a)
{
    header_from_pb(&m->header, &r->header);
    r->deleted = m->deleted;
    return kvs_from_pb(&m->prev_kvs, &r->prev_kvs, &r->n_prev_kvs, a);
}

static int txn_from_pb(const etcdserverpb_TxnResponse *m, coord_txn_resp *r, coord_arena *a,
                       int depth)
{
    if (depth > MAX_TXN_DEPTH) return -1;
    header_from_pb(&m->header, &r->header);
    r->succeeded = m->succeeded;
    if (!m->responses.count) return 0;
    coord_op_resp *ops = lc_arena_alloc(a, m->responses.count * sizeof(*ops));
    if (!ops) return -1;
    const etcdserverpb_ResponseOp *items = m->responses.items;
    for (size_t i = 0; i < m->responses.count; i++) {
        const etcdserverpb_ResponseOp *op = &items[i];
        switch (op->which_response) {
        case etcdserverpb_ResponseOp_response_range_tag:
            ops[i].type = COORD_OP_RANGE;
            if (range_from_pb(&op->response.response_range, &ops[i].u.range, a) != 0) return -1;
            break;
        case etcdserverpb_ResponseOp_response_put_tag:
            ops[i].type = COORD_OP_PUT;
            put_from_pb(&op->response.response_put, &ops[i].u.put);
            break;
        case etcdserverpb_ResponseOp_response_delete_range_tag:
            ops[i].type = COORD_OP_DELETE;
            if (delete_from_pb(&op->response.response_delete_range, &ops[i].u.del, a) != 0)
                return -1;
            break;
        case etcdserverpb_ResponseOp_response_txn_tag:
            ops[i].type = COORD_OP_TXN;
            ops[i].u.txn = lc_arena_alloc(a, sizeof(coord_txn_resp));
            if (!ops[i].u.txn ||
                txn_from_pb(&op->response.response_txn, ops[i].u.txn, a, depth + 1) != 0)
                return -1;
            break;
        default:
            return -1; /* an empty ResponseOp answers nothing we asked */
        }
    }
    r->responses = ops;
    r->n_responses = m->responses.count;
    return 0;
}

/* The common tail of every decoder: on a conversion failure nothing is kept. */
static int finish(int converted, const pb_msgdesc_t *desc, void *msg, coord_arena *a,
                  coord_arena **owner, void *resp, size_t resp_size, coord_error *err)
{
    pbx_release(desc, msg);
    if (converted != 0) {
        lc_arena_free(a);
        memset(resp, 0, resp_size);
        return lc_fail(err, COORD_INTERNAL,
                       "cannot convert the response (out of memory or "
                       "unexpected content)");
    }
    *owner = a;
    return COORD_OK;
}

int lc_decode_range(const uint8_t *buf, size_t len, coord_range_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_RangeResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_RangeResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    return finish(range_from_pb(&m, resp, a), &etcdserverpb_RangeResponse_msg, &m, a, &resp->arena,
                  resp, sizeof(*resp), err);
}

int lc_decode_put(const uint8_t *buf, size_t len, coord_put_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_PutResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_PutResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    put_from_pb(&m, resp);
    return finish(0, &etcdserverpb_PutResponse_msg, &m, a, &resp->arena, resp, sizeof(*resp), err);
}

int lc_decode_delete(const uint8_t *buf, size_t len, coord_delete_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_DeleteRangeResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_DeleteRangeResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    return finish(delete_from_pb(&m, resp, a), &etcdserverpb_DeleteRangeResponse_msg, &m, a,
                  &resp->arena, resp, sizeof(*resp), err);
}

int lc_decode_txn(const uint8_t *buf, size_t len, coord_txn_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_TxnResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_TxnResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    return finish(txn_from_pb(&m, resp, a, 0), &etcdserverpb_TxnResponse_msg, &m, a, &resp->arena,
                  resp, sizeof(*resp), err);
}

int lc_decode_compact(const uint8_t *buf, size_t len, coord_header *header, coord_error *err)
{
    etcdserverpb_CompactionResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_CompactionResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    if (header) header_from_pb(&m.header, header);
    pbx_release(&etcdserverpb_CompactionResponse_msg, &m);
    lc_arena_free(a);
    return COORD_OK;
}

static int status_from_pb(const etcdserverpb_StatusResponse *m, coord_status_resp *r,
                          coord_arena *a)
{
    header_from_pb(&m->header, &r->header);
    r->version = text_from_pb(m->version, a);
    r->db_size = m->dbSize;
    r->leader = m->leader;
    r->raft_index = m->raftIndex;
    r->raft_term = m->raftTerm;
    r->raft_applied_index = m->raftAppliedIndex;
    r->db_size_in_use = m->dbSizeInUse;
    r->is_learner = m->isLearner;
    if (!r->version) return -1;
    return texts_from_pb(&m->errors, &r->errors, &r->n_errors, a);
}

int lc_decode_status(const uint8_t *buf, size_t len, coord_status_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_StatusResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_StatusResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    return finish(status_from_pb(&m, resp, a), &etcdserverpb_StatusResponse_msg, &m, a,
                  &resp->arena, resp, sizeof(*resp), err);
}

static int members_from_pb(const etcdserverpb_MemberListResponse *m, coord_member_list_resp *r,
                           coord_arena *a)
{
    header_from_pb(&m->header, &r->header);
    if (!m->members.count) return 0;
    coord_member *out = lc_arena_alloc(a, m->members.count * sizeof(*out));
    if (!out) return -1;
    const etcdserverpb_Member *items = m->members.items;
    for (size_t i = 0; i < m->members.count; i++) {
        out[i].id = items[i].ID;
        out[i].is_learner = items[i].isLearner;
        if (!(out[i].name = text_from_pb(items[i].name, a))) return -1;
        if (texts_from_pb(&items[i].peerURLs, &out[i].peer_urls, &out[i].n_peer_urls, a) != 0 ||
            texts_from_pb(&items[i].clientURLs, &out[i].client_urls, &out[i].n_client_urls, a) != 0)
            return -1;
    }
    r->members = out;
    r->n_members = m->members.count;
    return 0;
}

int lc_decode_member_list(const uint8_t *buf, size_t len, coord_member_list_resp *resp,
                          coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    etcdserverpb_MemberListResponse m;
    coord_arena *a = NULL;
    int rc = decode(&etcdserverpb_MemberListResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    return finish(members_from_pb(&m, resp, a), &etcdserverpb_MemberListResponse_msg, &m, a,
                  &resp->arena, resp, sizeof(*resp), err);
}

static int children_from_pb(const coordpb_ListResponse *m, coord_list_resp *r, coord_arena *a)
{
    header_from_pb(&m->header, &r->header);
    r->more = m->more;
    if (!m->children.count) return 0;
    coord_child *out = lc_arena_alloc(a, m->children.count * sizeof(*out));
    if (!out) return -1;
    const coordpb_Child *items = m->children.items;
    for (size_t i = 0; i < m->children.count; i++) {
        out[i].key = from_pb(items[i].key);
        out[i].has_children = items[i].has_children;
        out[i].has_kv = items[i].has_kv;
        if (items[i].has_kv) kv_from_pb(&items[i].kv, &out[i].kv);
    }
    r->children = out;
    r->n_children = m->children.count;
    return 0;
}

int lc_decode_list(const uint8_t *buf, size_t len, coord_list_resp *resp, coord_error *err)
{
    memset(resp, 0, sizeof(*resp));
    coordpb_ListResponse m;
    coord_arena *a = NULL;
    int rc = decode(&coordpb_ListResponse_msg, &m, buf, len, &a, err);
    if (rc != COORD_OK) return rc;
    return finish(children_from_pb(&m, resp, a), &coordpb_ListResponse_msg, &m, a, &resp->arena,
                  resp, sizeof(*resp), err);
}
