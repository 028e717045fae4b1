/* snapshot: the server's snapshots. Contract in snapshot.h. */
#include "snapshot.h"

#include "lease_store.h"
#include "peer.h"
#include "raft_store.h"
#include "snapshot_files.h"
#include "snapshot_store.h"
#include "snapshot_stream.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum { SEAM_BATCH_BYTES = 64 * 1024, MAKE_RETRY_MS = 1000, MAKER_WAKE_MS = 10 * 1000 };

/* One checkpoint on disk. */
typedef struct checkpoint {
    struct checkpoint *next; /* in retired */
    snapshot_name name;
    raft_snapshot_meta meta;
    char *dir;
    snapshot_file *files;
    size_t n_files;
    uint64_t bytes;
    int refs;             /* sends streaming it; guarded by mgr->mu */
    int64_t last_used_ms; /* last offered to the core */
} checkpoint;

typedef struct send_job {
    struct send_job *next;
    snapshot_mgr *m;
    uint64_t to;
    checkpoint *ck; /* referenced */
    snapshot_sender *snd;
    char addr[300];
    size_t msg_len;
    uint8_t msg[]; /* the encoded SNAP message */
} send_job;

struct snapshot_mgr {
    snapshot_mgr_opts o;
    coord_server *s;
    char *snap_dir, *incoming_dir;
    snapshot_recv *recv;
    size_t crash_after; /* the test seam's batch; 0: off */
    pthread_t maker;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* the maker waits here; so does destroy, for the sends to end */
    /* Guarded by mu: */
    checkpoint *current; /* the one offered; NULL until made */
    checkpoint *retired; /* superseded; removed by the maker once unreferenced */
    bool want, making;   /* the core asked for a newer checkpoint / one is being made */
    int64_t retry_at_ms; /* after a failed checkpoint, not before this */
    send_job *jobs;      /* sends under way */
    bool stopping;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *path_join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return NULL;
    return p;
}

static void checkpoint_free(checkpoint *ck)
{
    if (!ck) return;
    if (ck->dir && snapshot_files_remove(ck->dir) != 0)
        fprintf(stderr, "coord: cannot remove the snapshot %s: %s\n", ck->dir, strerror(errno));
    free(ck->dir);
    free(ck->files);
    free(ck);
}

/* ---------------------------------------------------------------- start ---------------- */

int snapshot_startup(storage *st, const char *data_dir)
{
    snapshot_recovery rec;
    char *err = NULL;
    if (snapshot_recover(st, NULL, &rec, &err) != 0) {
        fprintf(stderr, "coord: cannot finish the snapshot install a crash interrupted: %s\n",
                err ? err : "?");
        free(err);
        return -1;
    }
    if (rec.redone)
        fprintf(stderr,
                "coord: finished the snapshot install a crash interrupted: index %" PRIu64
                " (term %" PRIu64 ") from %s, %" PRIu64 " keys\n",
                rec.meta.index, rec.meta.term, rec.dir, rec.stats.keys);
    free(rec.dir);
    /* Nothing in either directory outlives the process that made it: checkpoints are made
     * again on demand, and an install in progress was finished just above. */
    const char *subdirs[] = {"snap", "snap.incoming"};
    for (size_t i = 0; i < 2; i++) {
        char *p = path_join(data_dir, subdirs[i]);
        if (!p || snapshot_files_remove(p) != 0) {
            fprintf(stderr, "coord: cannot clear %s/%s\n", data_dir, subdirs[i]);
            free(p);
            return -1;
        }
        free(p);
    }
    return 0;
}

/* ---------------------------------------------------------------- leader: checkpoints -- */

static uint64_t random_token(void)
{
    uint64_t t = 0;
    if (getrandom(&t, sizeof(t), 0) != (ssize_t)sizeof(t)) t = (uint64_t)now_ms() * 2654435761u;
    return t ? t : 1;
}

static checkpoint *make_checkpoint(snapshot_mgr *m)
{
    int64_t start = now_ms();
    checkpoint *ck = calloc(1, sizeof(*ck));
    if (!ck) return NULL;
    ck->name.token = random_token();
    char tmp[64], name[SNAPSHOT_NAME_MAX];
    snprintf(tmp, sizeof(tmp), "tmp-%016" PRIx64, ck->name.token);
    char *err = NULL;
    char *tmp_dir = path_join(m->snap_dir, tmp);
    if (!tmp_dir || snapshot_files_mkdirs(m->snap_dir) != 0) goto fail;
    if (snapshot_checkpoint(m->s->st, tmp_dir, &ck->meta, &err) != 0) goto fail;
    ck->name.index = ck->meta.index;
    snapshot_name_format(&ck->name, name);
    ck->dir = path_join(m->snap_dir, name);
    if (!ck->dir || rename(tmp_dir, ck->dir) != 0) goto fail;
    free(tmp_dir);
    tmp_dir = NULL;
    if (snapshot_files_list(ck->dir, &ck->files, &ck->n_files) != 0) goto fail;
    for (size_t i = 0; i < ck->n_files; i++) ck->bytes += ck->files[i].size;
    fprintf(stderr,
            "coord: took snapshot %s (index %" PRIu64 ", term %" PRIu64 ") in %lld ms: %zu files, "
            "%" PRIu64 " bytes\n",
            name, ck->meta.index, ck->meta.term, (long long)(now_ms() - start), ck->n_files,
            ck->bytes);
    return ck;

fail:
    fprintf(stderr, "coord: cannot take a snapshot: %s\n",
            err ? err : (errno ? strerror(errno) : "out of memory"));
    free(err);
    if (tmp_dir) snapshot_files_remove(tmp_dir);
    free(tmp_dir);
    checkpoint_free(ck);
    return NULL;
}

/* Retires cur (mu held): it goes once no send uses it. */
static void retire_locked(snapshot_mgr *m, checkpoint *ck)
{
    if (!ck) return;
    ck->next = m->retired;
    m->retired = ck;
}

static void *maker_main(void *arg)
{
    snapshot_mgr *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        if (m->stopping) break;
        /* Unreferenced retired checkpoints, and an idle current one, are removed off the lock. */
        checkpoint *dead = NULL, **pp = &m->retired;
        while (*pp) {
            checkpoint *ck = *pp;
            if (ck->refs == 0) {
                *pp = ck->next;
                ck->next = dead;
                dead = ck;
            } else {
                pp = &ck->next;
            }
        }
        if (m->current && m->current->refs == 0 &&
            now_ms() - m->current->last_used_ms > SNAPSHOT_IDLE_MS) {
            m->current->next = dead;
            dead = m->current;
            m->current = NULL;
        }
        bool make = m->want;
        m->want = false;
        m->making = make;
        pthread_mutex_unlock(&m->mu);
        while (dead) {
            checkpoint *next = dead->next;
            checkpoint_free(dead);
            dead = next;
        }
        checkpoint *ck = make ? make_checkpoint(m) : NULL;
        pthread_mutex_lock(&m->mu);
        if (make) {
            m->making = false;
            if (ck) {
                ck->last_used_ms = now_ms();
                retire_locked(m, m->current);
                m->current = ck;
            } else {
                m->retry_at_ms = now_ms() + MAKE_RETRY_MS;
            }
            continue; /* look at the lists again at once */
        }
        if (m->stopping || m->want || (m->retired && !m->retired->refs)) continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += MAKER_WAKE_MS / 1000;
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* raft_store_snapshot_fn, on the node thread. */
static int snapshot_source(void *arg, const raft_snapshot_meta *point, raft_snapshot *out)
{
    snapshot_mgr *m = arg;
    int rc = RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE;
    pthread_mutex_lock(&m->mu);
    checkpoint *ck = m->current;
    if (ck && ck->meta.index >= point->index) {
        uint8_t *data = malloc(SNAPSHOT_DATA_LEN);
        if (data) {
            snapshot_name_encode(&ck->name, data);
            out->meta = ck->meta;
            out->data = data;
            out->len = SNAPSHOT_DATA_LEN;
            ck->last_used_ms = now_ms();
            rc = RAFT_OK;
        }
    } else if (!m->making && !m->stopping && now_ms() >= m->retry_at_ms) {
        m->want = true;
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---------------------------------------------------------------- leader: sending ------ */

static void *send_main(void *arg)
{
    send_job *j = arg;
    snapshot_mgr *m = j->m;
    coord_server *s = m->s;
    snapshot_send_opts so = {.host_port = j->addr,
                             .cluster_id = s->cluster_id,
                             .from = s->member_id,
                             .to = j->to,
                             .dir = j->ck->dir,
                             .files = j->ck->files,
                             .n_files = j->ck->n_files,
                             .raft_msg = j->msg,
                             .raft_msg_len = j->msg_len};
    char name[SNAPSHOT_NAME_MAX];
    snapshot_name_format(&j->ck->name, name);
    int64_t start = now_ms();
    char *err = NULL;
    int rc = snapshot_sender_run(j->snd, &so, &err);
    if (rc == 0)
        fprintf(stderr,
                "coord: sent snapshot %s to member %016llx in %lld ms: %zu files, %" PRIu64
                " bytes\n",
                name, (unsigned long long)j->to, (long long)(now_ms() - start), j->ck->n_files,
                j->ck->bytes);
    else
        fprintf(stderr, "coord: sending snapshot %s to member %016llx failed: %s\n", name,
                (unsigned long long)j->to, err ? err : "?");
    free(err);
    node_report_snapshot(s->log, j->to, rc == 0);

    pthread_mutex_lock(&m->mu);
    j->ck->refs--;
    for (send_job **pp = &m->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    /* Nothing of m is touched from here on: destroy may be freeing it. */
    snapshot_sender_free(j->snd);
    free(j);
    return NULL;
}

static checkpoint *find_locked(snapshot_mgr *m, uint64_t token)
{
    if (m->current && m->current->name.token == token) return m->current;
    for (checkpoint *ck = m->retired; ck; ck = ck->next)
        if (ck->name.token == token) return ck;
    return NULL;
}

/* Starts a send (mu held). Returns 0, or -1 when none could start. */
static int start_send_locked(snapshot_mgr *m, const raft_msg *msg, checkpoint *ck)
{
    for (send_job *j = m->jobs; j; j = j->next)
        if (j->to == msg->to) return -1; /* one at a time; the core retries after the report */
    size_t len = raft_msg_encoded_size(msg);
    send_job *j = calloc(1, sizeof(*j) + len);
    if (!j) return -1;
    j->m = m;
    j->to = msg->to;
    j->ck = ck;
    j->msg_len = len;
    if (raft_msg_encode(msg, j->msg, len) != len ||
        peer_addr(m->s->peers, msg->to, j->addr, sizeof(j->addr)) != 0 ||
        snapshot_sender_create(&j->snd) != 0)
        goto fail_free_job;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, send_main, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) goto fail_free_sender;
    ck->refs++;
    j->next = m->jobs;
    m->jobs = j;
    return 0;

fail_free_sender:
    snapshot_sender_free(j->snd);
fail_free_job:
    free(j);
    return -1;
}

void snapshot_send_hook(void *arg, const raft_msg *msg)
{
    coord_server *s = arg;
    snapshot_mgr *m = s->snapshots;
    snapshot_name name;
    int rc = -1;
    if (m && msg->snapshot &&
        snapshot_name_decode(msg->snapshot->data, msg->snapshot->len, &name) == 0) {
        pthread_mutex_lock(&m->mu);
        checkpoint *ck = find_locked(m, name.token);
        if (ck && !m->stopping) rc = start_send_locked(m, msg, ck);
        pthread_mutex_unlock(&m->mu);
    }
    /* The core waits for a report before it offers this member another snapshot. */
    if (rc != 0) node_report_snapshot(s->log, msg->to, false);
}

/* ---------------------------------------------------------------- follower ------------- */

static void deliver(void *arg, uint64_t from, const uint8_t *msg, size_t len)
{
    snapshot_mgr *m = arg;
    node_receive(m->s->log, from, msg, len);
}

static int crash_seam(void *arg, size_t n)
{
    snapshot_mgr *m = arg;
    if (n >= m->crash_after) {
        fprintf(stderr,
                "coord: COORD_TEST_CRASH_IN_SNAPSHOT_INSTALL: killing this member after install "
                "batch %zu\n",
                n);
        raise(SIGKILL);
    }
    return 0;
}

/* The lease table holds what the store held: make it hold what the snapshot holds. */
static int reload_leases(coord_server *s)
{
    if (!s->leases) return 0;
    int64_t *ids = NULL;
    size_t n = 0;
    if (lease_table_ids(s->leases, &ids, &n) != LEASE_OK) return -1;
    for (size_t i = 0; i < n; i++) lease_table_revoke(s->leases, ids[i]);
    free(ids);
    char *err = NULL;
    if (lease_store_load(s->st, s->leases, &err) != 0) {
        fprintf(stderr, "coord: reading the leases of the snapshot: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    return 0;
}

/* Received snapshots at or below what is now installed can never be installed any more. */
static void remove_stale_incoming(snapshot_mgr *m, uint64_t installed)
{
    DIR *d = opendir(m->incoming_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t index;
        char tail;
        /* "<index>-<token>": tmp-... directories are streams still arriving. */
        if (sscanf(e->d_name, "%" SCNu64 "-%*16[0-9a-f]%c", &index, &tail) != 1) continue;
        if (index > installed) continue;
        char *p = path_join(m->incoming_dir, e->d_name);
        if (p) snapshot_files_remove(p);
        free(p);
    }
    closedir(d);
}

int snapshot_install_hook(void *arg, const raft_snapshot *snap, rocksdb_writebatch_t *raft_batch)
{
    coord_server *s = arg;
    snapshot_mgr *m = s->snapshots;
    snapshot_name name;
    if (!m || snapshot_name_decode(snap->data, snap->len, &name) != 0 ||
        name.index != snap->meta.index) {
        fprintf(stderr, "coord: a snapshot at %" PRIu64 " does not name one of ours\n",
                snap->meta.index);
        return -1;
    }
    char fname[SNAPSHOT_NAME_MAX];
    snapshot_name_format(&name, fname);
    char *dir = path_join(m->incoming_dir, fname);
    if (!dir) return -1;
    int64_t start = now_ms();
    snapshot_install_opts io = {0};
    if (m->crash_after) {
        io.batch_bytes = SEAM_BATCH_BYTES;
        io.after_batch = crash_seam;
        io.arg = m;
    }
    snapshot_install_stats st = {0};
    char *err = NULL;
    mvcc_pause(s->kv);
    int rc = snapshot_install(s->st, dir, &snap->meta, raft_batch, &io, &st, &err);
    if (mvcc_resume(s->kv) != MVCC_OK && rc == 0) {
        err = strdup("cannot read the installed state's revisions");
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "coord: installing snapshot %s failed: %s\n", fname, err ? err : "?");
        free(err);
        free(dir);
        return -1;
    }
    if (reload_leases(s) != 0) {
        free(dir);
        return -1;
    }
    if (m->o.reloaded) m->o.reloaded(m->o.reloaded_arg);
    /* The copy's batches and the checkpoint's readers were freed in glibc's arenas; hand that
     * memory back now (measured at 100,000 keys: a follower kept 10-30 MiB more than the leader
     * without this). */
    malloc_trim(0);
    if (s->on_revision) s->on_revision(s->on_revision_arg, mvcc_current_rev(s->kv));
    fprintf(stderr,
            "coord: installed snapshot %s (index %" PRIu64 ", term %" PRIu64
            ") in %lld ms: %" PRIu64 " keys, %" PRIu64 " bytes, %zu batches\n",
            fname, snap->meta.index, snap->meta.term, (long long)(now_ms() - start), st.keys,
            st.bytes, st.batches);
    if (snapshot_files_remove(dir) != 0)
        fprintf(stderr, "coord: cannot remove %s: %s\n", dir, strerror(errno));
    free(dir);
    remove_stale_incoming(m, snap->meta.index);
    return 0;
}

/* ---------------------------------------------------------------- lifecycle ------------ */

int snapshot_mgr_create(const snapshot_mgr_opts *o, snapshot_mgr **out)
{
    snapshot_mgr *m = calloc(1, sizeof(*m));
    if (!m) return -1;
    m->o = *o;
    m->s = o->srv;
    const char *seam = getenv("COORD_TEST_CRASH_IN_SNAPSHOT_INSTALL");
    if (seam && *seam) m->crash_after = (size_t)strtoull(seam, NULL, 10);
    m->snap_dir = path_join(m->s->cfg->data_dir, "snap");
    m->incoming_dir = path_join(m->s->cfg->data_dir, "snap.incoming");
    if (!m->snap_dir || !m->incoming_dir) goto fail_free;
    snapshot_recv_opts ro = {.cluster_id = m->s->cluster_id,
                             .self_id = m->s->member_id,
                             .incoming_dir = m->incoming_dir,
                             .deliver = deliver,
                             .arg = m};
    if (snapshot_recv_create(&ro, &m->recv) != 0) goto fail_free;
    if (snapshot_recv_register(m->recv, m->s->peer_rpc) != 0) goto fail_destroy_recv;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->maker, NULL, maker_main, m) != 0) goto fail_destroy_sync;
    *out = m;
    return 0;

fail_destroy_sync:
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
fail_destroy_recv:
    snapshot_recv_destroy(m->recv);
fail_free:
    free(m->snap_dir);
    free(m->incoming_dir);
    free(m);
    return -1;
}

int snapshot_mgr_source(void *arg, const raft_snapshot_meta *point, raft_snapshot *out)
{
    return snapshot_source(arg, point, out);
}

void snapshot_mgr_destroy(snapshot_mgr *m)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    for (send_job *j = m->jobs; j; j = j->next) snapshot_sender_cancel(j->snd);
    pthread_cond_broadcast(&m->cv);
    while (m->jobs) pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->maker, NULL);
    snapshot_recv_destroy(m->recv);
    checkpoint_free(m->current);
    while (m->retired) {
        checkpoint *next = m->retired->next;
        checkpoint_free(m->retired);
        m->retired = next;
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->snap_dir);
    free(m->incoming_dir);
    free(m);
}
