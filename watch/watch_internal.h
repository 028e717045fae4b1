/* watch_internal: what the hub's files share (not part of the API).
 *
 * Locking: one mutex, hub.mu, guards every watcher, every stream and the hub's sets, and is held
 * around every sink call, so a watcher's responses are queued in the order they were decided.
 * Reads of the store happen outside it. Rounds run one at a time under round_mu, which also
 * guards the round state; claimed_rev is written only by a round holder (with mu too). The
 * notifier's wake-up has its own mutex (wake_mu), held only for a few instructions; the
 * notifying thread only ever try-locks round_mu and mu, so it never waits for watcher work.
 *
 * Who holds a watcher (its `state`):
 *   SYNCED    in hub.synced; a round delivers its live events.
 *   UNSYNCED  in hub.unsynced; waits for a catch-up window.
 *   CATCHUP   taken by the running catch-up window, which alone touches its links, in_ranges
 *             and next_rev until it gives it back under the lock (`dead` set meanwhile: the
 *             window frees it).
 *   GRAVE     canceled while a round held pointers to it; in hub.grave, freed when the round ends.
 *   ENDED     canceled by compaction: in no set, but its ID stays taken on its stream until the
 *             client cancels it, as in etcd.
 * A watcher is in its stream's ID table unless it is GRAVE or dead.
 */
#ifndef COORD_WATCH_INTERNAL_H
#define COORD_WATCH_INTERNAL_H

#include "watch.h"

#include <pthread.h>

enum watcher_state { W_SYNCED, W_UNSYNCED, W_CATCHUP, W_GRAVE, W_ENDED };

/* watcher.opts: what the client asked for; fixed once the watcher exists (so the catch-up
 * window may read them without the lock). */
enum watcher_opt {
    W_NOPUT = 1,
    W_NODELETE = 2,
    W_PREV_KV = 4,
    W_PROGRESS = 8,
    W_FRAGMENT = 16,
};

/* end_len of a watcher on every key >= key (etcd's range_end "\0"). */
#define WATCH_END_ALL UINT32_MAX

typedef struct watcher {
    struct watcher *prev, *next; /* links in the set named by state */
    struct watch_stream *st;
    int64_t id;
    /* The first revision this watcher has not been sent. For a SYNCED watcher it may lag
     * behind hub.claimed_rev (nothing of its range changed meanwhile): what it lacks is then
     * max(next_rev, claimed_rev + 1) onwards. */
    int64_t next_rev;
    uint32_t key_len;
    uint32_t end_len;        /* 0: the single key; WATCH_END_ALL: every key >= key */
    uint8_t state;           /* enum watcher_state; under hub.mu */
    uint8_t opts;            /* enum watcher_opt */
    uint8_t in_ranges;       /* kept by whoever holds the index it is in: in its ranges list */
    uint8_t dead;            /* under hub.mu: canceled while CATCHUP; the window frees it */
    uint8_t sent_since_tick; /* under hub.mu: events went out since the last progress tick */
    uint8_t bytes[];         /* key, then end */
} watcher;

static inline const uint8_t *watcher_key(const watcher *w)
{
    return w->bytes;
}

static inline const uint8_t *watcher_end(const watcher *w)
{
    return w->bytes + w->key_len;
}

/* Synced watchers by what they watch: single keys in a hash table (chains through prev/next),
 * ranges in a list. */
typedef struct watch_index {
    watcher **buckets; /* nbuckets, a power of two; chains are doubly linked */
    size_t nbuckets;
    size_t nkeys;    /* single-key watchers */
    watcher *ranges; /* range watchers */
    size_t nranges;
} watch_index;

void index_init(watch_index *ix);
void index_free(watch_index *ix);  /* frees the table, not the watchers */
void index_clear(watch_index *ix); /* forgets every watcher, keeps the table */
/* Never fails: when the table cannot grow, chains get longer. */
void index_insert(watch_index *ix, watcher *w);
void index_remove(watch_index *ix, watcher *w);
/* Calls fn for every watcher whose range holds key. */
typedef void (*index_match_fn)(void *arg, watcher *w);
void index_match(const watch_index *ix, const uint8_t *key, size_t key_len, index_match_fn fn,
                 void *arg);
/* Calls fn for every watcher; fn may remove the watcher it is given (no other). */
void index_each(const watch_index *ix, index_match_fn fn, void *arg);
bool watcher_holds(const watcher *w, const uint8_t *key, size_t key_len);

/* Changes of revisions [from, to], copied out of the store. */
typedef struct watch_batch {
    watch_event *evs;
    bool *need_prev; /* per event: a matched watcher wants prev_kv */
    size_t n, cap;
    struct batch_block *blocks; /* the bytes the events point into */
    size_t bytes;
    int64_t from, to;
} watch_batch;

void batch_init(watch_batch *b);
void batch_reset(watch_batch *b);
void batch_free(watch_batch *b);
/* Reads the changes of [from, to]; stops after a whole revision once max_bytes are held, and
 * sets b->to to the last revision read in full. */
int batch_read(watch_batch *b, const watch_reader *r, void *view, int64_t from, int64_t to,
               size_t max_bytes);
/* Reads prev_kv for every event marked in need_prev. */
int batch_read_prevs(watch_batch *b, const watch_reader *r, void *view);

/* A (watcher, event) pair found by matching a batch. */
typedef struct watch_hit {
    watcher *w;
    size_t ev;
} watch_hit;

typedef struct watch_hits {
    watch_hit *v;
    size_t n, cap;
    bool oom; /* a hit could not be recorded: the round must not claim its revisions */
} watch_hits;

/* Matches every event of b against ix, records the hits sorted by watcher (then event), and
 * marks in b->need_prev the events a prev_kv watcher needs. */
void hits_collect(watch_hits *hs, const watch_index *ix, watch_batch *b);
void hits_free(watch_hits *hs);

/* Stream IDs: open addressing with linear probing, keyed by watcher id. */
typedef struct id_table {
    watcher **slots;
    size_t cap; /* 0 or a power of two */
    size_t count;
} id_table;

watcher *idt_get(const id_table *t, int64_t id);
int idt_put(id_table *t, watcher *w);
void idt_del(id_table *t, int64_t id);
void idt_free(id_table *t);

struct watch_stream {
    struct watch_hub *h;
    watch_sink sink;
    void *sink_arg;
    struct watch_stream *prev, *next; /* hub.streams */
    id_table ids;
    int64_t next_auto_id; /* etcd: a per-stream counter from 0, skipping IDs in use */
    size_t n_unsynced;    /* watchers in the table that are UNSYNCED or CATCHUP */
    size_t n_progress;    /* watchers in the table with W_PROGRESS */
    /* 1 while open, plus one per watcher record not yet freed (a GRAVE or catching-up
     * watcher still points here after close). */
    size_t refs;
    int64_t max_sent_rev;  /* highest header revision sent: progress never goes below it */
    uint64_t backlog_mark; /* round or window number of the cached backlog */
    size_t backlog;
    bool closed;
    bool progress_wanted; /* a WatchProgressRequest waits for the stream to be in sync */
};

/* Scratch of one thread's delivery (the notifier's or the catch-up thread's). */
typedef struct deliver_buf {
    watch_event *evs;
    size_t cap;
} deliver_buf;

struct watch_hub {
    watch_hub_opts o;

    pthread_mutex_t mu;
    watch_index synced;
    watcher *unsynced; /* list through prev/next */
    watcher *grave;    /* list through next */
    struct watch_stream *streams;
    size_t n_streams, n_watchers, n_synced, n_unsynced;
    /* Rounds have matched every revision <= claimed_rev against the synced set; a new watcher
     * starting at or below it must catch up. delivered_rev <= claimed_rev: every response of
     * revisions <= delivered_rev has been handed to the sinks. */
    int64_t claimed_rev, delivered_rev;
    bool round_busy; /* a round holds watcher pointers between its locked phases */
    size_t n_progress_wanted;
    uint64_t mark;          /* numbers rounds and windows, for the per-stream backlog cache */
    int64_t catchup_cursor; /* windows go round the unsynced watchers' revisions */
    bool stopping;
    pthread_cond_t catchup_cv; /* with mu: the unsynced set grew, or stopping */

    pthread_mutex_t round_mu;

    pthread_mutex_t wake_mu;
    pthread_cond_t wake_cv;
    bool wake_pending; /* a revision came that no round has delivered yet */
    bool wake_stop;

    pthread_t notifier, catcher;
    bool threads;

    /* The round state (under round_mu). */
    watch_batch round;
    watch_hits round_hits;
    deliver_buf round_out;
    /* The catch-up thread's window state. */
    watch_batch window;
    watch_hits window_hits;
    deliver_buf window_out;
    watch_index window_ix;
    watcher **taken;
    size_t n_taken, cap_taken;
};

/* stream.c */
void watcher_free(struct watch_hub *h, watcher *w); /* unlinked already; drops the stream ref */
/* Moves a synced watcher to the unsynced set; it lacks everything from `from` on. */
void watcher_unsync(struct watch_hub *h, watcher *w, int64_t from);
/* Moves a watcher the catch-up window gives back into the synced set. */
void watcher_sync(struct watch_hub *h, watcher *w);
void stream_try_progress(struct watch_hub *h, struct watch_stream *st);
size_t stream_backlog(struct watch_hub *h, struct watch_stream *st);

/* send.c (all with hub.mu held) */
int send_response(struct watch_hub *h, struct watch_stream *st, const watch_response *r);
/* Sends w its events among evs[0..n) (a batch's events of revisions <= to, in order): those of
 * its range, at or after next_rev, kept by its filters, cut and fragmented as the options say;
 * then w->next_rev = to + 1. */
int deliver_buf_reserve(deliver_buf *d, size_t n); /* before deliver: room for a batch */
void deliver(struct watch_hub *h, deliver_buf *out, watcher *w, const watch_batch *b,
             const watch_hit *hits, size_t n_hits, int64_t to);
void send_compacted(struct watch_hub *h, watcher *w, int64_t compacted);
size_t watch_event_wire_size(const watch_event *e);
void deliver_buf_free(deliver_buf *d);

/* catchup.c */
int catchup_window(struct watch_hub *h);
void *catchup_thread(void *arg);

#endif
