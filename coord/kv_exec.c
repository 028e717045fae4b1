#include "kv_exec.h"

#include <stdlib.h>
#include <string.h>

/* RocksDB data seen by a visitor dies when it returns: every kv a response keeps is copied. */
static int copy_kv(arena *mem, const mvcc_kv *kv, bool keys_only, mvccpb_KeyValue *out)
{
    memset(out, 0, sizeof(*out));
    out->key.ptr = arena_memdup(mem, kv->key, kv->key_len);
    out->key.len = kv->key_len;
    if (!out->key.ptr) return -1;
    if (!keys_only && kv->value_len) {
        out->value.ptr = arena_memdup(mem, kv->value, kv->value_len);
        if (!out->value.ptr) return -1;
        out->value.len = kv->value_len;
    }
    out->create_revision = kv->create_revision;
    out->mod_revision = kv->mod_revision;
    out->version = kv->version;
    out->lease = kv->lease;
    return 0;
}

void kv_exec_init(kv_exec *x, mvcc *store, mvcc_txn *txn, arena *mem, bool write)
{
    memset(x, 0, sizeof(*x));
    x->store = store;
    x->txn = txn;
    x->mem = mem;
    x->write = write;
    x->begin_rev = mvcc_txn_rev(txn);
}

static coord_err from_mvcc(int rc)
{
    switch (rc) {
    case MVCC_OK:
        return COORD_OK;
    case MVCC_ERR_COMPACTED:
        return COORD_ERR_COMPACTED;
    case MVCC_ERR_FUTURE_REV:
        return COORD_ERR_FUTURE_REV;
    default:
        return COORD_ERR_INTERNAL;
    }
}

/* ---------------------------------------------------------------- Range ------------------ */

/* A growing array of copied kvs, in the arena's memory when done. */
struct kv_vec {
    mvccpb_KeyValue *v;
    size_t n, cap;
};

static int kv_vec_push(struct kv_vec *vec, arena *mem, const mvcc_kv *kv, bool keys_only)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        mvccpb_KeyValue *nv = realloc(vec->v, cap * sizeof(*nv));
        if (!nv) return -1;
        vec->v = nv;
        vec->cap = cap;
    }
    return copy_kv(mem, kv, keys_only, &vec->v[vec->n++]);
}

struct range_visit {
    const etcdserverpb_RangeRequest *r;
    arena *mem;
    struct kv_vec kvs;
    int64_t fetch_limit; /* stop keeping kvs past this many (0: keep all) */
    int64_t total;       /* keys in range, whatever the limit */
};

static int range_visit_fn(void *arg, const mvcc_kv *kv)
{
    struct range_visit *v = arg;
    v->total++;
    if (v->r->count_only) return 0;
    if (v->fetch_limit > 0 && (int64_t)v->kvs.n >= v->fetch_limit) return 0;
    /* Values are dropped only at the end (keys_only), but sorting by value needs them. */
    if (kv_vec_push(&v->kvs, v->mem, kv, false) != 0) return MVCC_ERR_NOMEM;
    return 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_bytes(pbx_bytes_t a, pbx_bytes_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return cmp_i64((int64_t)a.len, (int64_t)b.len);
}

static int cmp_kv_target(const mvccpb_KeyValue *a, const mvccpb_KeyValue *b,
                         etcdserverpb_RangeRequest_SortTarget target)
{
    switch (target) {
    case etcdserverpb_RangeRequest_SortTarget_VERSION:
        return cmp_i64(a->version, b->version);
    case etcdserverpb_RangeRequest_SortTarget_CREATE:
        return cmp_i64(a->create_revision, b->create_revision);
    case etcdserverpb_RangeRequest_SortTarget_MOD:
        return cmp_i64(a->mod_revision, b->mod_revision);
    case etcdserverpb_RangeRequest_SortTarget_VALUE:
        return cmp_bytes(a->value, b->value);
    case etcdserverpb_RangeRequest_SortTarget_KEY:
    default:
        return cmp_bytes(a->key, b->key);
    }
}

struct sort_spec {
    etcdserverpb_RangeRequest_SortTarget target;
    bool descend;
};

/* Ties keep key order in both directions, as etcd's (stable, for small results) sort of a
 * key-ordered list does, and so the order is the same on every member and every run. */
static int cmp_kv_by(const void *pa, const void *pb, void *arg)
{
    const mvccpb_KeyValue *a = pa, *b = pb;
    const struct sort_spec *spec = arg;
    int c = cmp_kv_target(a, b, spec->target);
    if (spec->descend) c = -c;
    return c ? c : cmp_bytes(a->key, b->key);
}

static void reverse_kvs(mvccpb_KeyValue *v, size_t n)
{
    for (size_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
        mvccpb_KeyValue t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static bool kv_filtered_out(const etcdserverpb_RangeRequest *r, const mvccpb_KeyValue *kv)
{
    if (r->max_mod_revision != 0 && kv->mod_revision > r->max_mod_revision) return true;
    if (r->min_mod_revision != 0 && kv->mod_revision < r->min_mod_revision) return true;
    if (r->max_create_revision != 0 && kv->create_revision > r->max_create_revision) return true;
    if (r->min_create_revision != 0 && kv->create_revision < r->min_create_revision) return true;
    return false;
}

/* The revision reads of this txn see: a write txn that already changed something reads its own
 * writes at begin + 1. */
static int64_t read_rev(const kv_exec *x)
{
    return x->begin_rev + (x->changed ? 1 : 0);
}

coord_err kv_exec_range(kv_exec *x, const etcdserverpb_RangeRequest *r,
                        etcdserverpb_RangeResponse *out)
{
    memset(out, 0, sizeof(*out));
    struct range_visit v = {.r = r, .mem = x->mem};
    /* etcd fetches everything when it must sort by an explicit order or filter, else one more
     * than the limit to learn `more`. (A sort target with order NONE sorts what was fetched.) */
    bool fetch_all = r->sort_order != etcdserverpb_RangeRequest_SortOrder_NONE ||
                     r->min_mod_revision || r->max_mod_revision || r->min_create_revision ||
                     r->max_create_revision;
    if (!fetch_all && r->limit > 0) v.fetch_limit = r->limit + 1;
    int64_t rev = r->revision > 0 ? r->revision : 0;
    if (x->write && rev > read_rev(x)) return COORD_ERR_FUTURE_REV;
    int rc = mvcc_txn_range(x->txn, r->key.ptr, r->key.len, r->range_end.ptr, r->range_end.len, rev,
                            range_visit_fn, &v);
    if (rc != MVCC_OK) {
        free(v.kvs.v);
        return rc == MVCC_ERR_NOMEM ? COORD_ERR_INTERNAL : from_mvcc(rc);
    }
    size_t n = 0;
    for (size_t i = 0; i < v.kvs.n; i++)
        if (!kv_filtered_out(r, &v.kvs.v[i])) v.kvs.v[n++] = v.kvs.v[i];
    v.kvs.n = n;
    etcdserverpb_RangeRequest_SortOrder order = r->sort_order;
    if (r->sort_target != etcdserverpb_RangeRequest_SortTarget_KEY &&
        order == etcdserverpb_RangeRequest_SortOrder_NONE)
        order = etcdserverpb_RangeRequest_SortOrder_ASCEND;
    if (order != etcdserverpb_RangeRequest_SortOrder_NONE) {
        struct sort_spec spec = {r->sort_target,
                                 order == etcdserverpb_RangeRequest_SortOrder_DESCEND};
        if (spec.target == etcdserverpb_RangeRequest_SortTarget_KEY && spec.descend)
            reverse_kvs(v.kvs.v, v.kvs.n); /* keys are unique: no ties to keep */
        else if (v.kvs.n > 1) /* an empty result has no array: qsort_r must not see NULL */
            qsort_r(v.kvs.v, v.kvs.n, sizeof(mvccpb_KeyValue), cmp_kv_by, &spec);
    }
    if (r->limit > 0 && (int64_t)v.kvs.n > r->limit) {
        v.kvs.n = (size_t)r->limit;
        out->more = true;
    }
    if (r->keys_only)
        for (size_t i = 0; i < v.kvs.n; i++) v.kvs.v[i].value = (pbx_bytes_t){0};
    /* The array moves into the arena so the response owns nothing of its own. */
    if (v.kvs.n) {
        out->kvs.items = arena_memdup(x->mem, v.kvs.v, v.kvs.n * sizeof(mvccpb_KeyValue));
        if (!out->kvs.items) {
            free(v.kvs.v);
            return COORD_ERR_INTERNAL;
        }
        out->kvs.count = v.kvs.n;
    }
    free(v.kvs.v);
    out->count = v.total;
    out->has_header = true;
    out->header.revision = x->write ? read_rev(x) : mvcc_txn_rev(x->txn);
    return COORD_OK;
}

/* ---------------------------------------------------------------- Put, Delete ------------ */

static int note_old_lease(void *arg, const mvcc_kv *kv)
{
    *(int64_t *)arg = kv->lease;
    return 0;
}

coord_err kv_exec_put(kv_exec *x, const etcdserverpb_PutRequest *r, etcdserverpb_PutResponse *out)
{
    memset(out, 0, sizeof(*out));
    mvcc_kv cur;
    bool found = false;
    const uint8_t *value = r->value.ptr;
    size_t value_len = r->value.len;
    int64_t lease = r->lease;
    if (r->ignore_value || r->ignore_lease || r->prev_kv) {
        if (mvcc_txn_get(x->txn, r->key.ptr, r->key.len, &cur, &found) != MVCC_OK)
            return COORD_ERR_INTERNAL;
    }
    if ((r->ignore_value || r->ignore_lease) && !found) return COORD_ERR_KEY_NOT_FOUND;
    if (r->ignore_lease) lease = cur.lease;
    if (lease != 0 && (!x->lease_exists || !x->lease_exists(x->lease_arg, lease)))
        return COORD_ERR_LEASE_NOT_FOUND;
    if (found && r->prev_kv) {
        if (copy_kv(x->mem, &cur, false, &out->prev_kv) != 0) return COORD_ERR_INTERNAL;
        out->has_prev_kv = true;
    }
    if (r->ignore_value) {
        /* The current value's view may not outlive the next store call: copy it first. */
        value = cur.value_len ? arena_memdup(x->mem, cur.value, cur.value_len) : NULL;
        value_len = cur.value_len;
        if (cur.value_len && !value) return COORD_ERR_INTERNAL;
    }
    int64_t old_lease = 0;
    if (mvcc_txn_put(x->txn, r->key.ptr, r->key.len, value, value_len, lease,
                     x->lease_moved ? note_old_lease : NULL, &old_lease) != MVCC_OK)
        return COORD_ERR_INTERNAL;
    if (x->lease_moved && old_lease != lease &&
        x->lease_moved(x->lease_arg, r->key.ptr, r->key.len, old_lease, lease) != 0)
        return COORD_ERR_INTERNAL;
    x->changed = true;
    out->has_header = true;
    out->header.revision = x->begin_rev + 1;
    return COORD_OK;
}

struct del_visit {
    kv_exec *x;
    bool want_prev;
    struct kv_vec prev;
};

static int del_visit_fn(void *arg, const mvcc_kv *kv)
{
    struct del_visit *d = arg;
    if (d->want_prev && kv_vec_push(&d->prev, d->x->mem, kv, false) != 0) return MVCC_ERR_NOMEM;
    if (kv->lease != 0 && d->x->lease_moved &&
        d->x->lease_moved(d->x->lease_arg, kv->key, kv->key_len, kv->lease, 0) != 0)
        return MVCC_ERR_NOMEM;
    return 0;
}

coord_err kv_exec_delete_range(kv_exec *x, const etcdserverpb_DeleteRangeRequest *r,
                               etcdserverpb_DeleteRangeResponse *out)
{
    memset(out, 0, sizeof(*out));
    struct del_visit d = {.x = x, .want_prev = r->prev_kv};
    int64_t deleted = 0;
    int rc = mvcc_txn_delete_range(x->txn, r->key.ptr, r->key.len, r->range_end.ptr,
                                   r->range_end.len, del_visit_fn, &d, &deleted);
    if (rc != MVCC_OK) {
        free(d.prev.v);
        return COORD_ERR_INTERNAL;
    }
    if (deleted > 0) x->changed = true;
    if (d.prev.n) {
        out->prev_kvs.items = arena_memdup(x->mem, d.prev.v, d.prev.n * sizeof(mvccpb_KeyValue));
        out->prev_kvs.count = d.prev.n;
        if (!out->prev_kvs.items) {
            free(d.prev.v);
            return COORD_ERR_INTERNAL;
        }
    }
    free(d.prev.v);
    out->deleted = deleted;
    out->has_header = true;
    out->header.revision = x->changed ? x->begin_rev + 1 : x->begin_rev;
    return COORD_OK;
}

/* ---------------------------------------------------------------- Txn -------------------- */

static const etcdserverpb_RequestOp *ops_of(const pbx_list_t *l)
{
    return (const etcdserverpb_RequestOp *)l->items;
}

struct compare_visit {
    const etcdserverpb_Compare *c;
    bool any;
    bool ok;
};

static bool compare_kv(const etcdserverpb_Compare *c, const mvccpb_KeyValue *kv)
{
    int result = 0;
    int64_t want = 0;
    switch (c->target) {
    case etcdserverpb_Compare_CompareTarget_VALUE: {
        pbx_bytes_t v = {0};
        if (c->which_target_union == etcdserverpb_Compare_value_tag) v = c->target_union.value;
        result = cmp_bytes(kv->value, v);
        break;
    }
    case etcdserverpb_Compare_CompareTarget_CREATE:
        if (c->which_target_union == etcdserverpb_Compare_create_revision_tag)
            want = c->target_union.create_revision;
        result = cmp_i64(kv->create_revision, want);
        break;
    case etcdserverpb_Compare_CompareTarget_MOD:
        if (c->which_target_union == etcdserverpb_Compare_mod_revision_tag)
            want = c->target_union.mod_revision;
        result = cmp_i64(kv->mod_revision, want);
        break;
    case etcdserverpb_Compare_CompareTarget_VERSION:
        if (c->which_target_union == etcdserverpb_Compare_version_tag)
            want = c->target_union.version;
        result = cmp_i64(kv->version, want);
        break;
    case etcdserverpb_Compare_CompareTarget_LEASE:
        if (c->which_target_union == etcdserverpb_Compare_lease_tag) want = c->target_union.lease;
        result = cmp_i64(kv->lease, want);
        break;
    default:
        break;
    }
    switch (c->result) {
    case etcdserverpb_Compare_CompareResult_EQUAL:
        return result == 0;
    case etcdserverpb_Compare_CompareResult_NOT_EQUAL:
        return result != 0;
    case etcdserverpb_Compare_CompareResult_GREATER:
        return result > 0;
    case etcdserverpb_Compare_CompareResult_LESS:
        return result < 0;
    default:
        return true;
    }
}

static int compare_visit_fn(void *arg, const mvcc_kv *kv)
{
    struct compare_visit *v = arg;
    v->any = true;
    mvccpb_KeyValue k = {
        .key = {kv->key, kv->key_len},
        .value = {kv->value, kv->value_len},
        .create_revision = kv->create_revision,
        .mod_revision = kv->mod_revision,
        .version = kv->version,
        .lease = kv->lease,
    };
    if (!compare_kv(v->c, &k)) {
        v->ok = false;
        return 1;
    }
    return 0;
}

/* A compare holds for every key of its range; with no key, a value compare fails and the others
 * compare against zeros. */
static int compare_holds(kv_exec *x, const etcdserverpb_Compare *c, bool *holds)
{
    struct compare_visit v = {.c = c, .ok = true};
    int rc = mvcc_txn_range(x->txn, c->key.ptr, c->key.len, c->range_end.ptr, c->range_end.len, 0,
                            compare_visit_fn, &v);
    if (rc < 0) return rc;
    if (!v.any) {
        mvccpb_KeyValue zero = {0};
        *holds = c->target != etcdserverpb_Compare_CompareTarget_VALUE && compare_kv(c, &zero);
    } else {
        *holds = v.ok;
    }
    return 0;
}

/* The branch taken by each txn on the path, in pre-order (the outer txn first), all decided
 * against the state before any op runs. */
struct txn_path {
    bool *taken;
    size_t n, cap;
};

static int path_decide(kv_exec *x, const etcdserverpb_TxnRequest *r, struct txn_path *p)
{
    bool ok = true;
    const etcdserverpb_Compare *cmps = r->compare.items;
    for (size_t i = 0; i < r->compare.count && ok; i++)
        if (compare_holds(x, &cmps[i], &ok) != 0) return -1;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        bool *nt = realloc(p->taken, cap * sizeof(*nt));
        if (!nt) return -1;
        p->taken = nt;
        p->cap = cap;
    }
    p->taken[p->n++] = ok;
    const pbx_list_t *ops = ok ? &r->success : &r->failure;
    for (size_t i = 0; i < ops->count; i++)
        if (ops_of(ops)[i].which_request == etcdserverpb_RequestOp_request_txn_tag &&
            path_decide(x, &ops_of(ops)[i].request.request_txn, p) != 0)
            return -1;
    return 0;
}

/* etcd checks the taken path's puts (lease, ignore_*), then its ranges (revisions), against the
 * state before the txn, so that a failing op fails the txn before anything is written. */
static coord_err path_check(kv_exec *x, const etcdserverpb_TxnRequest *r, const bool *taken,
                            size_t *pos, bool ranges)
{
    const pbx_list_t *ops = taken[(*pos)++] ? &r->success : &r->failure;
    for (size_t i = 0; i < ops->count; i++) {
        const etcdserverpb_RequestOp *op = &ops_of(ops)[i];
        coord_err e = COORD_OK;
        if (op->which_request == etcdserverpb_RequestOp_request_txn_tag) {
            e = path_check(x, &op->request.request_txn, taken, pos, ranges);
        } else if (!ranges && op->which_request == etcdserverpb_RequestOp_request_put_tag) {
            const etcdserverpb_PutRequest *p = &op->request.request_put;
            if (p->ignore_value || p->ignore_lease) {
                mvcc_kv cur;
                bool found = false;
                if (mvcc_txn_get(x->txn, p->key.ptr, p->key.len, &cur, &found) != MVCC_OK)
                    return COORD_ERR_INTERNAL;
                if (!found) e = COORD_ERR_KEY_NOT_FOUND;
            }
            if (e == COORD_OK && p->lease != 0 &&
                (!x->lease_exists || !x->lease_exists(x->lease_arg, p->lease)))
                e = COORD_ERR_LEASE_NOT_FOUND;
        } else if (ranges && op->which_request == etcdserverpb_RequestOp_request_range_tag) {
            int64_t rev = op->request.request_range.revision;
            if (rev > x->begin_rev)
                e = COORD_ERR_FUTURE_REV;
            else if (rev > 0 && rev < mvcc_compacted_rev(x->store))
                e = COORD_ERR_COMPACTED;
        }
        if (e != COORD_OK) return e;
    }
    return COORD_OK;
}

static coord_err path_run(kv_exec *x, const etcdserverpb_TxnRequest *r, const bool *taken,
                          size_t *pos, etcdserverpb_TxnResponse *out)
{
    memset(out, 0, sizeof(*out));
    out->succeeded = taken[(*pos)++];
    const pbx_list_t *ops = out->succeeded ? &r->success : &r->failure;
    etcdserverpb_ResponseOp *resps = NULL;
    if (ops->count) {
        resps = arena_alloc(x->mem, ops->count * sizeof(*resps));
        if (!resps) return COORD_ERR_INTERNAL;
        memset(resps, 0, ops->count * sizeof(*resps));
    }
    for (size_t i = 0; i < ops->count; i++) {
        const etcdserverpb_RequestOp *op = &ops_of(ops)[i];
        etcdserverpb_ResponseOp *ro = &resps[i];
        coord_err e;
        switch (op->which_request) {
        case etcdserverpb_RequestOp_request_range_tag:
            ro->which_response = etcdserverpb_ResponseOp_response_range_tag;
            e = kv_exec_range(x, &op->request.request_range, &ro->response.response_range);
            break;
        case etcdserverpb_RequestOp_request_put_tag:
            ro->which_response = etcdserverpb_ResponseOp_response_put_tag;
            e = kv_exec_put(x, &op->request.request_put, &ro->response.response_put);
            break;
        case etcdserverpb_RequestOp_request_delete_range_tag:
            ro->which_response = etcdserverpb_ResponseOp_response_delete_range_tag;
            e = kv_exec_delete_range(x, &op->request.request_delete_range,
                                     &ro->response.response_delete_range);
            break;
        case etcdserverpb_RequestOp_request_txn_tag:
            ro->which_response = etcdserverpb_ResponseOp_response_txn_tag;
            e = path_run(x, &op->request.request_txn, taken, pos, &ro->response.response_txn);
            /* etcd answers a nested txn with an empty header. */
            if (e == COORD_OK) ro->response.response_txn.has_header = true;
            break;
        default:
            e = COORD_ERR_KEY_NOT_FOUND;
            break;
        }
        if (e != COORD_OK) return e;
    }
    out->responses.items = resps;
    out->responses.count = ops->count;
    return COORD_OK;
}

coord_err kv_exec_txn(kv_exec *x, const etcdserverpb_TxnRequest *r, etcdserverpb_TxnResponse *out)
{
    struct txn_path path = {0};
    coord_err e = COORD_OK;
    if (path_decide(x, r, &path) != 0) {
        e = COORD_ERR_INTERNAL;
        goto done_free_path;
    }
    size_t pos = 0;
    if ((e = path_check(x, r, path.taken, &pos, false)) != COORD_OK) goto done_free_path;
    pos = 0;
    if ((e = path_check(x, r, path.taken, &pos, true)) != COORD_OK) goto done_free_path;
    pos = 0;
    if ((e = path_run(x, r, path.taken, &pos, out)) != COORD_OK) goto done_free_path;
    out->has_header = true;
    out->header.revision = read_rev(x);
done_free_path:
    free(path.taken);
    return e;
}

static bool ops_read_only(const pbx_list_t *ops)
{
    for (size_t i = 0; i < ops->count; i++) {
        const etcdserverpb_RequestOp *op = &ops_of(ops)[i];
        switch (op->which_request) {
        case etcdserverpb_RequestOp_request_range_tag:
            break;
        case etcdserverpb_RequestOp_request_txn_tag:
            if (!kv_txn_is_read_only(&op->request.request_txn)) return false;
            break;
        default:
            return false;
        }
    }
    return true;
}

bool kv_txn_is_read_only(const etcdserverpb_TxnRequest *r)
{
    return ops_read_only(&r->success) && ops_read_only(&r->failure);
}

/* ---------------------------------------------------------------- checks ----------------- */

coord_err kv_check_range(const etcdserverpb_RangeRequest *r)
{
    return r->key.len == 0 ? COORD_ERR_EMPTY_KEY : COORD_OK;
}

coord_err kv_check_put(const etcdserverpb_PutRequest *r)
{
    if (r->key.len == 0) return COORD_ERR_EMPTY_KEY;
    if (r->ignore_value && r->value.len != 0) return COORD_ERR_VALUE_PROVIDED;
    if (r->ignore_lease && r->lease != 0) return COORD_ERR_LEASE_PROVIDED;
    return COORD_OK;
}

coord_err kv_check_delete_range(const etcdserverpb_DeleteRangeRequest *r)
{
    return r->key.len == 0 ? COORD_ERR_EMPTY_KEY : COORD_OK;
}

static coord_err check_txn_ops(const etcdserverpb_TxnRequest *r, int64_t max_ops);

static coord_err check_op(const etcdserverpb_RequestOp *op, int64_t max_ops)
{
    switch (op->which_request) {
    case etcdserverpb_RequestOp_request_range_tag:
        return kv_check_range(&op->request.request_range);
    case etcdserverpb_RequestOp_request_put_tag:
        return kv_check_put(&op->request.request_put);
    case etcdserverpb_RequestOp_request_delete_range_tag:
        return kv_check_delete_range(&op->request.request_delete_range);
    case etcdserverpb_RequestOp_request_txn_tag:
        return check_txn_ops(&op->request.request_txn, max_ops);
    default:
        return COORD_ERR_KEY_NOT_FOUND; /* an op with nothing set, as etcd answers it */
    }
}

/* Nested txns share the op budget: each level gets what the levels above left. */
static coord_err check_txn_ops(const etcdserverpb_TxnRequest *r, int64_t max_ops)
{
    size_t opc = r->compare.count;
    if (opc < r->success.count) opc = r->success.count;
    if (opc < r->failure.count) opc = r->failure.count;
    if ((int64_t)opc > max_ops) return COORD_ERR_TOO_MANY_OPS;
    const etcdserverpb_Compare *cmps = r->compare.items;
    for (size_t i = 0; i < r->compare.count; i++)
        if (cmps[i].key.len == 0) return COORD_ERR_EMPTY_KEY;
    coord_err e;
    for (size_t i = 0; i < r->success.count; i++)
        if ((e = check_op(&ops_of(&r->success)[i], max_ops - (int64_t)opc)) != COORD_OK) return e;
    for (size_t i = 0; i < r->failure.count; i++)
        if ((e = check_op(&ops_of(&r->failure)[i], max_ops - (int64_t)opc)) != COORD_OK) return e;
    return COORD_OK;
}

/* Keys put and ranges deleted by one branch, for the duplicate-key rule. */
struct key_set {
    pbx_bytes_t *puts;
    size_t n_puts, cap_puts;
    pbx_bytes_t *del_lo, *del_hi; /* del_hi.len == 0: the single key del_lo */
    size_t n_dels, cap_dels;
};

static void key_set_free(struct key_set *s)
{
    free(s->puts);
    free(s->del_lo);
    free(s->del_hi);
    memset(s, 0, sizeof(*s));
}

static int key_set_add_put(struct key_set *s, pbx_bytes_t k)
{
    if (s->n_puts == s->cap_puts) {
        size_t cap = s->cap_puts ? s->cap_puts * 2 : 8;
        pbx_bytes_t *np = realloc(s->puts, cap * sizeof(*np));
        if (!np) return -1;
        s->puts = np;
        s->cap_puts = cap;
    }
    s->puts[s->n_puts++] = k;
    return 0;
}

static int key_set_add_del(struct key_set *s, pbx_bytes_t lo, pbx_bytes_t hi)
{
    if (s->n_dels == s->cap_dels) {
        size_t cap = s->cap_dels ? s->cap_dels * 2 : 8;
        pbx_bytes_t *nl = realloc(s->del_lo, cap * sizeof(*nl));
        if (!nl) return -1;
        s->del_lo = nl;
        pbx_bytes_t *nh = realloc(s->del_hi, cap * sizeof(*nh));
        if (!nh) return -1;
        s->del_hi = nh;
        s->cap_dels = cap;
    }
    s->del_lo[s->n_dels] = lo;
    s->del_hi[s->n_dels++] = hi;
    return 0;
}

static bool bytes_eq(pbx_bytes_t a, pbx_bytes_t b)
{
    return cmp_bytes(a, b) == 0;
}

static bool has_put(const struct key_set *s, pbx_bytes_t k)
{
    for (size_t i = 0; i < s->n_puts; i++)
        if (bytes_eq(s->puts[i], k)) return true;
    return false;
}

static bool deleted_by(const struct key_set *s, pbx_bytes_t k)
{
    for (size_t i = 0; i < s->n_dels; i++) {
        pbx_bytes_t lo = s->del_lo[i], hi = s->del_hi[i];
        if (hi.len == 0) {
            if (bytes_eq(lo, k)) return true;
        } else if (cmp_bytes(k, lo) >= 0 &&
                   ((hi.len == 1 && hi.ptr[0] == 0) || cmp_bytes(k, hi) < 0)) {
            return true;
        }
    }
    return false;
}

/* etcd's rule: within one branch (and what its nested txns may do), a key is put at most once
 * and never put where the same level or a level around it deletes; then/else of one nested txn
 * exclude each other, so they may put the same key. */
static coord_err check_intervals(const pbx_list_t *ops, struct key_set *out)
{
    coord_err e = COORD_OK;
    for (size_t i = 0; i < ops->count; i++) {
        const etcdserverpb_RequestOp *op = &ops_of(ops)[i];
        if (op->which_request != etcdserverpb_RequestOp_request_delete_range_tag) continue;
        const etcdserverpb_DeleteRangeRequest *d = &op->request.request_delete_range;
        if (key_set_add_del(out, d->key, d->range_end) != 0) return COORD_ERR_INTERNAL;
    }
    for (size_t i = 0; i < ops->count && e == COORD_OK; i++) {
        const etcdserverpb_RequestOp *op = &ops_of(ops)[i];
        if (op->which_request != etcdserverpb_RequestOp_request_txn_tag) continue;
        struct key_set then_s = {0}, else_s = {0};
        if ((e = check_intervals(&op->request.request_txn.success, &then_s)) == COORD_OK &&
            (e = check_intervals(&op->request.request_txn.failure, &else_s)) == COORD_OK) {
            for (size_t j = 0; j < then_s.n_puts && e == COORD_OK; j++) {
                if (has_put(out, then_s.puts[j]) || deleted_by(out, then_s.puts[j]))
                    e = COORD_ERR_DUPLICATE_KEY;
                else if (key_set_add_put(out, then_s.puts[j]) != 0)
                    e = COORD_ERR_INTERNAL;
            }
            for (size_t j = 0; j < else_s.n_puts && e == COORD_OK; j++) {
                pbx_bytes_t k = else_s.puts[j];
                if ((has_put(out, k) && !has_put(&then_s, k)) || deleted_by(out, k))
                    e = COORD_ERR_DUPLICATE_KEY;
                else if (key_set_add_put(out, k) != 0)
                    e = COORD_ERR_INTERNAL;
            }
            for (size_t j = 0; j < then_s.n_dels && e == COORD_OK; j++)
                if (key_set_add_del(out, then_s.del_lo[j], then_s.del_hi[j]) != 0)
                    e = COORD_ERR_INTERNAL;
            for (size_t j = 0; j < else_s.n_dels && e == COORD_OK; j++)
                if (key_set_add_del(out, else_s.del_lo[j], else_s.del_hi[j]) != 0)
                    e = COORD_ERR_INTERNAL;
        }
        key_set_free(&then_s);
        key_set_free(&else_s);
    }
    for (size_t i = 0; i < ops->count && e == COORD_OK; i++) {
        const etcdserverpb_RequestOp *op = &ops_of(ops)[i];
        if (op->which_request != etcdserverpb_RequestOp_request_put_tag) continue;
        pbx_bytes_t k = op->request.request_put.key;
        if (has_put(out, k) || deleted_by(out, k))
            e = COORD_ERR_DUPLICATE_KEY;
        else if (key_set_add_put(out, k) != 0)
            e = COORD_ERR_INTERNAL;
    }
    return e;
}

coord_err kv_check_txn(const etcdserverpb_TxnRequest *r, int64_t max_txn_ops)
{
    coord_err e = check_txn_ops(r, max_txn_ops);
    if (e != COORD_OK) return e;
    struct key_set s = {0};
    e = check_intervals(&r->success, &s);
    key_set_free(&s);
    if (e != COORD_OK) return e;
    e = check_intervals(&r->failure, &s);
    key_set_free(&s);
    return e;
}
