#include "node.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct proposal {
    struct proposal *next;
    size_t len;
    uint8_t data[]; /* the entry, copied */
};

struct node {
    storage *st;
    node_apply_fn apply;
    void *apply_arg;
    int64_t tick_ms;
    uint64_t keep;

    pthread_t thread;
    pthread_mutex_t mu; /* guards the queue and stopping */
    pthread_cond_t cv;
    struct proposal *head, *tail; /* FIFO of proposals not yet in the log */
    bool stopping;

    /* Written by the node thread only; read by others (status). */
    _Atomic uint64_t term;
    _Atomic uint64_t last_index; /* last durable log index == commit index (one member) */
    _Atomic uint64_t applied;    /* last applied index; applied <= last_index */
    _Atomic bool failed;
    uint64_t first_index; /* first index still in the log (node thread only) */
};

static const char TERM_KEY[] = "term";

static void log_key(uint8_t k[8], uint64_t index)
{
    be64_put(k, index);
}

/* Finds the first and last index in the log CF (0, 0 when empty). */
static int log_bounds(storage *st, uint64_t *first, uint64_t *last)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[STORAGE_CF_RAFTLOG]);
    *first = *last = 0;
    rocksdb_iter_seek_to_first(it);
    if (rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == 8) *first = be64_get((const uint8_t *)k);
        rocksdb_iter_seek_to_last(it);
        k = rocksdb_iter_key(it, &kl);
        if (kl == 8) *last = be64_get((const uint8_t *)k);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    if (err) {
        fprintf(stderr, "coord: reading the log: %s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

static int apply_one(node *n, uint64_t index, const char *val, size_t len)
{
    if (len < 8) {
        fprintf(stderr, "coord: log entry %llu is corrupt (%zu bytes)\n", (unsigned long long)index,
                len);
        return -1;
    }
    uint64_t term = be64_get((const uint8_t *)val);
    if (n->apply(n->apply_arg, index, term, (const uint8_t *)val + 8, len - 8) != 0) return -1;
    atomic_store(&n->applied, index);
    return 0;
}

/* Entries (applied, last] are durable but were not applied before the last stop. */
static int replay(node *n, uint64_t applied, uint64_t last)
{
    if (applied >= last) return 0;
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(n->st->db, n->st->ro, n->st->cf[STORAGE_CF_RAFTLOG]);
    uint8_t k[8];
    log_key(k, applied + 1);
    int rc = 0;
    uint64_t want = applied + 1;
    for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it) && want <= last;
         rocksdb_iter_next(it), want++) {
        size_t kl, vl;
        const char *key = rocksdb_iter_key(it, &kl);
        if (kl != 8 || be64_get((const uint8_t *)key) != want) {
            fprintf(stderr, "coord: log has a gap at index %llu\n", (unsigned long long)want);
            rc = -1;
            break;
        }
        const char *val = rocksdb_iter_value(it, &vl);
        if (apply_one(n, want, val, vl) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && want <= last) {
        fprintf(stderr, "coord: log ends at %llu, expected %llu\n", (unsigned long long)(want - 1),
                (unsigned long long)last);
        rc = -1;
    }
    rocksdb_iter_destroy(it);
    return rc;
}

/* Writes the queued proposals as log entries in one synced batch, then applies them. */
static int append_and_apply(node *n, struct proposal *list)
{
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    uint64_t index = atomic_load(&n->last_index);
    uint64_t term = atomic_load(&n->term);
    for (struct proposal *p = list; p; p = p->next) {
        uint8_t k[8];
        log_key(k, ++index);
        /* The entry's term travels in front of it: [be64 term][entry]. */
        be64_put(p->data, term);
        rocksdb_writebatch_put_cf(b, n->st->cf[STORAGE_CF_RAFTLOG], (const char *)k, 8,
                                  (const char *)p->data, p->len);
    }
    /* Trim the log behind the applied index. Earlier apply batches are in the same WAL before
     * this synced write, so they are durable by the time the entries they came from are gone. */
    uint64_t applied = atomic_load(&n->applied);
    if (applied > n->keep && applied - n->keep > n->first_index + 1024) {
        uint8_t lo[8], hi[8];
        log_key(lo, 0);
        log_key(hi, applied - n->keep);
        rocksdb_writebatch_delete_range_cf(b, n->st->cf[STORAGE_CF_RAFTLOG], (const char *)lo, 8,
                                           (const char *)hi, 8);
        n->first_index = applied - n->keep;
    }
    char *err = NULL;
    rocksdb_write(n->st->db, n->st->sync_wo, b, &err);
    rocksdb_writebatch_destroy(b);
    if (err) {
        fprintf(stderr, "coord: writing the log: %s\n", err);
        free(err);
        return -1;
    }
    index = atomic_load(&n->last_index);
    for (struct proposal *p = list; p; p = p->next) {
        index++;
        atomic_store(&n->last_index, index);
        if (apply_one(n, index, (const char *)p->data, p->len) != 0) return -1;
    }
    return 0;
}

static void free_list(struct proposal *p)
{
    while (p) {
        struct proposal *next = p->next;
        free(p);
        p = next;
    }
}

static void *node_main(void *arg)
{
    node *n = arg;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        while (!n->head && !n->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(n->tick_ms % 1000) * 1000000L;
            ts.tv_sec += n->tick_ms / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
        struct proposal *list = n->head;
        n->head = n->tail = NULL;
        bool stopping = n->stopping;
        pthread_mutex_unlock(&n->mu);
        if (stopping) {
            free_list(list);
            break;
        }
        int rc = append_and_apply(n, list);
        free_list(list);
        if (rc != 0) {
            atomic_store(&n->failed, true);
            fprintf(stderr, "coord: the node stopped applying after a storage failure\n");
            pthread_mutex_lock(&n->mu);
            n->stopping = true;
            free_list(n->head);
            n->head = n->tail = NULL;
            pthread_mutex_unlock(&n->mu);
            break;
        }
    }
    return NULL;
}

int node_start(const node_opts *o, node **out)
{
    node *n = calloc(1, sizeof(*n));
    if (!n) return -1;
    n->st = o->st;
    n->apply = o->apply;
    n->apply_arg = o->apply_arg;
    n->tick_ms = o->tick_ms > 0 ? o->tick_ms : 100;
    n->keep = o->log_keep_entries;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);

    uint64_t first, last, term = 0;
    int found = 0;
    if (log_bounds(n->st, &first, &last) != 0) goto fail_free_node;
    if (storage_get_u64(n->st, STORAGE_CF_RAFTMETA, TERM_KEY, &term, &found) != 0)
        goto fail_free_node;
    /* Every start is a new term, as a one-member election would make it; a fresh member starts
     * at term 2 as etcd's does (term 1 is its bootstrap). */
    term = found ? term + 1 : 2;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    storage_batch_put_u64(b, n->st, STORAGE_CF_RAFTMETA, TERM_KEY, term);
    char *err = NULL;
    rocksdb_write(n->st->db, n->st->sync_wo, b, &err);
    rocksdb_writebatch_destroy(b);
    if (err) {
        fprintf(stderr, "coord: writing the term: %s\n", err);
        free(err);
        goto fail_free_node;
    }
    atomic_store(&n->term, term);
    if (last < o->applied_index) {
        /* The state machine is ahead of the log only if the log was trimmed to nothing. */
        last = o->applied_index;
    }
    n->first_index = first;
    atomic_store(&n->last_index, last);
    atomic_store(&n->applied, o->applied_index);
    if (replay(n, o->applied_index, last) != 0) goto fail_free_node;
    if (pthread_create(&n->thread, NULL, node_main, n) != 0) goto fail_free_node;
    /* A new term begins with an empty entry, as a Raft leader's does: it commits the term. */
    if (node_propose(n, NULL, 0) != 0) {
        node_stop(n);
        return -1;
    }
    *out = n;
    return 0;

fail_free_node:
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
    return -1;
}

int node_propose(node *n, const uint8_t *entry, size_t len)
{
    struct proposal *p = malloc(sizeof(*p) + 8 + len);
    if (!p) return -1;
    p->next = NULL;
    p->len = 8 + len;
    if (len) memcpy(p->data + 8, entry, len);
    pthread_mutex_lock(&n->mu);
    if (n->stopping) {
        pthread_mutex_unlock(&n->mu);
        free(p);
        return -1;
    }
    if (n->tail)
        n->tail->next = p;
    else
        n->head = p;
    n->tail = p;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

void node_stop(node *n)
{
    if (!n) return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    free_list(n->head);
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
    return atomic_load(&n->last_index);
}
uint64_t node_applied_index(node *n)
{
    return atomic_load(&n->applied);
}
bool node_failed(node *n)
{
    return atomic_load(&n->failed);
}
