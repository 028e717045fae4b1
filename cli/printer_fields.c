/* The `fields` format: one `"Name" : value` line per field, strings Go-quoted. */
#include "printer.h"
#include "textfmt.h"

#include <inttypes.h>

static void header(const printer *p, const coord_header *h)
{
    fprintf(p->out, "\"ClusterID\" : %" PRIu64 "\n", h->cluster_id);
    fprintf(p->out, "\"MemberID\" : %" PRIu64 "\n", h->member_id);
    fprintf(p->out, "\"Revision\" : %" PRId64 "\n", h->revision);
    fprintf(p->out, "\"RaftTerm\" : %" PRIu64 "\n", h->raft_term);
}

static void quoted_line(const printer *p, const char *prefix, const char *name, coord_bytes b)
{
    fprintf(p->out, "\"%s%s\" : ", prefix, name);
    fmt_go_quoted(p->out, b.ptr, b.len);
    fputc('\n', p->out);
}

static void kv(const printer *p, const char *prefix, const coord_kv *kv)
{
    quoted_line(p, prefix, "Key", kv->key);
    fprintf(p->out, "\"%sCreateRevision\" : %" PRId64 "\n", prefix, kv->create_revision);
    fprintf(p->out, "\"%sModRevision\" : %" PRId64 "\n", prefix, kv->mod_revision);
    fprintf(p->out, "\"%sVersion\" : %" PRId64 "\n", prefix, kv->version);
    quoted_line(p, prefix, "Value", kv->value);
    fprintf(p->out, "\"%sLease\" : %" PRId64 "\n", prefix, kv->lease);
}

static const char *boolean(bool b)
{
    return b ? "true" : "false";
}

int print_fields_put(const printer *p, const coord_put_resp *r)
{
    header(p, &r->header);
    if (r->has_prev_kv) kv(p, "Prev", &r->prev_kv);
    return 0;
}

int print_fields_range(const printer *p, const coord_range_resp *r)
{
    header(p, &r->header);
    for (size_t i = 0; i < r->n_kvs; i++) kv(p, "", &r->kvs[i]);
    fprintf(p->out, "\"More\" : %s\n", boolean(r->more));
    fprintf(p->out, "\"Count\" : %" PRId64 "\n", r->count);
    return 0;
}

int print_fields_delete(const printer *p, const coord_delete_resp *r)
{
    header(p, &r->header);
    fprintf(p->out, "\"Deleted\" : %" PRId64 "\n", r->deleted);
    for (size_t i = 0; i < r->n_prev_kvs; i++) kv(p, "Prev", &r->prev_kvs[i]);
    return 0;
}

int print_fields_txn(const printer *p, const coord_txn_resp *r)
{
    header(p, &r->header);
    fprintf(p->out, "\"Succeeded\" : %s\n", boolean(r->succeeded));
    for (size_t i = 0; i < r->n_responses; i++) {
        const coord_op_resp *op = &r->responses[i];
        switch (op->type) {
        case COORD_OP_RANGE:
            print_fields_range(p, &op->u.range);
            break;
        case COORD_OP_PUT:
            print_fields_put(p, &op->u.put);
            break;
        case COORD_OP_DELETE:
            print_fields_delete(p, &op->u.del);
            break;
        case COORD_OP_TXN:
            print_fields_txn(p, op->u.txn);
            break;
        }
    }
    return 0;
}

int print_fields_member_list(const printer *p, const coord_member_list_resp *r)
{
    header(p, &r->header);
    for (size_t i = 0; i < r->n_members; i++) {
        const coord_member *m = &r->members[i];
        fprintf(p->out, "\"ID\" : %" PRIu64 "\n", m->id);
        quoted_line(p, "", "Name", coord_str(m->name));
        for (size_t j = 0; j < m->n_peer_urls; j++)
            quoted_line(p, "", "PeerURL", coord_str(m->peer_urls[j]));
        for (size_t j = 0; j < m->n_client_urls; j++)
            quoted_line(p, "", "ClientURL", coord_str(m->client_urls[j]));
        fprintf(p->out, "\"IsLearner\" : %s\n\n", boolean(m->is_learner));
    }
    return 0;
}

int print_fields_endpoint_status(const printer *p, const ep_status *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const coord_status_resp *s = list[i].resp;
        header(p, &s->header);
        quoted_line(p, "", "Version", coord_str(s->version));
        fprintf(p->out, "\"DBSize\" : %" PRId64 "\n", s->db_size);
        fprintf(p->out, "\"Leader\" : %" PRIu64 "\n", s->leader);
        fprintf(p->out, "\"IsLearner\" : %s\n", boolean(s->is_learner));
        fprintf(p->out, "\"RaftIndex\" : %" PRIu64 "\n", s->raft_index);
        fprintf(p->out, "\"RaftTerm\" : %" PRIu64 "\n", s->raft_term);
        fprintf(p->out, "\"RaftAppliedIndex\" : %" PRIu64 "\n", s->raft_applied_index);
        /* Go prints a list of strings as [a b c]. */
        fputs("\"Errors\" : [", p->out);
        for (size_t j = 0; j < s->n_errors; j++)
            fprintf(p->out, "%s%s", j ? " " : "", s->errors[j]);
        fputs("]\n", p->out);
        quoted_line(p, "", "Endpoint", coord_str(list[i].endpoint));
        fputc('\n', p->out);
    }
    return 0;
}

int print_fields_endpoint_health(const printer *p, const ep_health *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        quoted_line(p, "", "Endpoint", coord_str(list[i].endpoint));
        fprintf(p->out, "\"Health\" : %s\n", boolean(list[i].healthy));
        fprintf(p->out, "\"Took\" : %s\n", list[i].took);
        fprintf(p->out, "\"Error\" : %s\n\n", list[i].error);
    }
    return 0;
}

int print_fields_ls(const printer *p, const ls_result *r)
{
    header(p, &r->header);
    for (size_t i = 0; i < r->n_children; i++) {
        const coord_child *c = r->children[i];
        quoted_line(p, "", "Key", c->key);
        fprintf(p->out, "\"HasChildren\" : %s\n", boolean(c->has_children));
        if (c->has_kv) kv(p, "KV", &c->kv);
    }
    return 0;
}
