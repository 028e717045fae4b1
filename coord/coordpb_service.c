/* coordpb_service: coord's own service beside etcd's. List answers the immediate children of a
 * directory at one revision, with paging, at about one store seek per child. */
#include "arena.h"
#include "coord.pb.h"
#include "pbx.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

struct list_visit {
    mvcc_txn *txn;
    arena *mem;
    int64_t rev;
    bool keys_only;
    coordpb_Child *v;
    size_t n, cap;
    int64_t want; /* stop after this many (limit + 1, to learn `more`), 0: all */
};

struct one_kv {
    arena *mem;
    bool keys_only;
    mvccpb_KeyValue *out;
    bool found;
};

static int copy_one_kv(void *arg, const mvcc_kv *kv)
{
    struct one_kv *o = arg;
    mvccpb_KeyValue *out = o->out;
    out->key.ptr = arena_memdup(o->mem, kv->key, kv->key_len);
    out->key.len = kv->key_len;
    if (!o->keys_only && kv->value_len) {
        out->value.ptr = arena_memdup(o->mem, kv->value, kv->value_len);
        out->value.len = kv->value_len;
    }
    out->create_revision = kv->create_revision;
    out->mod_revision = kv->mod_revision;
    out->version = kv->version;
    out->lease = kv->lease;
    o->found = true;
    return 1;
}

static int child_fn(void *arg, const uint8_t *child, size_t child_len, bool is_key,
                    bool has_children)
{
    struct list_visit *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        coordpb_Child *nv = realloc(v->v, cap * sizeof(*nv));
        if (!nv) return MVCC_ERR_NOMEM;
        v->v = nv;
        v->cap = cap;
    }
    coordpb_Child *c = &v->v[v->n];
    memset(c, 0, sizeof(*c));
    c->key.ptr = arena_memdup(v->mem, child, child_len);
    c->key.len = child_len;
    c->has_children = has_children;
    if (!c->key.ptr) return MVCC_ERR_NOMEM;
    v->n++;
    if (is_key) {
        /* The child's own key: one more seek, only for children that are keys. */
        struct one_kv o = {.mem = v->mem, .keys_only = v->keys_only, .out = &c->kv};
        int rc = mvcc_txn_range(v->txn, child, child_len, NULL, 0, v->rev, copy_one_kv, &o);
        if (rc < 0) return rc;
        c->has_kv = o.found;
    }
    return v->want > 0 && (int64_t)v->n >= v->want ? 1 : 0;
}

static void list_serve(coord_server *s, rpc_unary *call, const uint8_t *req, size_t len)
{
    coordpb_ListRequest r;
    if (pbx_decode(&coordpb_ListRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    if (r.dir.len == 0) {
        server_fail(call, COORD_ERR_EMPTY_KEY);
        goto done_release;
    }
    arena mem = {0};
    /* "/a" and "/a/" name the same directory. */
    size_t dlen = r.dir.len;
    uint8_t *dir = arena_alloc(&mem, dlen + 1);
    if (!dir) {
        server_fail(call, COORD_ERR_INTERNAL);
        goto done_release;
    }
    memcpy(dir, r.dir.ptr, dlen);
    if (dir[dlen - 1] != '/') dir[dlen++] = '/';

    mvcc_txn *t;
    if (mvcc_read_begin(s->kv, &t) != MVCC_OK) {
        server_fail(call, COORD_ERR_INTERNAL);
        goto done_free_arena;
    }
    struct list_visit v = {.txn = t,
                           .mem = &mem,
                           .rev = r.revision > 0 ? r.revision : 0,
                           .keys_only = r.keys_only,
                           .want = r.limit > 0 ? r.limit + 1 : 0};
    uint64_t seeks = 0;
    int rc = mvcc_txn_list_children(t, dir, dlen, r.after.ptr, r.after.len, v.rev, 0, child_fn, &v,
                                    &seeks);
    if (rc == MVCC_ERR_COMPACTED) {
        server_fail(call, COORD_ERR_COMPACTED);
    } else if (rc == MVCC_ERR_FUTURE_REV) {
        server_fail(call, COORD_ERR_FUTURE_REV);
    } else if (rc < 0) {
        server_fail(call, COORD_ERR_INTERNAL);
    } else {
        coordpb_ListResponse out = {0};
        out.has_header = true;
        server_fill_header(s, &out.header, mvcc_txn_rev(t));
        if (r.limit > 0 && (int64_t)v.n > r.limit) {
            v.n = (size_t)r.limit;
            out.more = true;
        }
        out.children.items = v.v;
        out.children.count = v.n;
        rpc_unary_reply_msg(call, &coordpb_ListResponse_msg, &out);
    }
    free(v.v);
    mvcc_txn_end(t);
done_free_arena:
    arena_free(&mem);
done_release:
    pbx_release(&coordpb_ListRequest_msg, &r);
}

static void coord_list(void *ctx, rpc_unary *call, const uint8_t *req, size_t len)
{
    coord_server *s = ctx;
    coordpb_ListRequest r;
    if (pbx_decode(&coordpb_ListRequest_msg, &r, req, len) != 0) {
        rpc_unary_fail(call, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    bool linearizable = !r.serializable;
    pbx_release(&coordpb_ListRequest_msg, &r);
    server_read(s, call, linearizable, list_serve, req, len);
}

int coordpb_service_register(coord_server *s)
{
    return rpc_server_add_unary(s->rpc, "/coordpb.Coord/List", coord_list, s);
}
