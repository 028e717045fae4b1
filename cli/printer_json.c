/* The `json` format: etcdctl's JSON, i.e. Go's encoding/json of etcd's messages: fields
 * named by their json tags, zero values left out (omitempty), bytes in base64, compact.
 *
 * The tree is built and serialised with jansson. jansson's integers are signed 64-bit, while
 * cluster and member ids are unsigned and often above INT64_MAX; such a value is stored as a
 * placeholder string (U64_MARK + digits) and written back as a bare number when the text is
 * printed. No other string can look like a placeholder: text from the server goes through
 * text_value(), which never lets a string start with the mark's first byte.
 */
#include "printer.h"
#include "textfmt.h"

#include <jansson.h>
#include <nettle/base64.h>
#include <stdlib.h>
#include <string.h>

#define U64_MARK "\x01u64:"
/* How jansson escapes the mark's first byte in its output. */
#define U64_MARK_DUMPED "\"\\u0001u64:"

static json_t *u64_value(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
    char mark[40];
    snprintf(mark, sizeof(mark), U64_MARK "%llu", (unsigned long long)v);
    return json_string(mark);
}

/* Text as Go writes it: invalid UTF-8 becomes U+FFFD (jansson refuses invalid UTF-8). */
static json_t *text_value(const char *s, size_t len)
{
    char *clean = malloc(len * 3 + 1);
    if (!clean) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_sequence((const uint8_t *)s + i, len - i, &cp);
        /* A leading mark byte is replaced too, so no text reads as a u64 placeholder. */
        if (n == 0 || (i == 0 && cp == (uint32_t)U64_MARK[0])) {
            memcpy(clean + w, "\xef\xbf\xbd", 3);
            w += 3;
            i += n ? n : 1;
        } else {
            memcpy(clean + w, s + i, n);
            w += n;
            i += n;
        }
    }
    json_t *v = json_stringn(clean, w);
    free(clean);
    return v;
}

static json_t *cstr_value(const char *s)
{
    return text_value(s, strlen(s));
}

static json_t *base64_value(coord_bytes b)
{
    char *enc = malloc(BASE64_ENCODE_RAW_LENGTH(b.len) + 1);
    if (!enc) return NULL;
    base64_encode_raw(enc, b.len, b.ptr ? b.ptr : (const uint8_t *)"");
    json_t *v = json_stringn(enc, BASE64_ENCODE_RAW_LENGTH(b.len));
    free(enc);
    return v;
}

/* Sets obj[key] = v, taking v; a NULL v (out of memory) is remembered in *ok. */
static void put(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, key, v) != 0) *ok = false;
}

static void put_i64(json_t *obj, const char *key, int64_t v, bool *ok)
{
    if (v) put(obj, key, json_integer(v), ok);
}

static void put_u64(json_t *obj, const char *key, uint64_t v, bool *ok)
{
    if (v) put(obj, key, u64_value(v), ok);
}

static void put_bool(json_t *obj, const char *key, bool v, bool *ok)
{
    if (v) put(obj, key, json_true(), ok);
}

static void put_bytes(json_t *obj, const char *key, coord_bytes b, bool *ok)
{
    if (b.len) put(obj, key, base64_value(b), ok);
}

static void append(json_t *arr, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(arr, v) != 0) *ok = false;
}

static json_t *header_value(const coord_header *h, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put_u64(o, "cluster_id", h->cluster_id, ok);
    put_u64(o, "member_id", h->member_id, ok);
    put_i64(o, "revision", h->revision, ok);
    put_u64(o, "raft_term", h->raft_term, ok);
    return o;
}

static json_t *kv_value(const coord_kv *kv, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put_bytes(o, "key", kv->key, ok);
    put_i64(o, "create_revision", kv->create_revision, ok);
    put_i64(o, "mod_revision", kv->mod_revision, ok);
    put_i64(o, "version", kv->version, ok);
    put_bytes(o, "value", kv->value, ok);
    put_i64(o, "lease", kv->lease, ok);
    return o;
}

static void put_kvs(json_t *o, const char *key, const coord_kv *kvs, size_t n, bool *ok)
{
    if (!n) return;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) append(arr, kv_value(&kvs[i], ok), ok);
    put(o, key, arr, ok);
}

static json_t *put_value(const coord_put_resp *r, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "header", header_value(&r->header, ok), ok);
    if (r->has_prev_kv) put(o, "prev_kv", kv_value(&r->prev_kv, ok), ok);
    return o;
}

static json_t *range_value(const coord_range_resp *r, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "header", header_value(&r->header, ok), ok);
    put_kvs(o, "kvs", r->kvs, r->n_kvs, ok);
    put_bool(o, "more", r->more, ok);
    put_i64(o, "count", r->count, ok);
    return o;
}

static json_t *delete_value(const coord_delete_resp *r, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "header", header_value(&r->header, ok), ok);
    put_i64(o, "deleted", r->deleted, ok);
    put_kvs(o, "prev_kvs", r->prev_kvs, r->n_prev_kvs, ok);
    return o;
}

static json_t *txn_value(const coord_txn_resp *r, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "header", header_value(&r->header, ok), ok);
    put_bool(o, "succeeded", r->succeeded, ok);
    if (r->n_responses) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < r->n_responses; i++) {
            /* A ResponseOp is a oneof: Go names the wrapper and the variant by type. */
            const coord_op_resp *op = &r->responses[i];
            json_t *variant = json_object(), *wrapper = json_object();
            switch (op->type) {
            case COORD_OP_RANGE:
                put(variant, "ResponseRange", range_value(&op->u.range, ok), ok);
                break;
            case COORD_OP_PUT:
                put(variant, "ResponsePut", put_value(&op->u.put, ok), ok);
                break;
            case COORD_OP_DELETE:
                put(variant, "ResponseDeleteRange", delete_value(&op->u.del, ok), ok);
                break;
            case COORD_OP_TXN:
                put(variant, "ResponseTxn", txn_value(op->u.txn, ok), ok);
                break;
            }
            if (wrapper)
                put(wrapper, "Response", variant, ok);
            else
                json_decref(variant);
            append(arr, wrapper, ok);
        }
        put(o, "responses", arr, ok);
    }
    return o;
}

static json_t *strings_value(const char *const *items, size_t n, bool *ok)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) append(arr, cstr_value(items[i]), ok);
    return arr;
}

static json_t *member_list_value(const coord_member_list_resp *r, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "header", header_value(&r->header, ok), ok);
    if (r->n_members) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < r->n_members; i++) {
            const coord_member *m = &r->members[i];
            json_t *mo = json_object();
            if (!mo) {
                *ok = false;
                break;
            }
            put_u64(mo, "ID", m->id, ok);
            if (m->name[0]) put(mo, "name", cstr_value(m->name), ok);
            if (m->n_peer_urls)
                put(mo, "peerURLs", strings_value(m->peer_urls, m->n_peer_urls, ok), ok);
            if (m->n_client_urls)
                put(mo, "clientURLs", strings_value(m->client_urls, m->n_client_urls, ok), ok);
            put_bool(mo, "isLearner", m->is_learner, ok);
            append(arr, mo, ok);
        }
        put(o, "members", arr, ok);
    }
    return o;
}

static json_t *status_value(const coord_status_resp *s, bool *ok)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "header", header_value(&s->header, ok), ok);
    if (s->version[0]) put(o, "version", cstr_value(s->version), ok);
    put_i64(o, "dbSize", s->db_size, ok);
    put_u64(o, "leader", s->leader, ok);
    put_u64(o, "raftIndex", s->raft_index, ok);
    put_u64(o, "raftTerm", s->raft_term, ok);
    put_u64(o, "raftAppliedIndex", s->raft_applied_index, ok);
    if (s->n_errors) put(o, "errors", strings_value(s->errors, s->n_errors, ok), ok);
    put_i64(o, "dbSizeInUse", s->db_size_in_use, ok);
    put_bool(o, "isLearner", s->is_learner, ok);
    return o;
}

/* Prints v compactly with a newline, turning placeholders back into numbers; takes v. */
static int emit(const printer *p, json_t *v, bool ok)
{
    if (!v || !ok) {
        json_decref(v);
        return -1;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!text) return -1;
    const size_t mark_len = strlen(U64_MARK_DUMPED);
    for (const char *at = text;;) {
        const char *m = strstr(at, U64_MARK_DUMPED);
        if (!m) {
            fputs(at, p->out);
            break;
        }
        fwrite(at, 1, (size_t)(m - at), p->out);
        const char *digits = m + mark_len;
        size_t n = strspn(digits, "0123456789");
        fwrite(digits, 1, n, p->out);
        at = digits + n + 1; /* past the closing quote */
    }
    fputc('\n', p->out);
    free(text);
    return 0;
}

int print_json_put(const printer *p, const coord_put_resp *r)
{
    bool ok = true;
    json_t *v = put_value(r, &ok);
    return emit(p, v, ok);
}

int print_json_range(const printer *p, const coord_range_resp *r)
{
    bool ok = true;
    json_t *v = range_value(r, &ok);
    return emit(p, v, ok);
}

int print_json_delete(const printer *p, const coord_delete_resp *r)
{
    bool ok = true;
    json_t *v = delete_value(r, &ok);
    return emit(p, v, ok);
}

int print_json_txn(const printer *p, const coord_txn_resp *r)
{
    bool ok = true;
    json_t *v = txn_value(r, &ok);
    return emit(p, v, ok);
}

int print_json_member_list(const printer *p, const coord_member_list_resp *r)
{
    bool ok = true;
    json_t *v = member_list_value(r, &ok);
    return emit(p, v, ok);
}

int print_json_endpoint_status(const printer *p, const ep_status *list, size_t n)
{
    bool ok = true;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_object();
        if (o) {
            put(o, "Endpoint", cstr_value(list[i].endpoint), &ok);
            put(o, "Status", status_value(list[i].resp, &ok), &ok);
        }
        append(arr, o, &ok);
    }
    return emit(p, arr, ok);
}

int print_json_endpoint_health(const printer *p, const ep_health *list, size_t n)
{
    bool ok = true;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_object();
        if (o) {
            put(o, "endpoint", cstr_value(list[i].endpoint), &ok);
            put(o, "health", json_boolean(list[i].healthy), &ok);
            put(o, "took", cstr_value(list[i].took), &ok);
            if (list[i].error[0]) put(o, "error", cstr_value(list[i].error), &ok);
        }
        append(arr, o, &ok);
    }
    return emit(p, arr, ok);
}

int print_json_ls(const printer *p, const ls_result *r)
{
    bool ok = true;
    json_t *o = json_object();
    if (o) {
        put(o, "header", header_value(&r->header, &ok), &ok);
        if (r->n_children) {
            json_t *arr = json_array();
            for (size_t i = 0; arr && i < r->n_children; i++) {
                const coord_child *c = r->children[i];
                json_t *co = json_object();
                if (co) {
                    put_bytes(co, "key", c->key, &ok);
                    put_bool(co, "has_children", c->has_children, &ok);
                    if (c->has_kv) put(co, "kv", kv_value(&c->kv, &ok), &ok);
                }
                append(arr, co, &ok);
            }
            put(o, "children", arr, &ok);
        }
    }
    return emit(p, o, ok);
}
