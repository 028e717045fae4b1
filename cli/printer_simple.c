/* The `simple` format: etcdctl's default output. */
#include "printer.h"
#include "textfmt.h"

#include <inttypes.h>
#include <string.h>

static void print_bytes(const printer *p, coord_bytes b)
{
    if (p->hex)
        fmt_hex_escaped(p->out, b.ptr, b.len);
    else if (b.len)
        fwrite(b.ptr, 1, b.len, p->out);
    fputc('\n', p->out);
}

static void print_kv(const printer *p, const coord_kv *kv)
{
    if (!p->value_only) print_bytes(p, kv->key);
    print_bytes(p, kv->value);
}

int print_simple_put(const printer *p, const coord_put_resp *r)
{
    fputs("OK\n", p->out);
    if (r->has_prev_kv) print_kv(p, &r->prev_kv);
    return 0;
}

int print_simple_range(const printer *p, const coord_range_resp *r)
{
    /* etcdctl 3.4 has no --count-only; printing the count alone is what it is for. */
    if (p->count_only) {
        fprintf(p->out, "%" PRId64 "\n", r->count);
        return 0;
    }
    for (size_t i = 0; i < r->n_kvs; i++) print_kv(p, &r->kvs[i]);
    return 0;
}

int print_simple_delete(const printer *p, const coord_delete_resp *r)
{
    fprintf(p->out, "%" PRId64 "\n", r->deleted);
    for (size_t i = 0; i < r->n_prev_kvs; i++) print_kv(p, &r->prev_kvs[i]);
    return 0;
}

int print_simple_txn(const printer *p, const coord_txn_resp *r)
{
    fputs(r->succeeded ? "SUCCESS\n" : "FAILURE\n", p->out);
    /* Ranges inside a transaction always print their keys and values. */
    printer sub = *p;
    sub.count_only = false;
    for (size_t i = 0; i < r->n_responses; i++) {
        const coord_op_resp *op = &r->responses[i];
        fputc('\n', p->out);
        int rc = 0;
        switch (op->type) {
        case COORD_OP_RANGE:
            rc = print_simple_range(&sub, &op->u.range);
            break;
        case COORD_OP_PUT:
            rc = print_simple_put(&sub, &op->u.put);
            break;
        case COORD_OP_DELETE:
            rc = print_simple_delete(&sub, &op->u.del);
            break;
        case COORD_OP_TXN:
            rc = print_simple_txn(&sub, op->u.txn);
            break;
        }
        if (rc) return rc;
    }
    return 0;
}

static void print_joined(FILE *out, const char *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++) fprintf(out, "%s%s", i ? "," : "", items[i]);
}

int print_simple_member_list(const printer *p, const coord_member_list_resp *r)
{
    for (size_t i = 0; i < r->n_members; i++) {
        const coord_member *m = &r->members[i];
        fprintf(p->out, "%" PRIx64 ", %s, %s, ", m->id, m->name[0] ? "started" : "unstarted",
                m->name);
        print_joined(p->out, m->peer_urls, m->n_peer_urls);
        fputs(", ", p->out);
        print_joined(p->out, m->client_urls, m->n_client_urls);
        fprintf(p->out, ", %s\n", m->is_learner ? "true" : "false");
    }
    return 0;
}

int print_simple_endpoint_status(const printer *p, const ep_status *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const coord_status_resp *s = list[i].resp;
        char size[32];
        fmt_bytes_si(size, sizeof(size), (uint64_t)s->db_size);
        fprintf(p->out, "%s, %" PRIx64 ", %s, %s, %s, %s, %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", ",
                list[i].endpoint, s->header.member_id, s->version, size,
                s->leader == s->header.member_id ? "true" : "false",
                s->is_learner ? "true" : "false", s->raft_term, s->raft_index,
                s->raft_applied_index);
        for (size_t j = 0; j < s->n_errors; j++)
            fprintf(p->out, "%s%s", j ? ", " : "", s->errors[j]);
        fputc('\n', p->out);
    }
    return 0;
}

int print_simple_endpoint_health(const printer *p, const ep_health *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].healthy)
            fprintf(p->err, "%s is healthy: successfully committed proposal: took = %s\n",
                    list[i].endpoint, list[i].took);
        else
            fprintf(p->err, "%s is unhealthy: failed to commit proposal: %s\n", list[i].endpoint,
                    list[i].error);
    }
    return 0;
}

int print_simple_ls(const printer *p, const ls_result *r)
{
    for (size_t i = 0; i < r->n_children; i++) {
        const coord_child *c = r->children[i];
        if (p->hex)
            fmt_hex_escaped(p->out, c->key.ptr, c->key.len);
        else if (c->key.len)
            fwrite(c->key.ptr, 1, c->key.len, p->out);
        /* The marker for "has descendants", unless the key already ends in one. */
        if (c->has_children && (c->key.len == 0 || c->key.ptr[c->key.len - 1] != '/'))
            fputc('/', p->out);
        fputc('\n', p->out);
    }
    return 0;
}
