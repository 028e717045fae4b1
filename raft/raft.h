/* raft: a deterministic Raft consensus core (no I/O, no threads, no clocks, no randomness of
 * its own). The node loop owns one `raft` per member and drives it from one thread:
 *
 *     raft_tick() every tick, raft_step() for every peer message, raft_propose() /
 *     raft_read_index() / ... for client work; then, while raft_has_ready():
 *         struct raft_ready rd; raft_ready(r, &rd);
 *         1. if rd.snapshot: install it (storage drops its log, the state machine restores);
 *         2. append rd.entries to the log (overwriting from rd.entries[0].index on), save
 *            rd.hard_state if rd.has_hard_state -- 1 and 2 in ONE atomic write (so a crash
 *            never leaves a vote without its term, or a gap after a snapshot), synced when
 *            rd.must_sync;
 *         3. send rd.messages (see raft_msg_needs_durable(): only a leader's appends,
 *            snapshots and heartbeats may leave before step 2 is durable);
 *         4. apply rd.committed in order; answer rd.read_states once applied >= their index;
 *         5. raft_advance(r, &rd).
 *     Nothing else may be called on r between raft_ready() and raft_advance().
 *
 * Contract with storage: the core only reads it (raft_storage below). What the core needs
 * persisted comes out of raft_ready(); the core counts its own copy of an entry (for commit,
 * votes and acks) only once raft_advance() says it is durable.
 *
 * Membership: the configuration takes effect when its entry is applied, i.e. at the
 * raft_advance() that follows the ready that handed the entry out. A change of voters goes
 * through a joint configuration (C_old,new) that the leader leaves on its own.
 *
 * Ownership: everything a ready points to belongs to the core and stays valid until
 * raft_advance(). Everything passed in (messages, data, configs) stays the caller's; the core
 * copies what it keeps.
 */
#ifndef COORD_RAFT_H
#define COORD_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A member id. 0 means "none" (no leader, no vote). */
typedef uint64_t raft_id;
#define RAFT_NONE ((raft_id)0)

/* The most members (voters, outgoing voters and learners together) one group can have. */
#define RAFT_MAX_NODES 16

/* ---------------------------------------------------------------- errors ---------------- */

enum raft_error {
    RAFT_OK = 0,
    RAFT_ERR_NOMEM = -1,       /* an allocation failed; stop the node (storage is intact) */
    RAFT_ERR_COMPACTED = -2,   /* storage: the index is below the first available one */
    RAFT_ERR_UNAVAILABLE = -3, /* storage: the index is past the last one */
    RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE = -4, /* storage: try again later */
    RAFT_ERR_STORAGE = -5,                          /* storage failed; the node must stop */
    RAFT_ERR_DROPPED = -6,      /* proposal/read not taken: no leader known, or transferring */
    RAFT_ERR_CONF_PENDING = -7, /* a membership change is already in flight */
    RAFT_ERR_INVALID = -8,      /* bad argument (config, conf change, unknown member) */
    RAFT_ERR_DECODE = -9,       /* malformed message bytes */
    RAFT_ERR_BUSY = -10,        /* called between raft_ready() and raft_advance() */
    RAFT_ERR_CORRUPT = -11,     /* storage or a peer broke a Raft invariant; stop the node */
    RAFT_ERR_TOO_LARGE = -12,   /* a value exceeds a limit of the codec or config */
};

/* A static, human-readable name for a raft_error code. */
const char *raft_strerror(int err);

/* ---------------------------------------------------------------- log --------------------- */

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0,      /* application data (empty data: the leader's no-op) */
    RAFT_ENTRY_CONF_CHANGE = 1, /* data = raft_conf_change_encode() output */
};

typedef struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* enum raft_entry_type */
    uint32_t len;
    uint8_t *data; /* len bytes; NULL when len == 0 */
} raft_entry;

/* A growable array of entries that owns every entry's data (malloc'd). Storage
 * implementations fill one with raft_entries_append(); its owner frees it with
 * raft_entries_free(). Zero-initialised is empty. */
typedef struct raft_entries {
    raft_entry *v;
    size_t n;
    size_t cap;
} raft_entries;

/* Appends a copy of (term, index, type, data[0..len)). Returns RAFT_OK or RAFT_ERR_NOMEM. */
int raft_entries_append(raft_entries *out, uint64_t term, uint64_t index, uint8_t type,
                        const void *data, size_t len);
void raft_entries_free(raft_entries *es);

/* Term, vote and commit: what a member must persist (atomically, all three) before it sends
 * anything that depends on them. */
typedef struct raft_hard_state {
    uint64_t term;
    raft_id vote;
    uint64_t commit;
} raft_hard_state;

/* A configuration. Joint when n_voters_outgoing > 0: decisions then need a majority of
 * voters AND a majority of voters_outgoing. A learner receives the log but never votes and
 * never counts toward a quorum; a node is never both voter and learner. */
typedef struct raft_conf_state {
    uint32_t n_voters;
    raft_id voters[RAFT_MAX_NODES];
    uint32_t n_voters_outgoing;
    raft_id voters_outgoing[RAFT_MAX_NODES];
    uint32_t n_learners;
    raft_id learners[RAFT_MAX_NODES];
} raft_conf_state;

typedef struct raft_snapshot_meta {
    uint64_t index; /* last entry the snapshot covers */
    uint64_t term;  /* that entry's term */
    raft_conf_state conf;
} raft_snapshot_meta;

typedef struct raft_snapshot {
    raft_snapshot_meta meta;
    uint8_t *data; /* opaque to the core (the application's state, or a handle to it) */
    size_t len;
} raft_snapshot;

void raft_snapshot_free(raft_snapshot *s); /* frees data; leaves meta */

/* ---------------------------------------------------------------- storage ---------------- */

/* The core's read-only view of the durable log: entries first_index..last_index, preceded
 * by the compaction point first_index - 1 whose term is still known (index 0, term 0 for a
 * new log). The latest snapshot covers at least up to the compaction point. Implementations
 * return RAFT_OK or a raft_error. */
typedef struct raft_storage {
    void *ctx;
    /* The durable hard state and the latest snapshot's metadata (all zero if none). */
    int (*initial_state)(void *ctx, raft_hard_state *hs, raft_snapshot_meta *snap);
    /* Appends copies of entries [lo, hi) to out: as many, from lo on, as fit in max_bytes of
     * data (0: no limit), but always at least one. RAFT_ERR_COMPACTED if lo < first_index,
     * RAFT_ERR_UNAVAILABLE if hi > last_index + 1. */
    int (*entries)(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes, raft_entries *out);
    /* Term of entry i, for first_index - 1 <= i <= last_index. */
    int (*term)(void *ctx, uint64_t i, uint64_t *term);
    int (*first_index)(void *ctx, uint64_t *index);
    int (*last_index)(void *ctx, uint64_t *index);
    /* The latest snapshot; out->data is malloc'd and becomes the caller's. */
    int (*snapshot)(void *ctx, raft_snapshot *out);
} raft_storage;

/* ---------------------------------------------------------------- messages --------------- */

enum raft_msg_type {
    RAFT_MSG_APP = 1,         /* append entries after (index, log_term); commit */
    RAFT_MSG_APP_RESP,        /* ack of index, or reject with reject_hint/log_term */
    RAFT_MSG_VOTE,            /* request vote; (index, log_term) is the candidate's last */
    RAFT_MSG_VOTE_RESP,       /* reject = refused */
    RAFT_MSG_PRE_VOTE,        /* like VOTE, at term + 1, without anyone changing term */
    RAFT_MSG_PRE_VOTE_RESP,   /* reject = refused; a grant carries the term asked about */
    RAFT_MSG_SNAP,            /* install snapshot */
    RAFT_MSG_HEARTBEAT,       /* commit = min(follower's match, leader's commit); read_seq */
    RAFT_MSG_HEARTBEAT_RESP,  /* echoes read_seq */
    RAFT_MSG_TIMEOUT_NOW,     /* leadership transfer: campaign now, skipping pre-vote */
    RAFT_MSG_PROP,            /* a follower forwards proposed entries to the leader (term 0) */
    RAFT_MSG_TRANSFER,        /* a follower forwards a transfer; index = target (term 0) */
    RAFT_MSG_READ_INDEX,      /* a follower asks the leader for a read index; ctx (term 0) */
    RAFT_MSG_READ_INDEX_RESP, /* index = read index; ctx */
    RAFT_MSG_TYPE_MAX = RAFT_MSG_READ_INDEX_RESP
};

/* A message between members. Plain data: encode with raft_msg_encode(), decode with
 * raft_msg_decode() (which allocates; free with raft_msg_free()). */
typedef struct raft_msg {
    uint8_t type; /* enum raft_msg_type */
    raft_id from;
    raft_id to;
    uint64_t term; /* sender's term (for PRE_VOTE: the term it would campaign at) */
    uint64_t log_term;
    uint64_t index;
    uint64_t commit;
    bool reject;
    bool transfer; /* VOTE/PRE_VOTE: campaign started by a leadership transfer */
    uint64_t reject_hint;
    uint64_t read_seq; /* HEARTBEAT(_RESP): the leader's ReadIndex round */
    uint32_t n_entries;
    raft_entry *entries;
    raft_snapshot *snapshot; /* SNAP only, else NULL */
    uint32_t ctx_len;
    uint8_t *ctx; /* READ_INDEX(_RESP): the application's read context */
    void *mem;    /* the block raft_msg_decode() allocated; NULL for caller-built messages */
} raft_msg;

/* The wire format: version byte, then fields as varints, length-checked (see raft_msg.c).
 * raft_msg_encoded_size() is exact; raft_msg_encode() writes that many bytes into buf (cap
 * must be at least that) and returns the count, or 0 if cap is too small. */
size_t raft_msg_encoded_size(const raft_msg *m);
size_t raft_msg_encode(const raft_msg *m, uint8_t *buf, size_t cap);
/* Parses exactly len bytes. On success *out owns its memory (free with raft_msg_free).
 * Garbage yields RAFT_ERR_DECODE (or RAFT_ERR_NOMEM) and leaves *out empty. */
int raft_msg_decode(const uint8_t *buf, size_t len, raft_msg *out);
void raft_msg_free(raft_msg *m);
/* True if m may only be sent once the hard state and entries of its ready are durable. */
bool raft_msg_needs_durable(const raft_msg *m);
const char *raft_msg_type_name(int type);

/* ---------------------------------------------------------------- membership ------------- */

enum raft_conf_change_type {
    RAFT_CC_ADD_VOTER = 1,   /* a new member, or promote a learner */
    RAFT_CC_ADD_LEARNER = 2, /* a new non-voting member (not a demotion of a voter) */
    RAFT_CC_REMOVE = 3,
};

/* A set of changes applied together. Changes that touch voters go through a joint
 * configuration; n_changes == 0 is "leave the joint configuration" (the leader proposes it
 * itself). */
typedef struct raft_conf_change_item {
    uint8_t type; /* enum raft_conf_change_type */
    raft_id node;
} raft_conf_change_item;

typedef struct raft_conf_change {
    uint32_t n_changes;
    raft_conf_change_item changes[RAFT_MAX_NODES];
} raft_conf_change;

/* The data of a RAFT_ENTRY_CONF_CHANGE entry: the change followed by an application context
 * (e.g. the new member's address). encode returns a malloc'd buffer, or NULL on no memory;
 * decode points *ctx into buf. */
uint8_t *raft_conf_change_encode(const raft_conf_change *cc, const void *ctx, size_t ctx_len,
                                 size_t *out_len);
int raft_conf_change_decode(const uint8_t *buf, size_t len, raft_conf_change *cc,
                            const uint8_t **ctx, size_t *ctx_len);

/* ---------------------------------------------------------------- the node --------------- */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE,
    RAFT_CANDIDATE,
    RAFT_LEADER,
};
const char *raft_role_name(int role);

enum raft_log_level { RAFT_LOG_DEBUG = 0, RAFT_LOG_INFO, RAFT_LOG_WARN, RAFT_LOG_ERROR };

/* One line explaining a decision, e.g. "2 ignored MsgPreVote from 3 at term 6: lease not
 * expired (leader 1 heard 2 ticks ago)". The lines are stable enough to test against. */
typedef void (*raft_log_fn)(void *ctx, raft_id id, int level, const char *line);

/* Test-only: break one rule on purpose so the simulator can show it catches it. */
enum raft_fault {
    RAFT_FAULT_COMMIT_OLD_TERM = 1u << 0,   /* commit any index a quorum has (Figure 8) */
    RAFT_FAULT_VOTE_IGNORES_LOG = 1u << 1,  /* grant votes without the up-to-date check */
    RAFT_FAULT_READ_BEFORE_NOOP = 1u << 2,  /* answer ReadIndex before committing in term */
    RAFT_FAULT_TRUNCATE_ON_STALE = 1u << 3, /* drop the log after any append's prefix */
};

typedef struct raft_config {
    raft_id id;
    /* Bootstrap membership, used only when storage is empty (no entry, no snapshot): the
     * core then writes it as a committed configuration entry at index 1, term 1, identical
     * on every founding member. A member that joins later starts with none. */
    const raft_id *voters;
    size_t n_voters;
    const raft_id *learners;
    size_t n_learners;
    const raft_storage *storage;
    /* The last index the application has applied (0 = the snapshot's index). Entries after
     * it are handed out again as committed. */
    uint64_t applied;
    int election_tick;            /* follower timeout in ticks, randomized in [e, 2e) */
    int heartbeat_tick;           /* leader heartbeat interval, < election_tick */
    uint64_t seed;                /* election jitter; give each member a different one */
    uint64_t max_msg_bytes;       /* entry data per APP message (at least one entry) */
    uint32_t max_inflight_msgs;   /* APP messages unacknowledged per follower */
    uint64_t max_inflight_bytes;  /* ... and their entry bytes (0: no limit) */
    uint64_t max_committed_bytes; /* committed entry data per ready (0: no limit) */
    bool pre_vote;                /* campaign only after a pre-vote majority */
    bool check_quorum;            /* leader steps down without a quorum for a timeout */
    raft_log_fn log;              /* NULL: no log lines (and no formatting cost) */
    void *log_ctx;
    int log_level;   /* lowest level passed to log */
    uint32_t faults; /* enum raft_fault bits; 0 outside tests */
} raft_config;

/* Defaults: election 10, heartbeat 1, 1 MiB per message, 256 messages / 0 bytes in flight,
 * 0 committed bytes, pre_vote and check_quorum on. */
void raft_config_init(raft_config *cfg);

typedef struct raft raft;

/* Reads the initial state from cfg->storage. Returns RAFT_OK and *out, or an error
 * (RAFT_ERR_INVALID for a bad config, storage errors, RAFT_ERR_NOMEM). */
int raft_new(const raft_config *cfg, raft **out);
void raft_free(raft *r);

/* One tick of logical time: election timeout, heartbeats, check-quorum, transfer timeout. */
int raft_tick(raft *r);
/* A message from a peer (m->to must be this node). The core copies what it keeps. Stale,
 * misaddressed or unexpected messages are ignored (RAFT_OK); RAFT_ERR_CORRUPT means the
 * message contradicts what this node knows is committed. */
int raft_step(raft *r, const raft_msg *m);
/* Start an election now (as if the election timeout had elapsed). */
int raft_campaign(raft *r);

/* Appends data to the log (on the leader) or forwards it to the leader. RAFT_ERR_DROPPED
 * when there is no leader or a transfer is in progress. On a leader *index (if not NULL)
 * is the entry's index, else 0. RAFT_OK is not a promise: the entry may still be lost (to
 * a leader change, or a dropped forward); the application learns the outcome only from
 * rd.committed (match by data, or by index and term), and should time out and retry. The
 * leader sends proposals at the next raft_ready, so all proposals made before it share
 * one append per follower. */
int raft_propose(raft *r, const void *data, size_t len, uint64_t *index);
/* Proposes a membership change (leader only; RAFT_ERR_CONF_PENDING while one is in flight
 * or the leader has not yet applied an entry of its own term; RAFT_ERR_INVALID if the
 * change is not allowed from the current configuration). */
int raft_propose_conf_change(raft *r, const raft_conf_change *cc, const void *ctx, size_t ctx_len,
                             uint64_t *index);
/* Asks for a linearizable read point. The answer arrives as a raft_read_state with the
 * same ctx in a later ready: reads at or after its index see every write acknowledged
 * before this call. RAFT_ERR_DROPPED when there is no leader. A leader answers only after
 * it committed an entry of its term and a quorum acknowledged a heartbeat sent after the
 * request; reads made between two readies share one round. If leadership changes the
 * answer never comes: the application times out and asks again (ctx should be unique). */
int raft_read_index(raft *r, const void *ctx, size_t ctx_len);
/* Hands leadership to target (forwarded to the leader from a follower). */
int raft_transfer_leader(raft *r, raft_id target);
/* Transport feedback: target could not be reached (its progress falls back to probing), or
 * a snapshot sent to it was (ok) or was not installed. */
void raft_report_unreachable(raft *r, raft_id target);
void raft_report_snapshot(raft *r, raft_id target, bool ok);

typedef struct raft_soft_state {
    raft_id leader;
    int role; /* enum raft_role */
} raft_soft_state;

typedef struct raft_read_state {
    uint64_t index;
    uint32_t ctx_len;
    uint8_t *ctx;
} raft_read_state;

/* The type is used as `struct raft_ready` (raft_ready is the function that fills it). */
struct raft_ready {
    bool has_soft_state; /* soft changed since the last ready */
    raft_soft_state soft;
    bool has_hard_state; /* hard_state changed: persist it */
    raft_hard_state hard_state;
    const raft_snapshot *snapshot; /* to install before the entries; NULL if none */
    const raft_entry *entries;     /* to append (overwriting from entries[0].index) */
    size_t n_entries;
    bool must_sync;              /* entries, term or vote changed: the write must be synced */
    const raft_entry *committed; /* to apply, in order */
    size_t n_committed;
    const raft_msg *messages; /* to send */
    size_t n_messages;
    const raft_read_state *read_states; /* to answer once applied >= index */
    size_t n_read_states;
};

bool raft_has_ready(const raft *r);
/* Fills *rd (valid until raft_advance). Returns RAFT_OK or a storage/memory error. */
int raft_ready(raft *r, struct raft_ready *rd);
/* rd was persisted, sent and applied. Applies configuration changes found among
 * rd->committed, counts the leader's own entries as durable, and may create more work. */
int raft_advance(raft *r, const struct raft_ready *rd);

/* The snapshot metadata for the application's state at the applied index (index, term and
 * configuration), for the application to store beside its snapshot data before compacting
 * the log up to (at most) meta->index. */
int raft_snapshot_point(const raft *r, raft_snapshot_meta *meta);

typedef struct raft_progress_status {
    raft_id id;
    uint64_t match;
    uint64_t next;
    int state; /* 0 probe, 1 replicate, 2 snapshot */
    bool learner;
    bool recent_active;
    uint32_t inflight;
} raft_progress_status;

typedef struct raft_status {
    raft_id id;
    raft_hard_state hard_state;
    raft_soft_state soft;
    uint64_t applied;
    uint64_t first_index;
    uint64_t last_index;
    raft_conf_state conf;
    raft_id transferee; /* leader: the transfer target in progress, else RAFT_NONE */
    size_t n_progress;  /* leader only */
    raft_progress_status progress[RAFT_MAX_NODES];
} raft_status;

void raft_status_get(const raft *r, raft_status *out);

/* ---------------------------------------------------------------- memstore --------------- */

/* An in-memory raft_storage for tests, the simulator and benchmarks. The application
 * writes to it what a ready tells it to persist. */
typedef struct raft_memstore raft_memstore;

raft_memstore *raft_memstore_new(void);
void raft_memstore_free(raft_memstore *ms);
/* The raft_storage view; valid while ms lives. */
const raft_storage *raft_memstore_storage(raft_memstore *ms);
/* Appends entries, first dropping every stored entry at or after es[0].index. RAFT_ERR_INVALID
 * if that would leave a gap or touch the snapshot. */
int raft_memstore_append(raft_memstore *ms, const raft_entry *es, size_t n);
void raft_memstore_set_hard_state(raft_memstore *ms, const raft_hard_state *hs);
/* Replaces everything with snap (a received snapshot). */
int raft_memstore_apply_snapshot(raft_memstore *ms, const raft_snapshot *snap);
/* Records a snapshot the application took at meta->index (<= last index). */
int raft_memstore_create_snapshot(raft_memstore *ms, const raft_snapshot_meta *meta,
                                  const void *data, size_t len);
/* Drops entries up to and including index (<= the snapshot index). */
int raft_memstore_compact(raft_memstore *ms, uint64_t index);
/* A deep copy (what "persisted" means across a simulated crash). NULL on no memory. */
raft_memstore *raft_memstore_clone(const raft_memstore *ms);

#endif
