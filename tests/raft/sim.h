/* sim: the state shared by the simulator's driver (sim.c: nodes, network, weather, actions)
 * and its oracle (sim_oracle.c: the invariants checked after every step, and small helpers).
 */
#ifndef COORD_TESTS_RAFT_SIM_H
#define COORD_TESTS_RAFT_SIM_H

#include "raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_NODES    12
#define MAX_WRITES   4096
#define BITMAP_WORDS (MAX_WRITES / 64)

typedef struct smachine {
    uint64_t applied;
    uint64_t hash;
    uint64_t bits[BITMAP_WORDS];
} smachine;

typedef struct snode {
    raft_id id;
    bool exists; /* has been started once (a member, or a node joining) */
    raft *r;     /* NULL while down */
    raft_memstore *ms;
    smachine sm;
    smachine saved;     /* what survives a crash when the state machine is durable */
    int crash_in_ready; /* 0 no, 1 before persisting, 2 after persisting (before sending) */
    uint64_t lead_term; /* leader append-only: last observation while leader */
    uint64_t lead_last;
    uint64_t lead_last_term;
} snode;

typedef struct inflight {
    raft_msg m;
    uint64_t at;
} inflight;

typedef struct read_req {
    raft_id node;
    uint64_t acked_at_start; /* writes acknowledged before the read began */
    uint64_t index;          /* read index once known */
    bool have_index;
    bool done;
} read_req;

typedef struct reg_entry {
    uint64_t index, term, hash, prev_term;
} reg_entry;

typedef struct sim {
    uint64_t seed;
    int n_initial;
    uint32_t faults;
    bool trace;
    uint64_t rng;
    uint64_t now;
    snode nodes[MAX_NODES];
    int n_nodes;
    int group[MAX_NODES + 1]; /* partition side of each id (0 = all connected) */
    inflight *net;
    size_t n_net, cap_net;
    /* Oracle. */
    uint64_t *leader_of_term; /* by term */
    size_t cap_terms;
    uint64_t *chain; /* global state hash after applying index i (0 = unknown) */
    uint64_t *cterm; /* term of committed entry i */
    size_t cap_chain;
    size_t cap_cterm;
    uint64_t *commit_term; /* an upper bound of the term entry i was committed in */
    size_t cap_commit_term;
    uint64_t max_committed;
    reg_entry *reg; /* (index, term) -> (data hash, previous term): open addressing */
    size_t cap_reg, n_reg;
    uint64_t n_writes;
    uint8_t write_acked[MAX_WRITES];
    uint64_t acked[MAX_WRITES];
    uint64_t n_acked;
    read_req *reads;
    size_t n_reads, cap_reads;
    char failure[512];
    bool failed;
    uint64_t stat_msgs, stat_commits, stat_reads_ok, stat_elections;
    double p_drop, p_dup, p_long_delay; /* the network's weather */
    bool durable_sm; /* the state machine survives crashes (else it is rebuilt from the snapshot) */
    uint64_t max_msg_bytes; /* 8: one write per append; more: batches */
    bool storm;             /* every seed gets the harshest weather */
    bool pre_vote, check_quorum;
} sim;

/* The seeded generator: every choice of a run comes from here. */
uint64_t rnd(sim *s);
bool chance(sim *s, double p);
uint64_t below(sim *s, uint64_t n);
/* Records the first broken invariant; the run stops and prints its replay command. */
void fail(sim *s, const char *fmt, ...);
void *grow(void *p, size_t *cap, size_t need, size_t elem);
uint64_t mix(uint64_t h, uint64_t v);
uint64_t entry_hash(const raft_entry *e);
snode *node(sim *s, raft_id id);
void tracef(sim *s, const char *fmt, ...);
/* Invariants, called by the driver around every ready it handles. */
void check_new_entries(sim *s, snode *n, const raft_entry *es, size_t cnt);
uint64_t stored_term(snode *n, uint64_t i, bool *ok);
void check_truncation(sim *s, snode *n, const raft_entry *es, size_t cnt);
void check_leader(sim *s, snode *n);
void sm_restore(smachine *sm, const uint8_t *data, size_t len);
void check_reads(sim *s, snode *n);
void apply_entry(sim *s, snode *n, const raft_entry *e);

#endif
