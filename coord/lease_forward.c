#include "lease_forward.h"

#include "members.h"
#include "pbx.h"
#include "rpc.pb.h"
#include "rpc_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS      4
#define MAX_CHANNELS CONFIG_MAX_MEMBERS

#define METHOD_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define METHOD_TTL       "/etcdserverpb.Lease/LeaseTimeToLive"

enum job_kind { JOB_KEEPALIVE, JOB_TTL };

struct job {
    struct job *next;
    enum job_kind kind;
    rpc_stream *st; /* JOB_KEEPALIVE, referenced */
    int64_t id;
    rpc_unary *call; /* JOB_TTL */
    size_t len;
    uint8_t req[]; /* JOB_TTL: the request */
};

struct worker {
    lease_forward *f;
    pthread_t thread;
    struct job *head, *tail; /* under f->mu */
    pthread_cond_t cv;
    /* Worker thread only: its keep-alive stream to `leader`. */
    uint64_t leader;
    rpc_cstream *ka;
};

struct lease_forward {
    coord_server *s;
    pthread_mutex_t mu; /* guards the queues, stopping and the channels */
    bool stopping;
    struct worker w[WORKERS];
    size_t next_ttl; /* round robin for TimeToLive */
    /* One channel per member asked so far (members are few; a channel reconnects by itself). */
    uint64_t ch_id[MAX_CHANNELS];
    rpc_channel *ch[MAX_CHANNELS];
    size_t n_ch;
};

static const rpc_md forwarded_md[] = {{LEASE_FORWARDED_MD, "1"}, {"hasleader", "true"}};

/* The client address the leader published, as host:port. */
static int leader_addr(coord_server *s, uint64_t id, char *out, size_t cap)
{
    size_t alen = 0;
    uint8_t *attr = members_attr(s, id, &alen);
    etcdserverpb_Member m;
    int rc = -1;
    if (attr && pbx_decode(&etcdserverpb_Member_msg, &m, attr, alen) == 0) {
        if (m.clientURLs.count) {
            const pbx_bytes_t *u = m.clientURLs.items;
            char url[256];
            snprintf(url, sizeof(url), "%.*s", (int)u[0].len, (const char *)u[0].ptr);
            config_url cu;
            const char *why;
            if (config_parse_url(url, &cu, &why) == 0) {
                snprintf(out, cap, "%s:%d",
                         strcmp(cu.host, "localhost") == 0 ? "127.0.0.1" : cu.host, cu.port);
                free(cu.host);
                free(cu.url);
                rc = 0;
            }
        }
        pbx_release(&etcdserverpb_Member_msg, &m);
    }
    free(attr);
    return rc;
}

static rpc_channel *channel_to(lease_forward *f, uint64_t id)
{
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n_ch; i++)
        if (f->ch_id[i] == id) {
            rpc_channel *ch = f->ch[i];
            pthread_mutex_unlock(&f->mu);
            return ch;
        }
    pthread_mutex_unlock(&f->mu);
    char addr[300];
    rpc_channel *ch = NULL;
    if (leader_addr(f->s, id, addr, sizeof(addr)) != 0 || rpc_channel_create(addr, 0, &ch) != 0)
        return NULL;
    pthread_mutex_lock(&f->mu);
    if (f->n_ch < MAX_CHANNELS) {
        f->ch_id[f->n_ch] = id;
        f->ch[f->n_ch++] = ch;
    } else {
        rpc_channel_destroy(ch); /* more members than a cluster may have: refuse */
        ch = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    return ch;
}

/* The leader to ask, or 0 when there is none but this member (which is not primary yet). */
static uint64_t leader_to_ask(lease_forward *f)
{
    uint64_t leader = node_leader(f->s->log);
    return leader == f->s->member_id ? 0 : leader;
}

static void drop_stream(struct worker *w)
{
    if (!w->ka) return;
    rpc_cstream_cancel(w->ka);
    rpc_cstream_destroy(w->ka);
    w->ka = NULL;
}

/* One renewal through the worker's stream to leader; *ttl gets the leader's answer. */
static int renew_upstream(struct worker *w, uint64_t leader, int64_t id, int64_t *ttl)
{
    coord_server *s = w->f->s;
    if (w->ka && w->leader != leader) drop_stream(w);
    if (!w->ka) {
        rpc_channel *ch = channel_to(w->f, leader);
        rpc_call_opts co = {.md = forwarded_md, .md_count = 2};
        if (!ch || rpc_cstream_open(ch, METHOD_KEEPALIVE, &co, &w->ka) != 0) {
            w->ka = NULL;
            return -1;
        }
        w->leader = leader;
    }
    etcdserverpb_LeaseKeepAliveRequest r = {.ID = id};
    if (rpc_cstream_send_msg(w->ka, &etcdserverpb_LeaseKeepAliveRequest_msg, &r) != 0) {
        drop_stream(w);
        return -1;
    }
    rpc_buf b;
    /* A leader that does not answer within two election timeouts is likely gone: give the
     * renewal to whoever leads next rather than let the client's own deadline pass. */
    if (rpc_cstream_recv(w->ka, 2 * s->cfg->election_ms, &b) != RPC_RECV_MSG) {
        drop_stream(w); /* a late answer must not pair with the next request */
        return -1;
    }
    etcdserverpb_LeaseKeepAliveResponse m;
    int rc = pbx_decode(&etcdserverpb_LeaseKeepAliveResponse_msg, &m, b.data, b.len);
    rpc_buf_free(&b);
    if (rc != 0) {
        drop_stream(w);
        return -1;
    }
    *ttl = m.TTL;
    return 0;
}

static void do_keepalive(struct worker *w, struct job *j)
{
    coord_server *s = w->f->s;
    etcdserverpb_LeaseKeepAliveResponse out = {.has_header = true, .ID = j->id};
    /* This member's header, filled before the renewal, as etcd does. */
    server_fill_header(s, &out.header, mvcc_current_rev(s->kv));
    int64_t ttl = 0;
    bool ok = false;
    /* A stream that broke since its last use, or a leader that went away, gets another try on
     * a fresh stream to whoever leads then. */
    for (int attempt = 0; attempt < 3 && !ok; attempt++) {
        uint64_t leader = leader_to_ask(w->f);
        if (!leader) break;
        ok = renew_upstream(w, leader, j->id, &ttl) == 0;
    }
    if (!ok) {
        rpc_stream_finish(j->st, coord_err_code(COORD_ERR_NO_LEADER),
                          coord_err_message(COORD_ERR_NO_LEADER));
        return;
    }
    out.TTL = ttl > 0 ? ttl : 0;
    rpc_stream_send_msg(j->st, &etcdserverpb_LeaseKeepAliveResponse_msg, &out);
}

static void do_ttl(struct worker *w, struct job *j)
{
    coord_server *s = w->f->s;
    uint64_t leader = leader_to_ask(w->f);
    rpc_channel *ch = leader ? channel_to(w->f, leader) : NULL;
    if (!ch) {
        server_fail(j->call, COORD_ERR_NO_LEADER);
        return;
    }
    rpc_call_opts co = {.timeout_ms = s->request_timeout_ms, .md = forwarded_md, .md_count = 2};
    rpc_reply rep;
    grpc_status_code code = rpc_call(ch, METHOD_TTL, j->req, j->len, &co, &rep);
    etcdserverpb_LeaseTimeToLiveResponse m;
    if (code != GRPC_STATUS_OK) {
        if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED)
            server_fail(j->call, COORD_ERR_NO_LEADER);
        else
            rpc_unary_fail(j->call, code, rep.message);
    } else if (pbx_decode(&etcdserverpb_LeaseTimeToLiveResponse_msg, &m, rep.body.data,
                          rep.body.len) != 0) {
        server_fail(j->call, COORD_ERR_INTERNAL);
    } else {
        server_fill_header(s, &m.header, mvcc_current_rev(s->kv));
        m.has_header = true;
        rpc_unary_reply_msg(j->call, &etcdserverpb_LeaseTimeToLiveResponse_msg, &m);
        pbx_release(&etcdserverpb_LeaseTimeToLiveResponse_msg, &m);
    }
    rpc_reply_free(&rep);
}

static void finish_job(struct job *j, bool stopped, struct worker *w)
{
    if (stopped) {
        if (j->kind == JOB_KEEPALIVE)
            rpc_stream_finish(j->st, coord_err_code(COORD_ERR_STOPPED),
                              coord_err_message(COORD_ERR_STOPPED));
        else
            server_fail(j->call, COORD_ERR_STOPPED);
    } else if (j->kind == JOB_KEEPALIVE) {
        do_keepalive(w, j);
    } else {
        do_ttl(w, j);
    }
    if (j->kind == JOB_KEEPALIVE) rpc_stream_unref(j->st);
    free(j);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    lease_forward *f = w->f;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!w->head && !f->stopping) pthread_cond_wait(&w->cv, &f->mu);
        if (f->stopping) break;
        struct job *j = w->head;
        w->head = j->next;
        if (!w->head) w->tail = NULL;
        pthread_mutex_unlock(&f->mu);
        finish_job(j, false, w);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    drop_stream(w);
    return NULL;
}

int lease_forward_create(coord_server *s, lease_forward **out)
{
    lease_forward *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    f->s = s;
    pthread_mutex_init(&f->mu, NULL);
    size_t started = 0;
    for (; started < WORKERS; started++) {
        struct worker *w = &f->w[started];
        w->f = f;
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pthread_cond_destroy(&w->cv);
            break;
        }
    }
    if (started < WORKERS) {
        pthread_mutex_lock(&f->mu);
        f->stopping = true;
        for (size_t i = 0; i < started; i++) pthread_cond_signal(&f->w[i].cv);
        pthread_mutex_unlock(&f->mu);
        for (size_t i = 0; i < started; i++) {
            pthread_join(f->w[i].thread, NULL);
            pthread_cond_destroy(&f->w[i].cv);
        }
        pthread_mutex_destroy(&f->mu);
        free(f);
        return -1;
    }
    *out = f;
    return 0;
}

void lease_forward_destroy(lease_forward *f)
{
    if (!f) return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    for (size_t i = 0; i < WORKERS; i++) pthread_cond_signal(&f->w[i].cv);
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < WORKERS; i++) {
        pthread_join(f->w[i].thread, NULL);
        struct job *j = f->w[i].head;
        while (j) {
            struct job *next = j->next;
            finish_job(j, true, &f->w[i]);
            j = next;
        }
        pthread_cond_destroy(&f->w[i].cv);
    }
    for (size_t i = 0; i < f->n_ch; i++) rpc_channel_destroy(f->ch[i]);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void enqueue(lease_forward *f, size_t worker, struct job *j)
{
    struct worker *w = &f->w[worker % WORKERS];
    pthread_mutex_lock(&f->mu);
    bool stopping = f->stopping;
    if (!stopping) {
        j->next = NULL;
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&f->mu);
    if (stopping) finish_job(j, true, w);
}

void lease_forward_keepalive(lease_forward *f, rpc_stream *st, int64_t id)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        rpc_stream_finish(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    j->kind = JOB_KEEPALIVE;
    j->st = st;
    j->id = id;
    rpc_stream_ref(st);
    /* One worker per client stream keeps its answers in order. */
    uintptr_t h = (uintptr_t)st;
    enqueue(f, (size_t)((h >> 4) ^ (h >> 12)), j);
}

void lease_forward_time_to_live(lease_forward *f, rpc_unary *call, const uint8_t *req, size_t len)
{
    struct job *j = calloc(1, sizeof(*j) + len);
    if (!j) {
        server_fail(call, COORD_ERR_INTERNAL);
        return;
    }
    j->kind = JOB_TTL;
    j->call = call;
    j->len = len;
    if (len) memcpy(j->req, req, len);
    pthread_mutex_lock(&f->mu);
    size_t worker = f->next_ttl++;
    pthread_mutex_unlock(&f->mu);
    enqueue(f, worker, j);
}
