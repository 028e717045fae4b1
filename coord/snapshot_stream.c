/* snapshot_stream: shipping a snapshot's files. Contract in snapshot_stream.h. */
#include "snapshot_stream.h"

#include "coord.pb.h"
#include "pbx.h"
#include "peer.h"
#include "peer_conn.h"
#include "raft.h"
#include "snapshot_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for a chunk's fields besides its data: IDs, offsets, a file name. */
#define CHUNK_OVERHEAD (512 + SNAPSHOT_FILE_NAME_MAX)

static int fail(char **err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(err, fmt, ap) < 0) *err = NULL;
        va_end(ap);
    }
    return -1;
}

static char *path_join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return NULL;
    return p;
}

/* As the Raft stream: gRPC may take PEER_STALL_MS, plus 1 ms per KiB, to accept a message. */
static int64_t stall_ms(size_t len)
{
    return PEER_STALL_MS + (int64_t)(len / 1024);
}

/* ---------------------------------------------------------------- sending -------------- */

struct snapshot_sender {
    pthread_mutex_t mu;
    peer_conn *conn; /* while run has a stream open */
    bool cancelled;
};

int snapshot_sender_create(snapshot_sender **out)
{
    snapshot_sender *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

void snapshot_sender_cancel(snapshot_sender *s)
{
    pthread_mutex_lock(&s->mu);
    s->cancelled = true;
    if (s->conn) peer_conn_cancel(s->conn);
    pthread_mutex_unlock(&s->mu);
}

void snapshot_sender_free(snapshot_sender *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

typedef struct send_buf {
    uint8_t *data; /* one chunk of file bytes */
    uint8_t *enc;  /* the encoded SnapshotChunk */
    size_t data_cap, enc_cap;
} send_buf;

static int send_chunk(peer_conn *c, send_buf *b, const coordpb_SnapshotChunk *m, char **err)
{
    size_t len = 0;
    if (pbx_encode_to(&coordpb_SnapshotChunk_msg, m, b->enc, b->enc_cap, &len) != 0)
        return fail(err, "encoding a snapshot chunk");
    if (peer_conn_send(c, b->enc, len, stall_ms(len)) != 0) return -1;
    return 0;
}

static int send_file(peer_conn *c, send_buf *b, const snapshot_send_opts *o, const snapshot_file *f,
                     char **err)
{
    char *path = path_join(o->dir, f->name);
    if (!path) return fail(err, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, "opening %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    coordpb_SnapshotChunk m = {.cluster_id = o->cluster_id, .from = o->from, .to = o->to};
    m.file = (pbx_bytes_t){(const uint8_t *)f->name, strlen(f->name)};
    m.file_size = f->size;
    int rc = 0;
    uint64_t off = 0;
    /* An empty file still travels, as one empty chunk. */
    do {
        size_t want = f->size - off < b->data_cap ? (size_t)(f->size - off) : b->data_cap;
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(fd, b->data + got, want - got, (off_t)(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                rc = fail(err, "reading %s: %s", path, r < 0 ? strerror(errno) : "file shrank");
                break;
            }
            got += (size_t)r;
        }
        if (rc != 0) break;
        m.offset = off;
        m.data = (pbx_bytes_t){b->data, want};
        if ((rc = send_chunk(c, b, &m, err)) != 0) break;
        off += want;
    } while (off < f->size);
    close(fd);
    free(path);
    return rc;
}

static int run_stream(peer_conn *c, const snapshot_send_opts *o, char **err)
{
    send_buf b = {0};
    b.data_cap = o->chunk_bytes ? o->chunk_bytes : SNAPSHOT_CHUNK_BYTES;
    b.enc_cap = (b.data_cap > o->raft_msg_len ? b.data_cap : o->raft_msg_len) + CHUNK_OVERHEAD;
    b.data = malloc(b.data_cap);
    b.enc = malloc(b.enc_cap);
    int rc = -1;
    if (!b.data || !b.enc) {
        fail(err, "out of memory");
        goto done_free;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < o->n_files; i++) {
        if (send_file(c, &b, o, &o->files[i], err) != 0) goto done_free;
        bytes += o->files[i].size;
    }
    coordpb_SnapshotChunk last = {.cluster_id = o->cluster_id, .from = o->from, .to = o->to};
    last.raft_msg = (pbx_bytes_t){o->raft_msg, o->raft_msg_len};
    last.total_files = o->n_files;
    last.total_bytes = bytes;
    if (send_chunk(c, &b, &last, err) != 0) goto done_free;
    /* The receiver syncs everything before it acks: allow for the disk as for the network. */
    if (peer_conn_recv(c, stall_ms((size_t)bytes)) != 0) goto done_free;
    rc = 0;
done_free:
    free(b.data);
    free(b.enc);
    return rc;
}

int snapshot_sender_run(snapshot_sender *s, const snapshot_send_opts *o, char **err)
{
    if (err) *err = NULL;
    peer_conn *c;
    if (peer_conn_open(o->host_port, SNAPSHOT_METHOD, &c) != 0)
        return fail(err, "cannot open a stream to %s", o->host_port);
    pthread_mutex_lock(&s->mu);
    s->conn = c;
    if (s->cancelled) peer_conn_cancel(c);
    pthread_mutex_unlock(&s->mu);

    char *why = NULL;
    int rc = run_stream(c, o, &why);
    if (rc != 0 && !why) {
        /* The stream ended: the receiver's status says why. */
        char *msg = NULL;
        grpc_status_code code = peer_conn_status(c, &msg);
        fail(&why, "%s (status %d)", msg && *msg ? msg : "stream ended", (int)code);
        free(msg);
    }
    pthread_mutex_lock(&s->mu);
    s->conn = NULL;
    bool cancelled = s->cancelled;
    pthread_mutex_unlock(&s->mu);
    peer_conn_close(c);
    if (rc != 0) {
        if (cancelled) {
            free(why);
            why = strdup("cancelled");
        }
        if (err)
            *err = why;
        else
            free(why);
    }
    return rc;
}

/* ---------------------------------------------------------------- receiving ------------ */

/* A received snapshot on its way to the node, for the worker. */
typedef struct finish_job {
    struct finish_job *next;
    rpc_stream *stream; /* referenced */
    uint64_t from;
    char *tmp, *final;
    uint64_t files, bytes;
    size_t msg_len;
    uint8_t msg[]; /* the SNAP message */
} finish_job;

struct snapshot_recv {
    snapshot_recv_opts o;
    char *incoming;
    _Atomic uint64_t seq; /* numbers the temporary directories */
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    finish_job *head, *tail; /* guarded by mu */
    bool stopping;
};

/* One incoming stream. */
typedef struct in_snap {
    bool refused, queued, started;
    uint64_t from;
    char *tmp;
    int fd; /* the file being written, or -1 */
    char name[SNAPSHOT_FILE_NAME_MAX + 1];
    uint64_t size, written;
    uint64_t files, bytes;
} in_snap;

static void in_discard(in_snap *is)
{
    if (is->fd >= 0) close(is->fd);
    is->fd = -1;
    if (is->tmp && !is->queued) snapshot_files_remove(is->tmp);
    free(is->tmp);
    is->tmp = NULL;
}

static void refuse(in_snap *is, rpc_stream *s, grpc_status_code code, const char *why)
{
    if (is->refused) return;
    fprintf(stderr, "coord: refusing a snapshot from member %016llx: %s\n",
            (unsigned long long)is->from, why);
    is->refused = true;
    in_discard(is);
    rpc_stream_finish(s, code, why);
}

static void in_open(void *ctx, rpc_stream *s, void **state)
{
    (void)ctx;
    (void)s;
    in_snap *is = calloc(1, sizeof(*is));
    if (is) is->fd = -1;
    *state = is;
}

static void in_close(void *ctx, rpc_stream *s, void *state)
{
    (void)ctx;
    (void)s;
    in_snap *is = state;
    if (!is) return;
    in_discard(is);
    free(is);
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* One chunk of file bytes. Returns NULL, or why the stream is refused. */
static const char *take_file_chunk(in_snap *is, const coordpb_SnapshotChunk *m)
{
    bool same = is->fd >= 0 && m->file.len == strlen(is->name) &&
                memcmp(m->file.ptr, is->name, m->file.len) == 0;
    if (!same) {
        if (is->fd >= 0) {
            if (is->written != is->size) return "a file ended early";
            close(is->fd);
            is->fd = -1;
        }
        if (!snapshot_file_name_ok((const char *)m->file.ptr, m->file.len))
            return "a file name is not plain";
        if (m->offset != 0) return "a file does not start at offset 0";
        memcpy(is->name, m->file.ptr, m->file.len);
        is->name[m->file.len] = '\0';
        char *path = path_join(is->tmp, is->name);
        if (!path) return "out of memory";
        is->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        free(path);
        if (is->fd < 0) return errno == EEXIST ? "a file came twice" : "cannot create a file";
        is->size = m->file_size;
        is->written = 0;
        is->files++;
    }
    if (m->offset != is->written || m->file_size != is->size) return "chunks out of order";
    if (m->data.len > is->size - is->written) return "a file is longer than announced";
    if (m->data.len) {
        if (write_all(is->fd, m->data.ptr, m->data.len, is->written) != 0)
            return "cannot write a file";
        /* Start the write-back now, so the final fsync has little left and dirty pages do not
         * pile up while a large snapshot arrives. */
        sync_file_range(is->fd, (off64_t)is->written, (off64_t)m->data.len, SYNC_FILE_RANGE_WRITE);
    }
    is->written += m->data.len;
    is->bytes += m->data.len;
    return NULL;
}

/* The last message: check it, then hand the snapshot to the worker. Returns NULL or why not. */
static const char *take_last(snapshot_recv *r, in_snap *is, rpc_stream *s,
                             const coordpb_SnapshotChunk *m)
{
    if (is->fd >= 0) {
        if (is->written != is->size) return "a file ended early";
        close(is->fd);
        is->fd = -1;
    }
    if (m->total_files != is->files || m->total_bytes != is->bytes)
        return "the totals do not match what arrived";
    raft_msg rm;
    if (raft_msg_decode(m->raft_msg.ptr, m->raft_msg.len, &rm) != RAFT_OK)
        return "the raft message does not decode";
    snapshot_name name;
    bool ok = rm.type == RAFT_MSG_SNAP && rm.from == is->from && rm.to == r->o.self_id &&
              rm.snapshot &&
              snapshot_name_decode(rm.snapshot->data, rm.snapshot->len, &name) == 0 &&
              name.index == rm.snapshot->meta.index;
    raft_msg_free(&rm);
    if (!ok) return "the raft message is not a snapshot for this member";

    finish_job *j = calloc(1, sizeof(*j) + m->raft_msg.len);
    char fname[SNAPSHOT_NAME_MAX];
    snapshot_name_format(&name, fname);
    if (!j || !(j->final = path_join(r->incoming, fname))) {
        free(j);
        return "out of memory";
    }
    memcpy(j->msg, m->raft_msg.ptr, m->raft_msg.len);
    j->msg_len = m->raft_msg.len;
    j->from = is->from;
    j->files = is->files;
    j->bytes = is->bytes;
    j->tmp = is->tmp;
    is->tmp = NULL; /* the job's now */
    is->queued = true;
    rpc_stream_ref(s);
    j->stream = s;
    pthread_mutex_lock(&r->mu);
    if (r->tail)
        r->tail->next = j;
    else
        r->head = j;
    r->tail = j;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void in_message(void *ctx, rpc_stream *s, void *state, const uint8_t *msg, size_t len)
{
    snapshot_recv *r = ctx;
    in_snap *is = state;
    if (!is) {
        rpc_stream_finish(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "coord: out of memory");
        return;
    }
    if (is->refused) return;
    coordpb_SnapshotChunk m = {0};
    if (pbx_decode(&coordpb_SnapshotChunk_msg, &m, msg, len) != 0) {
        refuse(is, s, GRPC_STATUS_INVALID_ARGUMENT, "coord: malformed SnapshotChunk");
        return;
    }
    const char *why = NULL;
    grpc_status_code code = GRPC_STATUS_INVALID_ARGUMENT;
    if (m.cluster_id != r->o.cluster_id) {
        code = GRPC_STATUS_FAILED_PRECONDITION;
        why = "etcdserver: cluster ID mismatch";
    } else if (m.to != r->o.self_id) {
        code = GRPC_STATUS_FAILED_PRECONDITION;
        why = "coord: member ID mismatch";
    } else if (is->started && m.from != is->from) {
        why = "coord: sender changed within a stream";
    } else if (is->queued) {
        why = "coord: chunk after the last one";
    }
    if (!why && !is->started) {
        is->started = true;
        is->from = m.from;
        char name[64];
        snprintf(name, sizeof(name), "tmp-%016" PRIx64 "-%" PRIu64, m.from,
                 atomic_fetch_add(&r->seq, 1));
        is->tmp = path_join(r->incoming, name);
        if (!is->tmp || snapshot_files_remove(is->tmp) != 0 || mkdir(is->tmp, 0700) != 0) {
            code = GRPC_STATUS_INTERNAL;
            why = "coord: cannot create the snapshot directory";
        }
    }
    if (!why) {
        why = m.raft_msg.len ? take_last(r, is, s, &m) : take_file_chunk(is, &m);
    }
    if (why) {
        if (!is->from) is->from = m.from;
        refuse(is, s, code, why);
    }
    pbx_release(&coordpb_SnapshotChunk_msg, &m);
}

/* fsync, rename into place, deliver, ack. Returns NULL or why it failed. */
static const char *finish(snapshot_recv *r, finish_job *j)
{
    if (snapshot_files_sync_dir(j->tmp) != 0) return "cannot sync the snapshot's files";
    if (access(j->final, F_OK) == 0) {
        /* Same name, same token: this checkpoint arrived before and was not installed yet. */
        snapshot_files_remove(j->tmp);
    } else if (rename(j->tmp, j->final) != 0 || snapshot_files_sync_parent(j->final) != 0) {
        return "cannot move the snapshot into place";
    }
    fprintf(stderr,
            "coord: received snapshot %s from member %016llx: %" PRIu64 " files, %" PRIu64
            " bytes\n",
            strrchr(j->final, '/') + 1, (unsigned long long)j->from, j->files, j->bytes);
    r->o.deliver(r->o.arg, j->from, j->msg, j->msg_len);
    return NULL;
}

static void job_free(finish_job *j)
{
    if (j->tmp) snapshot_files_remove(j->tmp);
    free(j->tmp);
    free(j->final);
    rpc_stream_unref(j->stream);
    free(j);
}

static void *worker_main(void *arg)
{
    snapshot_recv *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->head && !r->stopping) pthread_cond_wait(&r->cv, &r->mu);
        finish_job *j = r->stopping ? NULL : r->head;
        if (j) {
            r->head = j->next;
            if (!r->head) r->tail = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        if (!j) return NULL;
        const char *why = finish(r, j);
        if (why) {
            fprintf(stderr, "coord: a snapshot from member %016llx is lost: %s\n",
                    (unsigned long long)j->from, why);
            rpc_stream_finish(j->stream, GRPC_STATUS_INTERNAL, why);
        } else {
            coordpb_SnapshotAck ack = {0};
            rpc_stream_send_msg(j->stream, &coordpb_SnapshotAck_msg, &ack);
            rpc_stream_finish(j->stream, GRPC_STATUS_OK, NULL);
            free(j->tmp);
            j->tmp = NULL; /* renamed or removed */
        }
        job_free(j);
    }
}

int snapshot_recv_create(const snapshot_recv_opts *o, snapshot_recv **out)
{
    if (!o->deliver || !o->incoming_dir) return -1;
    snapshot_recv *r = calloc(1, sizeof(*r));
    if (!r) return -1;
    r->o = *o;
    r->incoming = strdup(o->incoming_dir);
    if (!r->incoming || snapshot_files_mkdirs(r->incoming) != 0) goto fail_free;
    r->o.incoming_dir = r->incoming;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->worker, NULL, worker_main, r) != 0) goto fail_destroy_sync;
    *out = r;
    return 0;
fail_destroy_sync:
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
fail_free:
    free(r->incoming);
    free(r);
    return -1;
}

int snapshot_recv_register(snapshot_recv *r, rpc_server *srv)
{
    rpc_stream_handlers h = {.on_open = in_open, .on_message = in_message, .on_close = in_close};
    return rpc_server_add_stream(srv, SNAPSHOT_METHOD, &h, r);
}

void snapshot_recv_destroy(snapshot_recv *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->worker, NULL);
    while (r->head) {
        finish_job *j = r->head;
        r->head = j->next;
        rpc_stream_finish(j->stream, GRPC_STATUS_UNAVAILABLE, "coord: member stopping");
        job_free(j);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->incoming);
    free(r);
}
