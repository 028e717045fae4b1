/* peer: the Raft transport between members. Contract in peer.h.
 *
 * Sending: each peer's queue is a list of chunks, and a chunk IS the encoded RaftBatch that
 * will go out: the peer's fixed header (cluster_id, from, to) followed by one `msgs` field per
 * message, appended in place by peer_send. So queueing a message is a lock and a copy (no
 * allocation once chunks are recycled), and sending a batch is one gRPC message with no
 * re-encoding. The sender thread takes whole chunks off the head; while it waits for gRPC to
 * take one, later messages gather in the next, which is where batching comes from.
 *
 * The sender thread owns the link: it opens a stream and sends an empty batch (the hello); the
 * link is up once the peer answers it with a RaftAccept, which it does only after checking the
 * cluster and member IDs, so a peer that will refuse us never has messages queued for it. Then
 * it sends chunks until a send fails, the peer's address changes or the transport stops; then
 * it drops the queue, reports the peer unreachable and backs off before the next attempt.
 */
#include "peer.h"

#include "coord.pb.h"
#include "pbx.h"
#include "peer_conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS    50
#define BACKOFF_MAX_MS    1000
#define DEFAULT_MAX_QUEUE (64 * 1024 * 1024)
#define CHUNK_MIN_CAP     4096
#define SPARE_CHUNKS      2
#define VARINT_MAX        10
/* cluster_id, from and to: a one-byte tag and a varint each. */
#define HEADER_MAX (3 * (1 + VARINT_MAX))
/* The largest message peer_send accepts: it must fit a batch the receiver accepts. */
#define MSG_MAX (PEER_MAX_RECV_BYTES - HEADER_MAX - 1 - VARINT_MAX)

#define TAG_VARINT(field) ((uint8_t)(((field) << 3) | PB_WT_VARINT))
#define TAG_BYTES(field)  ((uint8_t)(((field) << 3) | PB_WT_STRING))

typedef struct chunk {
    struct chunk *next;
    uint8_t *buf; /* header, then `nmsgs` msgs fields: a complete encoded RaftBatch */
    size_t len, cap;
    uint32_t nmsgs;
} chunk;

typedef enum link_state {
    LINK_DOWN,       /* backing off after a failure: sends are dropped */
    LINK_CONNECTING, /* a stream is being opened: sends are queued */
    LINK_UP,         /* the hello went out: sends are queued */
} link_state;

typedef struct peer {
    peer_transport *t;
    uint64_t id;
    pthread_t thread;
    uint8_t header[HEADER_MAX]; /* this peer's RaftBatch header; fixed at creation */
    size_t header_len;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the sender waits here for work, a report, a stop, or its back-off */
    /* Guarded by mu: */
    char *addr;
    uint64_t addr_gen; /* bumped by every peer_add: the sender reopens its stream */
    bool stopping;
    bool sender_waiting; /* the sender is in a wait on `wake`: signal it */
    bool report_pending; /* messages were dropped and the sender has not reported it yet */
    link_state state;
    bool ever_up;        /* some stream was accepted: the next one is a reconnect */
    peer_conn *conn;     /* the open stream, so peer_add and stops can cancel it */
    chunk *head, *tail;  /* the queue, in send order; appends go to tail */
    size_t queued_bytes; /* sum of the queued chunks' len */
    chunk *spare;        /* recycled chunks, at most SPARE_CHUNKS */
    int nspare;
    peer_stats stats;
} peer;

struct peer_transport {
    peer_opts o;
    pthread_rwlock_t table_lock; /* read: looking a peer up; write: adding or removing one */
    peer **peers;
    size_t npeers;
};

/* ---- encoding ---- */

static size_t varint_put(uint8_t *dst, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

/* proto3 leaves zero fields out, so the header is as the generated decoder expects. */
static size_t header_put(uint8_t *dst, uint64_t cluster_id, uint64_t from, uint64_t to)
{
    size_t n = 0;
    const struct {
        uint8_t tag;
        uint64_t v;
    } f[] = {{TAG_VARINT(coordpb_RaftBatch_cluster_id_tag), cluster_id},
             {TAG_VARINT(coordpb_RaftBatch_from_tag), from},
             {TAG_VARINT(coordpb_RaftBatch_to_tag), to}};
    for (size_t i = 0; i < 3; i++) {
        if (!f[i].v) continue;
        dst[n++] = f[i].tag;
        n += varint_put(dst + n, f[i].v);
    }
    return n;
}

/* ---- chunks (caller holds pr->mu) ---- */

static void chunk_recycle(peer *pr, chunk *c)
{
    if (pr->nspare < SPARE_CHUNKS && c->cap <= pr->header_len + PEER_BATCH_MAX_BYTES) {
        c->next = pr->spare;
        pr->spare = c;
        pr->nspare++;
        return;
    }
    free(c->buf);
    free(c);
}

static bool chunk_reserve(chunk *c, size_t need)
{
    if (c->len + need <= c->cap) return true;
    size_t cap = c->cap ? c->cap : CHUNK_MIN_CAP;
    while (cap < c->len + need) cap *= 2;
    uint8_t *buf = realloc(c->buf, cap);
    if (!buf) return false;
    c->buf = buf;
    c->cap = cap;
    return true;
}

/* The chunk a message of `need` encoded bytes goes into: the tail if it has room within the
 * batch bounds, else a new one (a message over the byte bound gets a chunk of its own). */
static chunk *chunk_for(peer *pr, size_t need)
{
    chunk *c = pr->tail;
    if (c && c->nmsgs < PEER_BATCH_MAX_MSGS &&
        c->len - pr->header_len + need <= PEER_BATCH_MAX_BYTES)
        return chunk_reserve(c, need) ? c : NULL;

    if (pr->spare) {
        c = pr->spare;
        pr->spare = c->next;
        pr->nspare--;
    } else {
        c = calloc(1, sizeof(*c));
        if (!c) return NULL;
    }
    c->next = NULL;
    c->len = 0;
    c->nmsgs = 0;
    if (!chunk_reserve(c, pr->header_len + need)) {
        chunk_recycle(pr, c);
        return NULL;
    }
    memcpy(c->buf, pr->header, pr->header_len);
    c->len = pr->header_len;
    if (pr->tail)
        pr->tail->next = c;
    else
        pr->head = c;
    pr->tail = c;
    pr->queued_bytes += c->len;
    return c;
}

/* Drops everything queued; returns how many messages that was. */
static uint64_t drop_queue(peer *pr)
{
    uint64_t dropped = 0;
    while (pr->head) {
        chunk *c = pr->head;
        pr->head = c->next;
        dropped += c->nmsgs;
        chunk_recycle(pr, c);
    }
    pr->tail = NULL;
    pr->queued_bytes = 0;
    pr->stats.dropped += dropped;
    return dropped;
}

static void note_drop(peer *pr)
{
    pr->stats.dropped++;
    if (pr->report_pending) return;
    pr->report_pending = true;
    if (pr->sender_waiting) pthread_cond_signal(&pr->wake);
}

/* ---- sending ---- */

static peer *find_peer(peer_transport *t, uint64_t id, size_t *index)
{
    for (size_t i = 0; i < t->npeers; i++)
        if (t->peers[i]->id == id) {
            if (index) *index = i;
            return t->peers[i];
        }
    return NULL;
}

int peer_send_encoded(peer_transport *t, uint64_t to, size_t len, peer_encode_fn encode, void *arg)
{
    pthread_rwlock_rdlock(&t->table_lock);
    peer *pr = find_peer(t, to, NULL);
    if (!pr) {
        pthread_rwlock_unlock(&t->table_lock);
        return -1;
    }
    int rc = -1;
    size_t need = 1 + varint_len(len) + len;
    pthread_mutex_lock(&pr->mu);
    chunk *c = NULL;
    if (pr->state != LINK_DOWN && !pr->stopping && len <= MSG_MAX &&
        pr->queued_bytes + need <= t->o.max_queue_bytes)
        c = chunk_for(pr, need);
    if (!c) {
        note_drop(pr);
    } else {
        uint8_t *dst = c->buf + c->len;
        size_t hdr = 0;
        dst[hdr++] = TAG_BYTES(coordpb_RaftBatch_msgs_tag);
        hdr += varint_put(dst + hdr, len);
        if (encode(arg, dst + hdr, len)) {
            c->len += need;
            c->nmsgs++;
            pr->queued_bytes += need;
            if (pr->sender_waiting) pthread_cond_signal(&pr->wake);
            rc = 0;
        } else if (c->nmsgs == 0) { /* a chunk just started for it: take it back */
            pr->queued_bytes -= c->len;
            chunk *prev = NULL;
            for (chunk *x = pr->head; x != c; x = x->next) prev = x;
            if (prev)
                prev->next = NULL;
            else
                pr->head = NULL;
            pr->tail = prev;
            chunk_recycle(pr, c);
        }
    }
    pthread_mutex_unlock(&pr->mu);
    pthread_rwlock_unlock(&t->table_lock);
    return rc;
}

typedef struct copy_src {
    const uint8_t *msg;
} copy_src;

static bool copy_encode(void *arg, uint8_t *dst, size_t len)
{
    if (len) memcpy(dst, ((copy_src *)arg)->msg, len);
    return true;
}

int peer_send(peer_transport *t, uint64_t to, const uint8_t *msg, size_t len)
{
    copy_src src = {msg};
    return peer_send_encoded(t, to, len, copy_encode, &src);
}

/* ---- the sender thread ---- */

static void report(peer *pr)
{
    peer_transport *t = pr->t;
    if (t->o.unreachable) t->o.unreachable(t->o.arg, pr->id);
}

/* Waits on `wake` (pr->mu held) until signalled or the monotonic deadline (NULL: none).
 * Returns false on the deadline. */
static bool wait_wake(peer *pr, const struct timespec *deadline)
{
    pr->sender_waiting = true;
    int rc = deadline ? pthread_cond_timedwait(&pr->wake, &pr->mu, deadline)
                      : pthread_cond_wait(&pr->wake, &pr->mu);
    pr->sender_waiting = false;
    return rc != ETIMEDOUT;
}

/* Reports pending drops (pr->mu held; released around the callback). Returns true if it did. */
static bool report_if_pending(peer *pr)
{
    if (!pr->report_pending) return false;
    pr->report_pending = false;
    pthread_mutex_unlock(&pr->mu);
    report(pr);
    pthread_mutex_lock(&pr->mu);
    return true;
}

/* How long gRPC may take to accept a message of len bytes before the link counts as stalled:
 * PEER_STALL_MS, plus 1 ms per KiB so a large message on a slow link is not mistaken for it. */
static int64_t stall_ms(size_t len)
{
    return PEER_STALL_MS + (int64_t)(len / 1024);
}

typedef enum stream_end {
    END_FAILED,  /* a send failed: the peer is unreachable or ended the stream */
    END_STOPPED, /* the transport is stopping or the address changed */
} stream_end;

/* Sends the hello and waits for the peer to accept it, then sends chunks until the stream
 * fails or must end. *was_up: the peer accepted the stream. */
static stream_end run_stream(peer *pr, peer_conn *c, uint64_t gen, bool *was_up)
{
    *was_up = false;
    if (peer_conn_send(c, pr->header, pr->header_len, PEER_STALL_MS) != 0 ||
        peer_conn_recv(c, PEER_STALL_MS) != 0)
        return END_FAILED;
    *was_up = true;
    pthread_mutex_lock(&pr->mu);
    pr->state = LINK_UP;
    pr->stats.up = true;
    if (pr->ever_up) pr->stats.reconnects++;
    pr->ever_up = true;
    for (;;) {
        if (report_if_pending(pr)) continue;
        if (pr->stopping || pr->addr_gen != gen) {
            pthread_mutex_unlock(&pr->mu);
            return END_STOPPED;
        }
        if (!pr->head) {
            wait_wake(pr, NULL);
            continue;
        }
        chunk *ch = pr->head;
        pr->head = ch->next;
        if (!pr->head) pr->tail = NULL;
        pr->queued_bytes -= ch->len;
        pthread_mutex_unlock(&pr->mu);

        int rc = peer_conn_send(c, ch->buf, ch->len, stall_ms(ch->len));

        pthread_mutex_lock(&pr->mu);
        if (rc == 0) {
            pr->stats.sent_msgs += ch->nmsgs;
            pr->stats.batches++;
        } else {
            pr->stats.dropped += ch->nmsgs;
            pr->report_pending = true;
        }
        chunk_recycle(pr, ch);
        if (rc != 0) {
            pthread_mutex_unlock(&pr->mu);
            return END_FAILED;
        }
    }
}

static void log_failure(peer *pr, const char *addr, peer_conn *c, bool was_up)
{
    char *why = NULL;
    grpc_status_code code = c ? peer_conn_status(c, &why) : GRPC_STATUS_INTERNAL;
    fprintf(stderr, "coord: peer %016llx at %s %s: %s (status %d)\n", (unsigned long long)pr->id,
            addr ? addr : "?", was_up ? "lost its stream" : "is unreachable",
            why && *why ? why : (c ? "no reason given" : "cannot open a stream"), (int)code);
    free(why);
}

static void *sender_main(void *arg)
{
    peer *pr = arg;
    int64_t backoff_ms = BACKOFF_MIN_MS;
    bool quiet = false; /* the link's failure was logged; stay quiet until it comes back */
    for (;;) {
        pthread_mutex_lock(&pr->mu);
        if (pr->stopping) {
            pthread_mutex_unlock(&pr->mu);
            break;
        }
        uint64_t gen = pr->addr_gen;
        char *addr = strdup(pr->addr);
        pr->state = LINK_CONNECTING;
        pthread_mutex_unlock(&pr->mu);

        peer_conn *c = NULL;
        stream_end end = END_FAILED;
        bool was_up = false;
        if (addr && peer_conn_open(addr, PEER_RAFT_METHOD, &c) == 0) {
            pthread_mutex_lock(&pr->mu);
            pr->conn = c;
            /* A stop or a new address that came while opening: end this stream at once. */
            if (pr->stopping || pr->addr_gen != gen) peer_conn_cancel(c);
            pthread_mutex_unlock(&pr->mu);
            end = run_stream(pr, c, gen, &was_up);
        }

        pthread_mutex_lock(&pr->mu);
        pr->conn = NULL;
        pr->state = LINK_DOWN;
        pr->stats.up = false;
        if (drop_queue(pr)) pr->report_pending = true;
        bool stopping = pr->stopping;
        pthread_mutex_unlock(&pr->mu);

        if (was_up) {
            quiet = false;
            backoff_ms = BACKOFF_MIN_MS;
        }
        if (end == END_FAILED && !stopping && !quiet) {
            log_failure(pr, addr, c, was_up);
            quiet = true;
        }
        peer_conn_close(c);
        free(addr);
        if (stopping) break;

        /* Back off, reporting drops meanwhile; a new address cuts the wait short. */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += backoff_ms / 1000;
        deadline.tv_nsec += (backoff_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&pr->mu);
        for (;;) {
            if (report_if_pending(pr)) continue;
            if (pr->stopping || pr->addr_gen != gen) break;
            if (!wait_wake(pr, &deadline)) break;
        }
        pthread_mutex_unlock(&pr->mu);
        if (end == END_FAILED)
            backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
    return NULL;
}

/* ---- peers ---- */

static peer *peer_new(peer_transport *t, uint64_t id, const char *host_port)
{
    peer *pr = calloc(1, sizeof(*pr));
    if (!pr) return NULL;
    pr->addr = strdup(host_port);
    if (!pr->addr) goto fail_free_peer;
    pr->t = t;
    pr->id = id;
    pr->header_len = header_put(pr->header, t->o.cluster_id, t->o.self_id, id);
    pr->state = LINK_CONNECTING;
    pthread_mutex_init(&pr->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pr->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&pr->thread, NULL, sender_main, pr) != 0) goto fail_destroy_sync;
    return pr;

fail_destroy_sync:
    pthread_cond_destroy(&pr->wake);
    pthread_mutex_destroy(&pr->mu);
    free(pr->addr);
fail_free_peer:
    free(pr);
    return NULL;
}

/* Stops the sender and frees the peer; nobody else may reach it any more. */
static void peer_free(peer *pr)
{
    pthread_mutex_lock(&pr->mu);
    pr->stopping = true;
    if (pr->conn) peer_conn_cancel(pr->conn);
    pthread_cond_signal(&pr->wake);
    pthread_mutex_unlock(&pr->mu);
    pthread_join(pr->thread, NULL);

    drop_queue(pr);
    while (pr->spare) {
        chunk *c = pr->spare;
        pr->spare = c->next;
        free(c->buf);
        free(c);
    }
    pthread_cond_destroy(&pr->wake);
    pthread_mutex_destroy(&pr->mu);
    free(pr->addr);
    free(pr);
}

int peer_add(peer_transport *t, uint64_t id, const char *host_port)
{
    if (id == 0 || id == t->o.self_id || !host_port) return -1;
    int rc = -1;
    pthread_rwlock_wrlock(&t->table_lock);
    peer *pr = find_peer(t, id, NULL);
    if (pr) {
        char *addr = strdup(host_port);
        if (addr) {
            pthread_mutex_lock(&pr->mu);
            if (strcmp(addr, pr->addr) != 0) {
                free(pr->addr);
                pr->addr = addr;
                addr = NULL;
                pr->addr_gen++;
                if (pr->conn) peer_conn_cancel(pr->conn);
                pthread_cond_signal(&pr->wake);
            }
            pthread_mutex_unlock(&pr->mu);
            free(addr);
            rc = 0;
        }
    } else {
        peer **grown = realloc(t->peers, (t->npeers + 1) * sizeof(*grown));
        if (grown) {
            t->peers = grown;
            pr = peer_new(t, id, host_port);
            if (pr) {
                t->peers[t->npeers++] = pr;
                rc = 0;
            }
        }
    }
    pthread_rwlock_unlock(&t->table_lock);
    return rc;
}

int peer_addr(peer_transport *t, uint64_t id, char *out, size_t cap)
{
    int rc = -1;
    pthread_rwlock_rdlock(&t->table_lock);
    peer *pr = find_peer(t, id, NULL);
    if (pr) {
        pthread_mutex_lock(&pr->mu);
        size_t n = strlen(pr->addr);
        if (n < cap) {
            memcpy(out, pr->addr, n + 1);
            rc = 0;
        }
        pthread_mutex_unlock(&pr->mu);
    }
    pthread_rwlock_unlock(&t->table_lock);
    return rc;
}

void peer_remove(peer_transport *t, uint64_t id)
{
    size_t i;
    pthread_rwlock_wrlock(&t->table_lock);
    peer *pr = find_peer(t, id, &i);
    if (pr) t->peers[i] = t->peers[--t->npeers];
    pthread_rwlock_unlock(&t->table_lock);
    if (pr) peer_free(pr);
}

int peer_get_stats(peer_transport *t, uint64_t id, peer_stats *out)
{
    pthread_rwlock_rdlock(&t->table_lock);
    peer *pr = find_peer(t, id, NULL);
    if (pr) {
        pthread_mutex_lock(&pr->mu);
        *out = pr->stats;
        out->queued_bytes = pr->queued_bytes;
        pthread_mutex_unlock(&pr->mu);
    }
    pthread_rwlock_unlock(&t->table_lock);
    return pr ? 0 : -1;
}

/* ---- receiving ---- */

/* One incoming stream. */
typedef struct in_stream {
    uint64_t from;  /* the sender named by the stream's first batch */
    bool accepted;  /* the first batch passed the checks and RaftAccept was sent */
    bool refused;   /* the stream was ended: ignore whatever still arrives */
    bool no_memory; /* on_open could not allocate: refuse at the first message */
} in_stream;

static void in_open(void *ctx, rpc_stream *s, void **state)
{
    (void)ctx;
    (void)s;
    *state = calloc(1, sizeof(in_stream));
}

static void refuse(in_stream *is, rpc_stream *s, grpc_status_code code, const char *why)
{
    is->refused = true;
    rpc_stream_finish(s, code, why);
}

static void in_message(void *ctx, rpc_stream *s, void *state, const uint8_t *msg, size_t len)
{
    peer_transport *t = ctx;
    in_stream *is = state;
    if (!is) {
        rpc_stream_finish(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "coord: out of memory");
        return;
    }
    if (is->refused) return;

    coordpb_RaftBatch b = {0};
    const char *why = NULL;
    if (pbx_decode_why(&coordpb_RaftBatch_msg, &b, msg, len, &why) != 0) {
        fprintf(stderr, "coord: refusing a peer stream: malformed RaftBatch (%s)\n",
                why ? why : "?");
        refuse(is, s, GRPC_STATUS_INVALID_ARGUMENT, "coord: malformed RaftBatch");
        return;
    }
    if (b.cluster_id != t->o.cluster_id) {
        fprintf(stderr,
                "coord: refusing Raft messages from member %016llx: cluster ID %016llx, "
                "ours is %016llx\n",
                (unsigned long long)b.from, (unsigned long long)b.cluster_id,
                (unsigned long long)t->o.cluster_id);
        refuse(is, s, GRPC_STATUS_FAILED_PRECONDITION, "etcdserver: cluster ID mismatch");
    } else if (b.to != t->o.self_id) {
        fprintf(stderr,
                "coord: refusing Raft messages from member %016llx: they are for member "
                "%016llx, this is %016llx\n",
                (unsigned long long)b.from, (unsigned long long)b.to,
                (unsigned long long)t->o.self_id);
        refuse(is, s, GRPC_STATUS_FAILED_PRECONDITION, "coord: member ID mismatch");
    } else if (is->accepted && b.from != is->from) {
        fprintf(stderr, "coord: refusing a peer stream: member %016llx became %016llx\n",
                (unsigned long long)is->from, (unsigned long long)b.from);
        refuse(is, s, GRPC_STATUS_INVALID_ARGUMENT, "coord: sender changed within a stream");
    } else {
        if (!is->accepted) {
            coordpb_RaftAccept acc = {0};
            is->accepted = true;
            is->from = b.from;
            rpc_stream_send_msg(s, &coordpb_RaftAccept_msg, &acc);
        }
        const pbx_bytes_t *m = b.msgs.items;
        for (size_t i = 0; i < b.msgs.count; i++)
            t->o.deliver(t->o.arg, b.from, m[i].ptr, m[i].len);
    }
    pbx_release(&coordpb_RaftBatch_msg, &b);
}

static void in_close(void *ctx, rpc_stream *s, void *state)
{
    (void)ctx;
    (void)s;
    free(state);
}

int peer_register(peer_transport *t, rpc_server *srv)
{
    rpc_stream_handlers h = {.on_open = in_open, .on_message = in_message, .on_close = in_close};
    return rpc_server_add_stream(srv, PEER_RAFT_METHOD, &h, t);
}

/* ---- the transport ---- */

int peer_create(const peer_opts *o, peer_transport **out)
{
    if (!o || !o->deliver || o->self_id == 0) return -1;
    peer_transport *t = calloc(1, sizeof(*t));
    if (!t) return -1;
    /* Held for the transport's life, so gRPC is not torn down and set up again between two
     * connection attempts when nothing else in the process uses it. */
    grpc_init();
    t->o = *o;
    if (!t->o.max_queue_bytes) t->o.max_queue_bytes = DEFAULT_MAX_QUEUE;
    pthread_rwlock_init(&t->table_lock, NULL);
    *out = t;
    return 0;
}

void peer_destroy(peer_transport *t)
{
    if (!t) return;
    /* Stop all senders first (cancel every stream), then join them one by one. */
    for (size_t i = 0; i < t->npeers; i++) {
        peer *pr = t->peers[i];
        pthread_mutex_lock(&pr->mu);
        pr->stopping = true;
        if (pr->conn) peer_conn_cancel(pr->conn);
        pthread_cond_signal(&pr->wake);
        pthread_mutex_unlock(&pr->mu);
    }
    for (size_t i = 0; i < t->npeers; i++) peer_free(t->peers[i]);
    free(t->peers);
    pthread_rwlock_destroy(&t->table_lock);
    free(t);
    grpc_shutdown();
}
