#include "node.h"

#include "raft.h"
#include "raft_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum item_kind {
    ITEM_PROPOSAL,
    ITEM_READ,
    ITEM_MESSAGE,
    ITEM_UNREACHABLE,
    ITEM_TRANSFER,
    ITEM_SNAP_OK,
    ITEM_SNAP_FAILED,
    ITEM_CONF_CHANGE
};

/* Work handed to the node thread. */
struct item {
    struct item *next;
    enum item_kind kind;
    int64_t since_ms; /* when it was first queued (timeouts of retried work) */
    uint64_t id;      /* ITEM_UNREACHABLE / ITEM_TRANSFER: the member */
    node_read_fn read_fn;
    void *read_arg;
    raft_msg msg;        /* ITEM_MESSAGE, decoded */
    raft_conf_change cc; /* ITEM_CONF_CHANGE; data holds its context */
    size_t len;
    uint8_t data[]; /* ITEM_PROPOSAL: the entry */
};

struct item_list {
    struct item *head, *tail;
};

/* Reads that share one ReadIndex round, waiting for its index and then for apply. */
struct read_batch {
    struct read_batch *next;
    uint64_t seq;   /* the ReadIndex context */
    uint64_t index; /* 0 until the core answers */
    int64_t since_ms;
    struct item *reads;
};

/* Reads ready to run, for the reader threads. */
struct ready_read {
    struct ready_read *next;
    node_read_fn fn;
    void *arg;
    coord_err err;
};

#define NODE_READERS 2

struct node {
    node_opts o;
    raft *core;
    raft_store *rs;

    pthread_t thread;
    pthread_mutex_t mu; /* guards inbox and stopping */
    pthread_cond_t cv;
    struct item_list inbox;
    bool stopping;

    /* Node thread only. */
    struct item_list retry;         /* proposals waiting for a leader */
    struct read_batch *batches;     /* asked or answered, not yet run */
    struct item_list reads_waiting; /* reads not yet given to the core (no leader) */
    uint64_t next_seq;
    uint64_t last_snapshot_index;
    int64_t next_tick_ms;

    pthread_t readers[NODE_READERS];
    pthread_mutex_t rmu;
    pthread_cond_t rcv;
    struct ready_read *rhead, *rtail;
    bool rstop;

    _Atomic uint64_t term, commit, applied, leader, last_index;
    /* Leader only: each member's match index, refreshed after every ready. */
    _Atomic uint64_t match_id[RAFT_MAX_NODES], match_index[RAFT_MAX_NODES];
    struct item_list conf_retry; /* conf changes waiting for the one in flight (node thread) */
    _Atomic bool failed;
    bool halted;      /* node_halt has run (the caller's thread) */
    bool step_failed; /* the core refused a message as corrupt (node thread) */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_push(struct item_list *l, struct item *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static void item_free(struct item *it)
{
    if (it->kind == ITEM_MESSAGE) raft_msg_free(&it->msg);
    free(it);
}

static int enqueue(node *n, struct item *it)
{
    it->since_ms = now_ms();
    pthread_mutex_lock(&n->mu);
    if (n->stopping) {
        pthread_mutex_unlock(&n->mu);
        return -1;
    }
    list_push(&n->inbox, it);
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* ---------------------------------------------------------------- readers --------------- */

static void reader_push(node *n, node_read_fn fn, void *arg, coord_err err)
{
    struct ready_read *r = malloc(sizeof(*r));
    if (!r) {
        fn(arg, COORD_ERR_INTERNAL);
        return;
    }
    *r = (struct ready_read){.fn = fn, .arg = arg, .err = err};
    pthread_mutex_lock(&n->rmu);
    if (n->rtail)
        n->rtail->next = r;
    else
        n->rhead = r;
    n->rtail = r;
    pthread_cond_signal(&n->rcv);
    pthread_mutex_unlock(&n->rmu);
}

static void *reader_main(void *arg)
{
    node *n = arg;
    for (;;) {
        pthread_mutex_lock(&n->rmu);
        while (!n->rhead && !n->rstop) pthread_cond_wait(&n->rcv, &n->rmu);
        struct ready_read *r = n->rhead;
        if (!r) { /* stopping and drained */
            pthread_mutex_unlock(&n->rmu);
            return NULL;
        }
        n->rhead = r->next;
        if (!n->rhead) n->rtail = NULL;
        pthread_mutex_unlock(&n->rmu);
        r->fn(r->arg, r->err);
        free(r);
    }
}

static void fail_reads(node *n, struct item *reads, coord_err err)
{
    while (reads) {
        struct item *next = reads->next;
        reader_push(n, reads->read_fn, reads->read_arg, err);
        free(reads);
        reads = next;
    }
}

/* ---------------------------------------------------------------- the loop -------------- */

static void raft_log_line(void *ctx, raft_id id, int level, const char *line)
{
    (void)ctx;
    (void)level;
    fprintf(stderr, "coord: raft %016llx: %s\n", (unsigned long long)id, line);
}

static bool encode_msg(void *m, uint8_t *dst, size_t len)
{
    return raft_msg_encode(m, dst, len) == len;
}

/* Encoded straight into the peer's outgoing batch. A message that cannot be queued is lost, as
 * the network may lose any message; the transport reports the peer unreachable by itself (the
 * core may not be called here, between raft_ready and raft_advance). */
static void send_msg(node *n, const raft_msg *m)
{
    if (!n->o.peers) return;
    if (m->type == RAFT_MSG_SNAP) {
        if (n->o.send_snapshot) n->o.send_snapshot(n->o.cb_arg, m);
        return;
    }
    peer_send_encoded(n->o.peers, m->to, raft_msg_encoded_size(m), encode_msg, (void *)m);
}

/* Gives a batch of reads their go once the member has applied up to their read index. */
static void run_applied_reads(node *n)
{
    uint64_t applied = atomic_load(&n->applied);
    struct read_batch **pp = &n->batches;
    while (*pp) {
        struct read_batch *b = *pp;
        if (b->index && b->index <= applied) {
            *pp = b->next;
            fail_reads(n, b->reads, COORD_OK);
            free(b);
        } else {
            pp = &b->next;
        }
    }
}

static int write_batch(node *n, rocksdb_writebatch_t *b, bool sync)
{
    char *err = NULL;
    rocksdb_write(n->o.st->db, sync ? n->o.st->sync_wo : n->o.st->nosync_wo, b, &err);
    if (err) {
        fprintf(stderr, "coord: writing the raft log: %s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

/* Records a snapshot point at the applied index and trims the log behind it. */
static int maybe_compact(node *n)
{
    uint64_t applied = atomic_load(&n->applied);
    if (applied < n->last_snapshot_index + n->o.snapshot_count) return 0;
    raft_snapshot_meta meta;
    if (raft_snapshot_point(n->core, &meta) != RAFT_OK) return 0;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    int rc = raft_store_compact(n->rs, b, &meta, n->o.log_keep_entries);
    /* Unsynced: it is written after the apply batches it depends on, in the same WAL. */
    if (rc == 0) rc = write_batch(n, b, false);
    rocksdb_writebatch_destroy(b);
    if (rc == 0) n->last_snapshot_index = meta.index;
    return rc;
}

/* What status readers on other threads may ask: the leader's view of each member's log. */
static void note_progress(node *n)
{
    raft_status st;
    raft_status_get(n->core, &st);
    atomic_store(&n->last_index, st.last_index);
    for (size_t i = 0; i < RAFT_MAX_NODES; i++) {
        bool have = i < st.n_progress;
        atomic_store(&n->match_id[i], have ? st.progress[i].id : 0);
        atomic_store(&n->match_index[i], have ? st.progress[i].match : 0);
    }
}

static int handle_ready(node *n)
{
    struct raft_ready rd;
    int rc = raft_ready(n->core, &rd);
    if (rc != RAFT_OK) {
        fprintf(stderr, "coord: raft ready: %s\n", raft_strerror(rc));
        return -1;
    }
    if (rd.has_soft_state) atomic_store(&n->leader, rd.soft.leader);
    if (rd.snapshot) {
        if (!n->o.install_snapshot) {
            fprintf(stderr, "coord: received a snapshot at %llu but cannot install one\n",
                    (unsigned long long)rd.snapshot->meta.index);
            return -1;
        }
        rocksdb_writebatch_t *sb = rocksdb_writebatch_create();
        raft_store_stage_snapshot(n->rs, sb, &rd.snapshot->meta);
        rc = n->o.install_snapshot(n->o.cb_arg, rd.snapshot, sb);
        rocksdb_writebatch_destroy(sb);
        if (rc != 0) {
            fprintf(stderr, "coord: installing the snapshot at %llu failed\n",
                    (unsigned long long)rd.snapshot->meta.index);
            return -1;
        }
        atomic_store(&n->applied, rd.snapshot->meta.index);
        n->last_snapshot_index = rd.snapshot->meta.index;
    }
    for (size_t i = 0; i < rd.n_messages; i++)
        if (!raft_msg_needs_durable(&rd.messages[i])) send_msg(n, &rd.messages[i]);
    if (rd.n_entries || rd.has_hard_state) {
        rocksdb_writebatch_t *b = rocksdb_writebatch_create();
        raft_store_stage(n->rs, b, &rd);
        rc = write_batch(n, b, rd.must_sync);
        rocksdb_writebatch_destroy(b);
        if (rc != 0) return -1;
        raft_store_staged_written(n->rs);
        if (rd.has_hard_state) {
            atomic_store(&n->term, rd.hard_state.term);
            atomic_store(&n->commit, rd.hard_state.commit);
        }
    }
    for (size_t i = 0; i < rd.n_messages; i++)
        if (raft_msg_needs_durable(&rd.messages[i])) send_msg(n, &rd.messages[i]);
    for (size_t i = 0; i < rd.n_committed; i++) {
        const raft_entry *e = &rd.committed[i];
        if (e->type == RAFT_ENTRY_NORMAL)
            rc = n->o.apply(n->o.apply_arg, e->index, e->term, e->data, e->len);
        else if (n->o.apply_conf)
            rc = n->o.apply_conf(n->o.apply_arg, e->index, e->term, e->data, e->len);
        else
            rc = n->o.apply(n->o.apply_arg, e->index, e->term, NULL, 0);
        if (rc != 0) return -1;
        atomic_store(&n->applied, e->index);
    }
    for (size_t i = 0; i < rd.n_read_states; i++) {
        const raft_read_state *s = &rd.read_states[i];
        if (s->ctx_len != 8) continue;
        uint64_t seq = be64_get(s->ctx);
        for (struct read_batch *b = n->batches; b; b = b->next)
            if (b->seq == seq) b->index = s->index ? s->index : 1;
    }
    rc = raft_advance(n->core, &rd);
    if (rc != RAFT_OK) {
        fprintf(stderr, "coord: raft advance: %s\n", raft_strerror(rc));
        return -1;
    }
    run_applied_reads(n);
    note_progress(n);
    return maybe_compact(n);
}

/* All reads that arrived together ask the core once. */
static void ask_read_index(node *n, struct item *reads)
{
    if (!reads) return;
    struct read_batch *b = calloc(1, sizeof(*b));
    if (!b) {
        fail_reads(n, reads, COORD_ERR_INTERNAL);
        return;
    }
    b->seq = ++n->next_seq;
    b->since_ms = now_ms();
    b->reads = reads;
    uint8_t ctx[8];
    be64_put(ctx, b->seq);
    if (raft_read_index(n->core, ctx, sizeof(ctx)) != RAFT_OK) {
        /* No leader yet: the reads wait for one (and time out in the end). */
        free(b);
        while (reads) {
            struct item *next = reads->next;
            list_push(&n->reads_waiting, reads);
            reads = next;
        }
        return;
    }
    b->next = n->batches;
    n->batches = b;
}

static void propose_item(node *n, struct item *it)
{
    int rc = raft_propose(n->core, it->data, it->len, NULL);
    if (rc == RAFT_ERR_DROPPED) {
        list_push(&n->retry, it); /* no leader yet */
        return;
    }
    if (rc != RAFT_OK) fprintf(stderr, "coord: a proposal was refused: %s\n", raft_strerror(rc));
    item_free(it);
}

static void propose_conf_item(node *n, struct item *it)
{
    int rc = raft_propose_conf_change(n->core, &it->cc, it->data, it->len, NULL);
    if (rc == RAFT_OK) {
        item_free(it);
        return;
    }
    if (rc == RAFT_ERR_CONF_PENDING && now_ms() - it->since_ms < n->o.request_timeout_ms) {
        list_push(&n->conf_retry, it); /* another change is in flight: try again next tick */
        return;
    }
    coord_err e = rc == RAFT_ERR_DROPPED        ? COORD_ERR_NOT_LEADER
                  : rc == RAFT_ERR_CONF_PENDING ? COORD_ERR_TIMEOUT
                                                : COORD_ERR_MEMBER_BAD_URLS;
    if (rc == RAFT_ERR_INVALID) e = COORD_ERR_MEMBER_NOT_FOUND;
    if (n->o.conf_refused) n->o.conf_refused(n->o.cb_arg, it->data, it->len, e);
    item_free(it);
}

static void process_inbox(node *n, struct item *list)
{
    struct item *reads = NULL, **reads_tail = &reads;
    while (list) {
        struct item *it = list;
        list = it->next;
        it->next = NULL;
        switch (it->kind) {
        case ITEM_PROPOSAL:
            propose_item(n, it);
            break;
        case ITEM_READ:
            *reads_tail = it;
            reads_tail = &it->next;
            break;
        case ITEM_MESSAGE: {
            int rc = raft_step(n->core, &it->msg);
            /* A message that contradicts what this member knows is committed: its state (or
             * the peer's) is broken, and going on could apply something twice. */
            if (rc == RAFT_ERR_CORRUPT || rc == RAFT_ERR_STORAGE) {
                fprintf(stderr, "coord: raft refused a message from %016llx: %s\n",
                        (unsigned long long)it->msg.from, raft_strerror(rc));
                n->step_failed = true;
            }
            item_free(it);
            break;
        }
        case ITEM_UNREACHABLE:
            raft_report_unreachable(n->core, it->id);
            item_free(it);
            break;
        case ITEM_TRANSFER:
            raft_transfer_leader(n->core, it->id);
            item_free(it);
            break;
        case ITEM_CONF_CHANGE:
            propose_conf_item(n, it);
            break;
        case ITEM_SNAP_OK:
        case ITEM_SNAP_FAILED:
            raft_report_snapshot(n->core, it->id, it->kind == ITEM_SNAP_OK);
            item_free(it);
            break;
        }
    }
    ask_read_index(n, reads);
}

/* Each tick: the core's clock, then retries and timeouts of work waiting for a leader. */
static void on_tick(node *n)
{
    raft_tick(n->core);
    if (n->o.on_tick) n->o.on_tick(n->o.cb_arg);
    int64_t now = now_ms();
    struct item *conf = n->conf_retry.head;
    n->conf_retry.head = n->conf_retry.tail = NULL;
    while (conf) {
        struct item *next = conf->next;
        propose_conf_item(n, conf);
        conf = next;
    }
    struct item *retry = n->retry.head;
    n->retry.head = n->retry.tail = NULL;
    while (retry) {
        struct item *next = retry->next;
        if (now - retry->since_ms > n->o.request_timeout_ms)
            item_free(retry);
        else
            propose_item(n, retry);
        retry = next;
    }
    struct item *waiting = n->reads_waiting.head, *keep = NULL, **keep_tail = &keep;
    n->reads_waiting.head = n->reads_waiting.tail = NULL;
    while (waiting) {
        struct item *next = waiting->next;
        waiting->next = NULL;
        if (now - waiting->since_ms > n->o.request_timeout_ms) {
            fail_reads(n, waiting, COORD_ERR_TIMEOUT);
        } else {
            *keep_tail = waiting;
            keep_tail = &waiting->next;
        }
        waiting = next;
    }
    ask_read_index(n, keep);
    struct read_batch **pp = &n->batches;
    while (*pp) {
        struct read_batch *b = *pp;
        if (now - b->since_ms > n->o.request_timeout_ms) {
            *pp = b->next;
            fail_reads(n, b->reads, COORD_ERR_TIMEOUT);
            free(b);
        } else {
            pp = &b->next;
        }
    }
}

static void *node_main(void *arg)
{
    node *n = arg;
    n->next_tick_ms = now_ms() + n->o.tick_ms;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        while (!n->inbox.head && !n->stopping && now_ms() < n->next_tick_ms) {
            int64_t wait = n->next_tick_ms - now_ms();
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
        struct item *list = n->inbox.head;
        n->inbox.head = n->inbox.tail = NULL;
        bool stopping = n->stopping;
        pthread_mutex_unlock(&n->mu);
        if (stopping) {
            while (list) {
                struct item *next = list->next;
                if (list->kind == ITEM_READ)
                    fail_reads(n, list, COORD_ERR_STOPPED);
                else
                    item_free(list);
                list = next;
            }
            break;
        }
        process_inbox(n, list);
        if (now_ms() >= n->next_tick_ms) {
            on_tick(n);
            n->next_tick_ms += n->o.tick_ms;
            /* After a stall, tick once and start over rather than fire a burst. */
            if (n->next_tick_ms < now_ms()) n->next_tick_ms = now_ms() + n->o.tick_ms;
        }
        int rc = n->step_failed ? -1 : 0;
        while (rc == 0 && raft_has_ready(n->core)) rc = handle_ready(n);
        if (rc != 0) {
            atomic_store(&n->failed, true);
            fprintf(stderr, "coord: the node stopped after a storage or consensus failure\n");
            pthread_mutex_lock(&n->mu);
            n->stopping = true;
            pthread_mutex_unlock(&n->mu);
            if (n->o.on_fatal) n->o.on_fatal(n->o.cb_arg);
            break;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle ------------- */

int node_start(const node_opts *o, node **out)
{
    node *n = calloc(1, sizeof(*n));
    if (!n) return -1;
    n->o = *o;
    if (n->o.tick_ms <= 0) n->o.tick_ms = 100;
    if (n->o.election_ticks <= 1) n->o.election_ticks = 10;
    if (n->o.request_timeout_ms <= 0) n->o.request_timeout_ms = 7000;
    if (n->o.snapshot_count == 0) n->o.snapshot_count = 10000;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    pthread_mutex_init(&n->rmu, NULL);
    pthread_cond_init(&n->rcv, NULL);
    if (raft_store_open(o->st, &n->rs) != 0) goto fail_free_node;
    if (o->snapshot_source)
        raft_store_set_snapshot_source(n->rs, o->snapshot_source, o->snapshot_source_arg);

    raft_config rc;
    raft_config_init(&rc);
    rc.id = o->self_id;
    rc.voters = o->voters;
    rc.n_voters = o->n_voters;
    rc.storage = raft_store_view(n->rs);
    rc.applied = o->applied_index;
    rc.election_tick = n->o.election_ticks;
    rc.heartbeat_tick = 1;
    rc.seed = o->seed ? o->seed : o->self_id;
    rc.max_msg_bytes = 1024 * 1024;
    rc.max_inflight_msgs = 256;
    rc.max_committed_bytes = 16 * 1024 * 1024;
    rc.pre_vote = true;
    rc.check_quorum = true;
    if (o->debug_log) {
        rc.log = raft_log_line;
        rc.log_level = RAFT_LOG_INFO;
    }
    int err = raft_new(&rc, &n->core);
    if (err != RAFT_OK) {
        fprintf(stderr, "coord: starting raft: %s\n", raft_strerror(err));
        goto fail_close_store;
    }
    raft_status st;
    raft_status_get(n->core, &st);
    atomic_store(&n->term, st.hard_state.term);
    atomic_store(&n->commit, st.hard_state.commit);
    atomic_store(&n->applied, st.applied);
    n->last_snapshot_index = st.applied;
    /* Like etcd's initial election tick advance: the first election comes after about one tick
     * instead of a whole timeout; a member alone elects itself at once. */
    if (st.conf.n_voters == 1 && st.conf.voters[0] == o->self_id && st.conf.n_voters_outgoing == 0)
        raft_campaign(n->core);
    else
        for (int i = 0; i < n->o.election_ticks - 2; i++) raft_tick(n->core);
    /* Committed entries not yet applied (a restart) are handed out by the first readies. */
    int hrc = 0;
    while (hrc == 0 && raft_has_ready(n->core)) hrc = handle_ready(n);
    if (hrc != 0) goto fail_free_raft;

    for (int i = 0; i < NODE_READERS; i++)
        if (pthread_create(&n->readers[i], NULL, reader_main, n) != 0) goto fail_free_raft;
    if (pthread_create(&n->thread, NULL, node_main, n) != 0) goto fail_stop_readers;
    *out = n;
    return 0;

fail_stop_readers:
    pthread_mutex_lock(&n->rmu);
    n->rstop = true;
    pthread_cond_broadcast(&n->rcv);
    pthread_mutex_unlock(&n->rmu);
    for (int i = 0; i < NODE_READERS; i++) pthread_join(n->readers[i], NULL);
fail_free_raft:
    raft_free(n->core);
fail_close_store:
    raft_store_close(n->rs);
fail_free_node:
    pthread_cond_destroy(&n->rcv);
    pthread_mutex_destroy(&n->rmu);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
    return -1;
}

int node_propose(node *n, const uint8_t *entry, size_t len)
{
    struct item *it = calloc(1, sizeof(*it) + len);
    if (!it) return -1;
    it->kind = ITEM_PROPOSAL;
    it->len = len;
    if (len) memcpy(it->data, entry, len);
    if (enqueue(n, it) != 0) {
        free(it);
        return -1;
    }
    return 0;
}

int node_read_index(node *n, node_read_fn fn, void *arg)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it) return -1;
    it->kind = ITEM_READ;
    it->read_fn = fn;
    it->read_arg = arg;
    if (enqueue(n, it) != 0) {
        free(it);
        return -1;
    }
    return 0;
}

void node_receive(node *n, uint64_t from, const uint8_t *msg, size_t len)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it) return;
    it->kind = ITEM_MESSAGE;
    if (raft_msg_decode(msg, len, &it->msg) != RAFT_OK) {
        fprintf(stderr, "coord: dropped an undecodable raft message from %016llx\n",
                (unsigned long long)from);
        free(it);
        return;
    }
    if (it->msg.to != n->o.self_id || it->msg.from != from) {
        item_free(it);
        return;
    }
    if (enqueue(n, it) != 0) item_free(it);
}

void node_report_unreachable(node *n, uint64_t id)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it) return;
    it->kind = ITEM_UNREACHABLE;
    it->id = id;
    if (enqueue(n, it) != 0) free(it);
}

void node_report_snapshot(node *n, uint64_t id, bool ok)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it) return;
    it->kind = ok ? ITEM_SNAP_OK : ITEM_SNAP_FAILED;
    it->id = id;
    if (enqueue(n, it) != 0) free(it);
}

int node_propose_conf_change(node *n, const raft_conf_change *cc, const uint8_t *ctx,
                             size_t ctx_len)
{
    struct item *it = calloc(1, sizeof(*it) + ctx_len);
    if (!it) return -1;
    it->kind = ITEM_CONF_CHANGE;
    it->cc = *cc;
    it->len = ctx_len;
    if (ctx_len) memcpy(it->data, ctx, ctx_len);
    if (enqueue(n, it) != 0) {
        free(it);
        return -1;
    }
    return 0;
}

uint64_t node_match_of(node *n, uint64_t id)
{
    for (size_t i = 0; i < RAFT_MAX_NODES; i++)
        if (atomic_load(&n->match_id[i]) == id) return atomic_load(&n->match_index[i]);
    return 0;
}

uint64_t node_last_index(node *n)
{
    return atomic_load(&n->last_index);
}

struct raft_store *node_raft_store(node *n)
{
    return n->rs;
}

int node_transfer_leader(node *n, uint64_t target)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it) return -1;
    it->kind = ITEM_TRANSFER;
    it->id = target;
    if (enqueue(n, it) != 0) {
        free(it);
        return -1;
    }
    return 0;
}

void node_halt(node *n)
{
    if (!n || n->halted) return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    n->halted = true;
    /* Whatever still waits on the node thread's lists gets an answer. */
    struct item *it = n->retry.head;
    while (it) {
        struct item *next = it->next;
        item_free(it);
        it = next;
    }
    n->retry.head = n->retry.tail = NULL;
    it = n->conf_retry.head;
    while (it) {
        struct item *next = it->next;
        item_free(it);
        it = next;
    }
    n->conf_retry.head = n->conf_retry.tail = NULL;
    fail_reads(n, n->reads_waiting.head, COORD_ERR_STOPPED);
    n->reads_waiting.head = n->reads_waiting.tail = NULL;
    while (n->batches) {
        struct read_batch *b = n->batches;
        n->batches = b->next;
        fail_reads(n, b->reads, COORD_ERR_STOPPED);
        free(b);
    }
    pthread_mutex_lock(&n->rmu);
    n->rstop = true;
    pthread_cond_broadcast(&n->rcv);
    pthread_mutex_unlock(&n->rmu);
    for (int i = 0; i < NODE_READERS; i++) pthread_join(n->readers[i], NULL);
}

void node_free(node *n)
{
    if (!n) return;
    node_halt(n);
    /* Items queued after the thread stopped were refused; anything left is freed here. */
    struct item *it = n->inbox.head;
    while (it) {
        struct item *next = it->next;
        item_free(it);
        it = next;
    }
    raft_free(n->core);
    raft_store_close(n->rs);
    pthread_cond_destroy(&n->rcv);
    pthread_mutex_destroy(&n->rmu);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

uint64_t node_term(node *n)
{
    return atomic_load(&n->term);
}
uint64_t node_commit_index(node *n)
{
    return atomic_load(&n->commit);
}
uint64_t node_applied_index(node *n)
{
    return atomic_load(&n->applied);
}
uint64_t node_leader(node *n)
{
    return atomic_load(&n->leader);
}
bool node_failed(node *n)
{
    return atomic_load(&n->failed);
}
