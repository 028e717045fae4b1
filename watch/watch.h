/* watch: etcd's watches over a revisioned key-value store.
 *
 * A hub holds every watcher of a server. Streams (one per client Watch call) create and cancel
 * watchers; the hub sends each stream its responses through the stream's sink, in the order a
 * client may rely on:
 *   - a watcher's create response goes out before any of its events;
 *   - a watcher gets every change of its range from its start revision on, in revision order
 *     (then op order), each exactly once; the events of one revision are never split across
 *     responses, except by etcd's `fragment` option for a revision larger than the limit;
 *   - a progress response with revision R comes after every event <= R of the watchers it
 *     speaks for, so R is a revision the client may resume from.
 *
 * The hub knows nothing of the server: it reads the store through a reader it is given, and the
 * server tells it (watch_hub_notify) each time the store's revision rises. Its own threads do
 * the rest: the notifier sends the new changes to the watchers that are in sync; the catch-up
 * thread reads older history for the others (a start revision in the past, or a stream too
 * slow to keep up) in windows of at most 1000 revisions, then moves them into the synced set.
 * Neither ever makes the notifying thread wait for a watcher.
 *
 * Memory stays bounded whatever clients do: a stream whose sink holds more than
 * stream_backlog_max bytes not yet sent gets no more live events; its watchers fall back to
 * the catch-up path, which reads from the store once the backlog has drained. What the hub
 * holds per round is bounded by round_max_bytes (at least one whole revision).
 *
 * Threads: every function may be called from any thread. Sinks are called with the hub's lock
 * held: they must queue and return, never block, and never call back into the hub.
 */
#ifndef COORD_WATCH_H
#define COORD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum watch_err {
    WATCH_OK = 0,
    WATCH_ERR_COMPACTED = -1, /* the reader: revision below the compacted revision */
    WATCH_ERR_IO = -2,        /* the reader failed */
    WATCH_ERR_NOMEM = -3,
    WATCH_ERR_INVALID = -4, /* misuse of the API */
};

/* etcd's mvccpb.Event.EventType values. */
enum watch_event_type { WATCH_PUT = 0, WATCH_DELETE = 1 };

/* A key-value as the store has it. For a delete event only key and mod_revision are set. */
typedef struct watch_kv {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} watch_kv;

typedef struct watch_event {
    int type; /* enum watch_event_type */
    watch_kv kv;
    bool has_prev;
    watch_kv prev; /* the key as of kv.mod_revision - 1 (only when the watcher asked) */
} watch_event;

/* One WatchResponse. `revision` is the header revision; the sink fills the rest of the header.
 * Views (events, cancel_reason) are valid only during the sink call. */
typedef struct watch_response {
    int64_t watch_id;
    int64_t revision;
    bool created;
    bool canceled;
    bool fragment;
    int64_t compact_revision;
    const char *cancel_reason; /* NUL-terminated, or NULL */
    const watch_event *events;
    size_t n_events;
} watch_response;

/* Where a stream's responses go. */
typedef struct watch_sink {
    /* Queues r for the client. Returns 0, or -1 when the stream is gone (the hub then drops
     * what it would have sent; the owner closes the stream). */
    int (*send)(void *arg, const watch_response *r);
    /* Bytes queued for the client and not yet sent. */
    size_t (*backlog)(void *arg);
} watch_sink;

/* Visits one change: for a put, kv is the new version; for a delete, kv holds key and
 * mod_revision (the delete's revision). Views are valid only during the call. Returns 0 to go
 * on, 1 to stop, < 0 to fail. */
typedef int (*watch_change_fn)(void *arg, const watch_kv *kv, bool is_delete);

/* The store, as the hub reads it. A view is one consistent snapshot; it is used by one thread
 * at a time (the hub may hold two views at once, on two threads). */
typedef struct watch_reader {
    /* Opens a view: *rev is the revision it sees, *compacted the store's compacted revision
     * (history below it is gone). */
    int (*open)(void *arg, void **view, int64_t *rev, int64_t *compacted);
    /* Visits every change of revisions [from, to] in order (revision, then op order).
     * WATCH_ERR_COMPACTED when from is below the compacted revision. */
    int (*changes)(void *view, int64_t from, int64_t to, watch_change_fn fn, void *fn_arg);
    /* The version of key live at revision rev, if any (*found false when absent, deleted or
     * compacted away). Views in *out stay valid until the next call on this view. */
    int (*get)(void *view, const uint8_t *key, size_t key_len, int64_t rev, watch_kv *out,
               bool *found);
    void (*close)(void *view);
    /* The store's current revision, cheaply (no view). */
    int64_t (*current_rev)(void *arg);
    void *arg;
} watch_reader;

typedef struct watch_hub_opts {
    watch_reader reader;
    int64_t progress_interval_ms; /* progress_notify period; 0: etcd's 10 minutes */
    size_t stream_backlog_max;    /* a stream above this gets no live events; 0: 4 MiB */
    /* A response above this many bytes is cut between revisions, and a revision above it is
     * fragmented for watchers that asked; 0: 2 MiB (etcd: max-request-bytes + 512 KiB). */
    size_t response_max_bytes;
    int64_t window_max_revs; /* revisions per catch-up window and per round; 0: 1000 */
    size_t round_max_bytes;  /* event bytes read per round or window; 0: 8 MiB */
    /* When > 0, watch_hub_notify itself delivers a revision of at most this many events, with
     * as many matches and few enough range watchers, if it can take the hub's locks without
     * waiting (otherwise it leaves the work to the notifier thread). This saves a thread hop
     * on the common small write; 0: always the notifier. */
    size_t inline_max_events;
    /* No threads: the owner drives the hub with watch_hub_poll and watch_hub_tick (tests). */
    bool manual;
} watch_hub_opts;

typedef struct watch_hub watch_hub;
typedef struct watch_stream watch_stream;

/* Creates a hub; it takes the store's current revision as the point from which the synced
 * watchers are served. Starts its threads unless opts->manual. */
int watch_hub_create(const watch_hub_opts *opts, watch_hub **out);
/* The store's revision rose to rev (and that commit is visible to readers). Never waits for a
 * lock a watcher or a stream can hold: at most it delivers a small revision itself (see
 * inline_max_events) when nothing is in the way. Called by one thread at a time. */
void watch_hub_notify(watch_hub *h, int64_t rev);
/* Stops the threads (waits for them). Streams still work afterwards but get no events. */
void watch_hub_stop(watch_hub *h);
/* Frees the hub; every stream must have been closed. Stops the threads if needed. */
void watch_hub_destroy(watch_hub *h);

/* Manual mode: runs rounds and catch-up windows until there is nothing left to send right
 * now. Returns the number of rounds and windows run, or a negative watch_err. */
int watch_hub_poll(watch_hub *h);
/* Manual mode: one progress_notify period has passed. */
void watch_hub_tick(watch_hub *h);

typedef struct watch_hub_stats {
    size_t streams;
    size_t watchers; /* every watcher record, the ended ones included */
    size_t synced;
    size_t unsynced; /* waiting for or in catch-up */
    int64_t delivered_rev;
} watch_hub_stats;
void watch_hub_get_stats(watch_hub *h, watch_hub_stats *out);

/* A WatchCreateRequest, as etcd reads it: key "" means "\0"; range_end "" a single key, "\0"
 * every key >= key; watch_id 0 asks the stream to pick one; start_revision 0 means "from the
 * next revision". */
typedef struct watch_create_req {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *range_end;
    size_t range_end_len;
    int64_t start_revision;
    int64_t watch_id;
    bool prev_kv;
    bool progress_notify;
    bool fragment;
    bool no_put;    /* filter NOPUT */
    bool no_delete; /* filter NODELETE */
} watch_create_req;

/* Opens a stream whose responses go to sink (with sink_arg). */
int watch_stream_open(watch_hub *h, const watch_sink *sink, void *sink_arg, watch_stream **out);
/* Creates a watcher and sends its create response (or etcd's failed create: created and
 * canceled, watch_id -1, with the reason). Returns WATCH_OK even for a refused create;
 * an error only when memory ran out (nothing was sent then). */
int watch_stream_create(watch_stream *s, const watch_create_req *req);
/* Cancels watcher id and sends {watch_id, canceled}; an unknown id gets no reply (etcd). */
int watch_stream_cancel(watch_stream *s, int64_t id);
/* A WatchProgressRequest: one response with watch_id -1 and a revision every watcher of the
 * stream has been brought up to. Sent once all of them are in sync (at once when they are). */
int watch_stream_progress(watch_stream *s);
/* Cancels every watcher of the stream without replies and frees it. No sink call of this
 * stream happens after it returns. */
void watch_stream_close(watch_stream *s);

#endif
