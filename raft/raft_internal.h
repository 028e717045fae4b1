/* raft_internal: the core's private state, shared by the files of raft/ and nothing else.
 *
 * Files: raft_log.c (log = storage + unstable tail), raft_progress.c (per-follower flow
 * control), raft_conf.c (configurations, quorums, applying changes), raft.c (roles, terms,
 * elections, step), raft_replicate.c (appends, heartbeats, snapshots), raft_read.c
 * (ReadIndex), raft_node.c (the public calls, ready/advance), raft_util.c (small helpers).
 */
#ifndef COORD_RAFT_INTERNAL_H
#define COORD_RAFT_INTERNAL_H

#include "raft.h"

/* ---------------------------------------------------------------- log ------------------- */

/* The log as the core sees it: what storage holds, overridden from `offset` on by the
 * unstable entries (appended but not yet handed to the application to persist) and, when a
 * snapshot is pending installation, with storage ignored entirely (offset = snap index + 1).
 * Invariant: committed <= last index; applied <= committed. */
typedef struct raft_log {
    const raft_storage *st;
    raft_snapshot *snap; /* received, not yet installed; owned */
    raft_entry *ents;    /* unstable entries offset..offset+n-1; data owned */
    size_t n;
    size_t cap;
    uint64_t offset;
    uint64_t committed;
    uint64_t applied;
} raft_log;

int log_init(raft_log *l, const raft_storage *st);
void log_free(raft_log *l);
int log_first_index(const raft_log *l, uint64_t *out);
int log_last_index(const raft_log *l, uint64_t *out);
int log_term(const raft_log *l, uint64_t i, uint64_t *term);
/* Term of i, or 0 when it is unknown (compacted or past the end). */
uint64_t log_term_or_zero(const raft_log *l, uint64_t i);
bool log_match_term(const raft_log *l, uint64_t i, uint64_t term);
/* Copies entries [lo, hi) into out (at most max_bytes of data, at least one entry). */
int log_entries(const raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes, raft_entries *out);
/* Appends copies of es (es[0].index <= last + 1), dropping any entry at or after es[0].index. */
int log_append(raft_log *l, const raft_entry *es, size_t n);
/* The index of the first entry of es that conflicts with the log (different term, or new),
 * 0 if every entry is already present. */
uint64_t log_find_conflict(const raft_log *l, const raft_entry *es, size_t n);
/* The largest index <= index whose term is <= term (0 if none known). */
uint64_t log_find_conflict_by_term(const raft_log *l, uint64_t index, uint64_t term);
bool log_is_up_to_date(const raft_log *l, uint64_t last_index, uint64_t last_term);
/* Replaces the log with snap (a copy). */
int log_restore(raft_log *l, const raft_snapshot *snap);
/* The last index that is durable (not waiting in the unstable tail). */
uint64_t log_stable_last(const raft_log *l);
/* The application persisted every unstable entry (and the pending snapshot). */
void log_stable_all(raft_log *l);

/* ---------------------------------------------------------------- progress -------------- */

enum { PR_PROBE = 0, PR_REPLICATE = 1, PR_SNAPSHOT = 2 };

/* What the leader knows of one member's log. Invariant: match < next. In PR_PROBE at most
 * one APP is unacknowledged (probe_sent); in PR_REPLICATE appends are pipelined up to the
 * in-flight window; in PR_SNAPSHOT nothing is sent until the snapshot is acknowledged. */
typedef struct raft_progress {
    raft_id id;
    uint64_t match;
    uint64_t next;
    int state;
    uint64_t pending_snapshot; /* PR_SNAPSHOT: the index of the snapshot sent */
    bool probe_sent;
    bool recent_active; /* heard from since the last check-quorum round */
    bool learner;
    uint64_t read_ack; /* highest ReadIndex round acknowledged in this term */
    /* In-flight window: ring of (last index, bytes) per unacknowledged APP. */
    uint64_t *infl_index;
    uint64_t *infl_bytes;
    uint32_t infl_start;
    uint32_t infl_count;
    uint32_t infl_cap;
    uint64_t infl_total_bytes;
} raft_progress;

void pr_reset(raft_progress *pr, raft_id id, uint64_t next, bool learner);
void pr_free(raft_progress *pr);
void pr_become_probe(raft_progress *pr);
void pr_become_replicate(raft_progress *pr);
void pr_become_snapshot(raft_progress *pr, uint64_t index);
bool pr_maybe_update(raft_progress *pr, uint64_t n);
bool pr_maybe_decr_to(raft_progress *pr, uint64_t rejected, uint64_t match_hint);
bool pr_is_paused(const raft_progress *pr, uint32_t max_msgs, uint64_t max_bytes);
int pr_infl_add(raft_progress *pr, uint32_t max_msgs, uint64_t index, uint64_t bytes);
void pr_infl_free_le(raft_progress *pr, uint64_t index);
void pr_infl_free_first(raft_progress *pr);
void pr_infl_reset(raft_progress *pr);

/* ---------------------------------------------------------------- reads ----------------- */

typedef struct raft_read_req {
    uint64_t seq;   /* heartbeat round that confirms it; 0 = waiting for a commit in term */
    uint64_t index; /* commit index when it was taken */
    raft_id from;   /* who asked (this node, or a follower to answer by message) */
    uint32_t ctx_len;
    uint8_t *ctx;
} raft_read_req;

/* ---------------------------------------------------------------- the node -------------- */

struct raft {
    raft_id id;
    raft_config cfg; /* voters/learners pointers are not kept */

    /* Persistent state (Figure 2), mirrored into ready.hard_state. */
    uint64_t term;
    raft_id vote;
    raft_log log;

    raft_conf_state conf;
    raft_progress prs[RAFT_MAX_NODES];
    size_t n_prs;

    int role;
    raft_id lead;
    raft_id transferee;          /* leader: transfer target in progress */
    uint64_t pending_conf_index; /* leader: no new change until applied >= this */
    bool learner;
    bool append_pending; /* leader: entries proposed since the last ready are not sent yet */

    int election_elapsed;
    int heartbeat_elapsed;
    int randomized_timeout; /* in [election_tick, 2 * election_tick) */
    uint64_t rng;

    /* Votes in the current campaign: +1 granted, -1 rejected, 0 none. */
    raft_id vote_ids[RAFT_MAX_NODES];
    int8_t vote_vals[RAFT_MAX_NODES];
    size_t n_votes;

    /* Outbox (owned; handed out by raft_ready, freed by raft_advance). */
    raft_msg *msgs;
    size_t n_msgs;
    size_t cap_msgs;

    /* ReadIndex requests in order; answered ones move to read_states. */
    raft_read_req *reads;
    size_t n_reads;
    size_t cap_reads;
    uint64_t read_seq;      /* the latest heartbeat round started in this term */
    bool read_round_unsent; /* its heartbeats are still in the outbox: new reads may join */
    raft_read_state *read_states;
    size_t n_read_states;
    size_t cap_read_states;

    /* Ready bookkeeping. */
    bool in_ready;
    raft_soft_state prev_soft;
    raft_hard_state prev_hard;
    raft_entries rd_committed;
    bool fatal; /* a broken invariant was detected: every call fails */
};

/* raft_util.c */
void rlog(const raft *r, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
uint64_t rng_next(uint64_t *state);
void *raft_grow(void *p, size_t *cap, size_t need, size_t elem);

/* raft_conf.c */
bool conf_is_voter(const raft_conf_state *c, raft_id id);
bool conf_is_learner(const raft_conf_state *c, raft_id id);
bool conf_is_joint(const raft_conf_state *c);
/* Applies cc to c (into out). RAFT_ERR_INVALID if it is not allowed from c. */
int conf_apply_change(const raft_conf_state *c, const raft_conf_change *cc, raft_conf_state *out);
/* The largest value a quorum has reached (joint: of both majorities); value(id) per voter. */
uint64_t conf_committed(const raft_conf_state *c, uint64_t (*value)(const raft *, raft_id),
                        const raft *r);
enum { VOTE_PENDING = 0, VOTE_WON = 1, VOTE_LOST = 2 };
/* The result of a vote where vote(id) is +1 granted, -1 rejected, 0 unknown. */
int conf_vote_result(const raft_conf_state *c, int (*vote)(const raft *, raft_id), const raft *r);
raft_progress *conf_progress(raft *r, raft_id id);
/* Makes the progress table match r->conf (new members start probing at last + 1). */
int conf_sync_progress(raft *r);
/* Switches r to conf (applied configuration change or restored snapshot). */
int conf_switch(raft *r, const raft_conf_state *conf);
void conf_format(const raft_conf_state *c, char *buf, size_t cap);

/* raft.c */
void become_follower(raft *r, uint64_t term, raft_id lead);
int become_leader(raft *r);
int campaign(raft *r, bool pre_vote, bool transfer);
int step_message(raft *r, const raft_msg *m);
int tick(raft *r);
bool promotable(const raft *r);
raft_msg *send_msg(raft *r, raft_id to, int type);
int append_local(raft *r, const raft_entry *es, size_t n, uint64_t *last);
void abort_transfer(raft *r);
int msg_attach(raft_msg *m, const raft_entry *es, uint32_t n, const raft_snapshot *snap,
               const uint8_t *ctx, uint32_t ctx_len);
int forward(raft *r, const raft_msg *in, int type);
int propose_entries(raft *r, const raft_entry *es, uint32_t n, uint64_t *last);
int transfer_leader(raft *r, raft_id target);

/* raft_replicate.c */
int send_append(raft *r, raft_progress *pr, bool send_if_empty, bool *sent);
int broadcast_append(raft *r);
/* Sends new entries to every follower that can take them (nothing when there is none). */
int flush_appends(raft *r);
int broadcast_heartbeat(raft *r);
int maybe_commit(raft *r, bool *advanced);
int handle_append(raft *r, const raft_msg *m);
int handle_heartbeat(raft *r, const raft_msg *m);
int handle_snapshot(raft *r, const raft_msg *m);
int handle_append_resp(raft *r, const raft_msg *m);
int handle_heartbeat_resp(raft *r, const raft_msg *m);

/* raft_read.c */
int read_request(raft *r, raft_id from, const uint8_t *ctx, uint32_t ctx_len);
int read_on_commit_in_term(raft *r);
int read_release_acked(raft *r);
void reads_clear(raft *r);
int read_state_add(raft *r, uint64_t index, const uint8_t *ctx, uint32_t ctx_len);

#endif
