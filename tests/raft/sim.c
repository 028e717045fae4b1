/* raft_sim: a seeded simulation of 3, 5 or 7 raft nodes on a virtual network that drops,
 * duplicates, delays and reorders messages, partitions and heals, crashes nodes and
 * restarts them from exactly what they persisted, compacts logs, changes membership and
 * transfers leadership while clients write and read. After every step it checks:
 *   election safety, leader append-only, log matching, leader completeness, state machine
 *   safety, no committed entry removed, ReadIndex reads see every write acknowledged before
 *   they began, and, once healed, liveness (a leader is elected and a write commits).
 * A failing seed prints the command that replays it (add --trace for every decision).
 *
 *   raft_sim --nodes 5 --seed 42 [--trace]       one seed
 *   raft_sim --nodes 3 --seeds 1000 --from 1     many seeds (exit 1 on the first failure)
 *   raft_sim --storm ...                         harshest weather on every seed
 *   raft_sim --fault commit-old-term --storm --expect-failure --seeds 500
 *                                                passes only if a broken rule is caught
 */
#include "raft.h"
#include "sim.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void log_line(void *ctx, raft_id id, int level, const char *line)
{
    (void)id;
    (void)level;
    sim *s = ctx;
    printf("[%4" PRIu64 "]   %s\n", s->now, line);
}

/* ------------------------------------------------------------------ nodes ------------- */

static void send(sim *s, const raft_msg *m);

static int start_node(sim *s, snode *n, bool founding)
{
    raft_config cfg;
    raft_config_init(&cfg);
    raft_id voters[MAX_NODES];
    for (int i = 0; i < s->n_initial; i++) voters[i] = (raft_id)(i + 1);
    cfg.id = n->id;
    cfg.storage = raft_memstore_storage(n->ms);
    cfg.voters = founding ? voters : NULL;
    cfg.n_voters = founding ? (size_t)s->n_initial : 0;
    cfg.election_tick = 10;
    cfg.heartbeat_tick = 2;
    cfg.seed = s->seed * 1000003 + n->id * 7919 + s->now;
    cfg.max_msg_bytes = s->max_msg_bytes;
    cfg.max_inflight_msgs = 4;
    cfg.max_inflight_bytes = 256;
    cfg.max_committed_bytes = 128;
    cfg.faults = s->faults;
    cfg.pre_vote = s->pre_vote;
    cfg.check_quorum = s->check_quorum;
    cfg.log_level = RAFT_LOG_DEBUG;
    if (s->trace) {
        cfg.log = log_line;
        cfg.log_ctx = s;
    }
    /* The state machine comes back from the snapshot alone; entries after it are applied
     * again as they are handed out. */
    raft_snapshot snap;
    const raft_storage *st = cfg.storage;
    st->snapshot(st->ctx, &snap);
    sm_restore(&n->sm, snap.data, snap.len);
    n->sm.applied = snap.meta.index;
    raft_snapshot_free(&snap);
    if (s->durable_sm && n->exists && n->saved.applied >= n->sm.applied) {
        /* The application kept its state and tells the core how far it got. */
        n->sm = n->saved;
        cfg.applied = n->sm.applied;
    }
    n->lead_term = 0;
    int rc = raft_new(&cfg, &n->r);
    if (rc) fail(s, "node %" PRIu64 " failed to start: %s", n->id, raft_strerror(rc));
    n->exists = true;
    return rc;
}

static void crash(sim *s, snode *n)
{
    if (!n->r) return;
    tracef(s, "crash %" PRIu64, n->id);
    raft_free(n->r);
    n->r = NULL;
    n->crash_in_ready = 0;
    for (size_t i = 0; i < s->n_reads; i++)
        if (s->reads[i].node == n->id) s->reads[i].done = true;
}

static void handle_ready(sim *s, snode *n)
{
    while (n->r && raft_has_ready(n->r) && !s->failed) {
        struct raft_ready rd;
        int rc = raft_ready(n->r, &rd);
        if (rc) {
            fail(s, "node %" PRIu64 " ready: %s", n->id, raft_strerror(rc));
            return;
        }
        if (n->crash_in_ready == 1) {
            /* Dies before anything reaches the disk -- but what raft_msg_needs_durable()
             * lets go early (a leader's appends and heartbeats) may already be out. */
            for (size_t i = 0; i < rd.n_messages; i++)
                if (!raft_msg_needs_durable(&rd.messages[i])) send(s, &rd.messages[i]);
            crash(s, n);
            return;
        }
        if (rd.snapshot) {
            const raft_snapshot *sn = rd.snapshot;
            if (sn->meta.index < s->cap_chain && s->chain[sn->meta.index] &&
                sn->len == sizeof(smachine) &&
                ((const smachine *)(const void *)sn->data)->hash != s->chain[sn->meta.index])
                fail(s,
                     "node %" PRIu64 " received a snapshot at %" PRIu64
                     " that differs from the committed state",
                     n->id, sn->meta.index);
            if ((rc = raft_memstore_apply_snapshot(n->ms, sn))) {
                fail(s, "node %" PRIu64 " could not install snapshot: %s", n->id,
                     raft_strerror(rc));
                return;
            }
            sm_restore(&n->sm, sn->data, sn->len);
            n->sm.applied = sn->meta.index;
        }
        if (rd.n_entries) {
            raft_hard_state hs;
            raft_snapshot_meta meta;
            const raft_storage *st = raft_memstore_storage(n->ms);
            st->initial_state(st->ctx, &hs, &meta);
            if (rd.entries[0].index <= hs.commit)
                fail(s,
                     "node %" PRIu64 " truncated its log at %" PRIu64 " below its commit %" PRIu64,
                     n->id, rd.entries[0].index, hs.commit);
            check_truncation(s, n, rd.entries, rd.n_entries);
            if ((rc = raft_memstore_append(n->ms, rd.entries, rd.n_entries))) {
                fail(s, "node %" PRIu64 " append: %s", n->id, raft_strerror(rc));
                return;
            }
            check_new_entries(s, n, rd.entries, rd.n_entries);
        }
        if (rd.has_hard_state) raft_memstore_set_hard_state(n->ms, &rd.hard_state);
        if (n->crash_in_ready == 2) { /* persisted, but nothing was sent or applied */
            crash(s, n);
            return;
        }
        for (size_t i = 0; i < rd.n_messages; i++) send(s, &rd.messages[i]);
        for (size_t i = 0; i < rd.n_committed && !s->failed; i++)
            apply_entry(s, n, &rd.committed[i]);
        for (size_t i = 0; i < rd.n_read_states; i++) {
            uint64_t id;
            if (rd.read_states[i].ctx_len != 8) continue;
            memcpy(&id, rd.read_states[i].ctx, 8);
            if (id < s->n_reads && s->reads[id].node == n->id && !s->reads[id].done) {
                s->reads[id].index = rd.read_states[i].index;
                s->reads[id].have_index = true;
            }
        }
        n->saved = n->sm;
        if ((rc = raft_advance(n->r, &rd))) {
            fail(s, "node %" PRIu64 " advance: %s", n->id, raft_strerror(rc));
            return;
        }
        check_reads(s, n);
        check_leader(s, n);
    }
}

static void after(sim *s, snode *n, int rc, const char *what)
{
    if (rc == RAFT_ERR_CORRUPT || rc == RAFT_ERR_STORAGE || rc == RAFT_ERR_NOMEM ||
        rc == RAFT_ERR_BUSY)
        fail(s, "node %" PRIu64 " %s: %s", n->id, what, raft_strerror(rc));
    handle_ready(s, n);
}

/* ------------------------------------------------------------------ network ----------- */

static bool connected(sim *s, raft_id a, raft_id b)
{
    return a > MAX_NODES || b > MAX_NODES || s->group[a] == s->group[b];
}

static void send(sim *s, const raft_msg *m)
{
    size_t len = raft_msg_encoded_size(m);
    uint8_t *buf = malloc(len);
    if (!buf || raft_msg_encode(m, buf, len) != len) abort();
    int copies = chance(s, s->p_dup) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        s->net = grow(s->net, &s->cap_net, s->n_net + 1, sizeof(inflight));
        inflight *f = &s->net[s->n_net];
        if (raft_msg_decode(buf, len, &f->m) != RAFT_OK) abort();
        uint64_t delay = 1 + below(s, 3);
        if (chance(s, s->p_long_delay)) delay += 5 + below(s, 30);
        f->at = s->now + delay;
        s->n_net++;
    }
    free(buf);
}

static void deliver_due(sim *s)
{
    for (int guard = 0; guard < 100000 && !s->failed; guard++) {
        /* The next due message, ties broken at random: this is where reordering comes from. */
        size_t pick = SIZE_MAX, n_due = 0;
        for (size_t i = 0; i < s->n_net; i++) {
            if (s->net[i].at > s->now) continue;
            n_due++;
            if (below(s, n_due) == 0) pick = i;
        }
        if (pick == SIZE_MAX) return;
        raft_msg m = s->net[pick].m;
        s->net[pick] = s->net[--s->n_net];
        snode *to = node(s, m.to);
        snode *from = node(s, m.from);
        bool ok = to && to->r && connected(s, m.from, m.to) && !chance(s, s->p_drop);
        if (m.type == RAFT_MSG_SNAP && from && from->r) {
            /* The transport tells the sender how its snapshot stream ended. */
            raft_report_snapshot(from->r, m.to, ok);
            handle_ready(s, from);
        } else if (!ok && from && from->r && chance(s, 0.3)) {
            /* Sometimes the transport notices the loss and says so. */
            raft_report_unreachable(from->r, m.to);
            handle_ready(s, from);
        }
        if (ok) {
            s->stat_msgs++;
            int rc = raft_step(to->r, &m);
            after(s, to, rc, "step");
        }
        raft_msg_free(&m);
    }
}

/* ------------------------------------------------------------------ actions ----------- */

static snode *random_up(sim *s)
{
    snode *up[MAX_NODES];
    int k = 0;
    for (int i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].r) up[k++] = &s->nodes[i];
    return k ? up[below(s, (uint64_t)k)] : NULL;
}

static snode *leader(sim *s)
{
    snode *best = NULL;
    uint64_t term = 0;
    for (int i = 0; i < s->n_nodes; i++) {
        snode *n = &s->nodes[i];
        if (!n->r) continue;
        raft_status st;
        raft_status_get(n->r, &st);
        if (st.soft.role == RAFT_LEADER && st.hard_state.term >= term) {
            best = n;
            term = st.hard_state.term;
        }
    }
    return best;
}

static void propose(sim *s)
{
    snode *n = random_up(s);
    /* Clients wait for answers: at most 64 writes outstanding (a bounded backlog). */
    if (!n || s->n_writes >= MAX_WRITES || s->n_writes - s->n_acked >= 64) return;
    uint64_t w = s->n_writes;
    int rc = raft_propose(n->r, &w, 8, NULL);
    if (rc == RAFT_OK) s->n_writes++;
    tracef(s, "propose w%" PRIu64 " at %" PRIu64 ": %s", w, n->id, raft_strerror(rc));
    after(s, n, rc == RAFT_ERR_DROPPED ? 0 : rc, "propose");
}

static void read_index(sim *s)
{
    snode *n = random_up(s);
    if (!n) return;
    s->reads = grow(s->reads, &s->cap_reads, s->n_reads + 1, sizeof(read_req));
    uint64_t id = s->n_reads;
    s->reads[id] = (read_req){.node = n->id, .acked_at_start = s->n_acked};
    int rc = raft_read_index(n->r, &id, 8);
    if (rc == RAFT_OK) s->n_reads++;
    tracef(s, "read r%" PRIu64 " at %" PRIu64 ": %s", id, n->id, raft_strerror(rc));
    after(s, n, rc == RAFT_ERR_DROPPED ? 0 : rc, "read");
}

static void compact(sim *s)
{
    snode *n = random_up(s);
    if (!n) return;
    raft_snapshot_meta meta;
    if (raft_snapshot_point(n->r, &meta) != RAFT_OK || meta.index == 0) return;
    if (n->sm.applied != meta.index) {
        fail(s, "node %" PRIu64 " raft applied %" PRIu64 " but state machine %" PRIu64, n->id,
             meta.index, n->sm.applied);
        return;
    }
    raft_snapshot existing;
    const raft_storage *st = raft_memstore_storage(n->ms);
    st->snapshot(st->ctx, &existing);
    uint64_t have = existing.meta.index;
    raft_snapshot_free(&existing);
    if (meta.index <= have) return;
    if (raft_memstore_create_snapshot(n->ms, &meta, &n->sm, sizeof(n->sm)) != RAFT_OK) {
        fail(s, "node %" PRIu64 " could not snapshot at %" PRIu64, n->id, meta.index);
        return;
    }
    /* Keep a few entries behind the snapshot sometimes, for followers just behind. */
    uint64_t keep = below(s, 4);
    uint64_t upto = meta.index > keep ? meta.index - keep : meta.index;
    raft_memstore_compact(n->ms, upto);
    tracef(s, "compact %" PRIu64 " to %" PRIu64 " (snapshot %" PRIu64 ")", n->id, upto, meta.index);
}

static void change_membership(sim *s)
{
    snode *l = leader(s);
    if (!l) return;
    raft_status st;
    raft_status_get(l->r, &st);
    raft_conf_change cc = {0};
    const raft_conf_state *c = &st.conf;
    int what = (int)below(s, 5);
    if (what == 0 && s->n_nodes < MAX_NODES) { /* a new node joins as a learner */
        raft_id id = (raft_id)(s->n_nodes + 1);
        cc.changes[cc.n_changes++] = (raft_conf_change_item){RAFT_CC_ADD_LEARNER, id};
    } else if (what == 1 && c->n_learners) { /* promote */
        cc.changes[cc.n_changes++] =
            (raft_conf_change_item){RAFT_CC_ADD_VOTER, c->learners[below(s, c->n_learners)]};
    } else if (what == 2 && c->n_voters > 2) { /* remove a voter, perhaps the leader */
        cc.changes[cc.n_changes++] =
            (raft_conf_change_item){RAFT_CC_REMOVE, c->voters[below(s, c->n_voters)]};
    } else if (what == 3 && c->n_learners) {
        cc.changes[cc.n_changes++] =
            (raft_conf_change_item){RAFT_CC_REMOVE, c->learners[below(s, c->n_learners)]};
    } else if (what == 4 && c->n_learners && c->n_voters > 2) { /* swap: joint of two changes */
        cc.changes[cc.n_changes++] =
            (raft_conf_change_item){RAFT_CC_ADD_VOTER, c->learners[below(s, c->n_learners)]};
        cc.changes[cc.n_changes++] =
            (raft_conf_change_item){RAFT_CC_REMOVE, c->voters[below(s, c->n_voters)]};
    } else {
        return;
    }
    int rc = raft_propose_conf_change(l->r, &cc, NULL, 0, NULL);
    tracef(s, "conf change at %" PRIu64 " (%u changes, first %d %" PRIu64 "): %s", l->id,
           cc.n_changes, cc.changes[0].type, cc.changes[0].node, raft_strerror(rc));
    if (rc == RAFT_OK && cc.changes[0].type == RAFT_CC_ADD_LEARNER) {
        snode *n = &s->nodes[s->n_nodes++];
        *n = (snode){.id = cc.changes[0].node, .ms = raft_memstore_new()};
        start_node(s, n, false);
    }
    after(s, l,
          (rc == RAFT_ERR_CONF_PENDING || rc == RAFT_ERR_INVALID || rc == RAFT_ERR_DROPPED) ? 0
                                                                                            : rc,
          "conf change");
}

static void transfer(sim *s)
{
    snode *l = leader(s);
    if (!l) return;
    raft_status st;
    raft_status_get(l->r, &st);
    raft_id target = st.conf.voters[below(s, st.conf.n_voters)];
    /* Half the time the request reaches a follower, which forwards it. */
    snode *at = chance(s, 0.5) ? l : random_up(s);
    tracef(s, "transfer %" PRIu64 " -> %" PRIu64 " (asked at %" PRIu64 ")", l->id, target, at->id);
    int rc = raft_transfer_leader(at->r, target);
    after(s, at, rc == RAFT_ERR_DROPPED ? 0 : rc, "transfer");
}

static void partition(sim *s)
{
    snode *l = leader(s);
    int how = (int)below(s, 3);
    for (int i = 0; i < s->n_nodes; i++) {
        raft_id id = s->nodes[i].id;
        if (how == 0 || !l)
            s->group[id] = (int)below(s, 2); /* any split */
        else if (how == 1)
            s->group[id] = id == l->id; /* the leader alone */
        else
            s->group[id] = id == l->id || chance(s, 0.3); /* the leader and a few */
    }
    tracef(s, "partition (%d)", how);
}

static void heal(sim *s)
{
    memset(s->group, 0, sizeof(s->group));
    tracef(s, "heal");
}

static void tick_all(sim *s)
{
    for (int i = 0; i < s->n_nodes && !s->failed; i++) {
        snode *n = &s->nodes[i];
        if (n->r) after(s, n, raft_tick(n->r), "tick");
    }
}

static int up_count(sim *s)
{
    int k = 0;
    for (int i = 0; i < s->n_nodes; i++) k += s->nodes[i].r != NULL;
    return k;
}

/* Once the network heals and everyone is up, a leader must emerge and a write commit. */
static void check_liveness(sim *s)
{
    heal(s);
    s->p_drop = s->p_dup = s->p_long_delay = 0;
    for (int i = 0; i < s->n_nodes; i++) {
        s->nodes[i].crash_in_ready = 0;
        if (!s->nodes[i].r) start_node(s, &s->nodes[i], false), handle_ready(s, &s->nodes[i]);
    }
    if (!(s->pre_vote && s->check_quorum)) {
        /* Without both safeguards a removed member that never learned of its removal can
         * keep deposing leaders with ever higher terms (dissertation 4.2.3); an operator
         * shuts it down. With both, it stays up: it must not disrupt anyone. */
        raft_status newest = {0};
        for (int i = 0; i < s->n_nodes; i++) {
            raft_status st;
            raft_status_get(s->nodes[i].r, &st);
            if (st.applied >= newest.applied) newest = st;
        }
        for (int i = 0; i < s->n_nodes; i++) {
            raft_id id = s->nodes[i].id;
            bool member = false;
            for (uint32_t k = 0; k < newest.conf.n_voters; k++)
                member |= newest.conf.voters[k] == id;
            for (uint32_t k = 0; k < newest.conf.n_voters_outgoing; k++)
                member |= newest.conf.voters_outgoing[k] == id;
            for (uint32_t k = 0; k < newest.conf.n_learners; k++)
                member |= newest.conf.learners[k] == id;
            if (!member) crash(s, &s->nodes[i]);
        }
    }
    uint64_t deadline = s->now + 300;
    uint64_t w = UINT64_MAX;
    uint64_t proposed_at = 0;
    while (s->now < deadline && !s->failed) {
        s->now++;
        deliver_due(s);
        tick_all(s);
        snode *l = leader(s);
        if (!l) continue;
        if (w == UINT64_MAX || (s->now - proposed_at > 40 && !s->write_acked[w])) {
            if (s->n_writes >= MAX_WRITES) return;
            uint64_t cand = s->n_writes;
            if (raft_propose(l->r, &cand, 8, NULL) == RAFT_OK) {
                w = cand;
                s->n_writes++;
                proposed_at = s->now;
            }
            handle_ready(s, l);
        }
        if (w != UINT64_MAX && s->write_acked[w]) return;
    }
    if (!s->failed)
        fail(s, "liveness: %s within 300 ticks of healing",
             leader(s) ? "no write committed" : "no leader elected");
}

/* ------------------------------------------------------------------ driver ------------ */

static void sim_free(sim *s)
{
    for (int i = 0; i < s->n_nodes; i++) {
        raft_free(s->nodes[i].r);
        raft_memstore_free(s->nodes[i].ms);
    }
    for (size_t i = 0; i < s->n_net; i++) raft_msg_free(&s->net[i].m);
    free(s->net);
    free(s->leader_of_term);
    free(s->chain);
    free(s->cterm);
    free(s->commit_term);
    free(s->reg);
    free(s->reads);
}

static int run(sim *s, int ticks)
{
    s->p_drop = 0.05, s->p_dup = 0.03, s->p_long_delay = 0.03;
    s->rng = s->seed;
    /* Each seed picks its own weather. */
    double p_crash = chance(s, 0.5) ? 0.004 : 0.0;
    double p_part = chance(s, 0.5) ? 0.01 : 0.0;
    double p_conf = chance(s, 0.5) ? 0.02 : 0.0;
    /* Stormy seeds: leaders die young, which is where old-term entries linger uncommitted. */
    double p_kill_leader = chance(s, 0.3) ? 0.03 : 0.0;
    /* Busy seeds: several writes per tick, so deposed leaders leave runs of uncommitted
     * entries of their term behind (the raw material of Figure 8). */
    int writes_per_tick = chance(s, 0.3) ? 3 : 1;
    static const uint64_t msg_sizes[] = {8, 24, 64};
    s->max_msg_bytes = msg_sizes[below(s, 3)];
    if (s->storm) {
        /* Leaders are cut off and die young while writes pour in: the conditions of the
         * paper's Figure 8, every seed. */
        p_kill_leader = 0.04;
        p_part = 0.04;
        writes_per_tick = 3;
        s->max_msg_bytes = 8;
    }
    s->durable_sm = chance(s, 0.5);
    /* Most seeds run as the server does (both on); some without either safeguard. */
    s->pre_vote = !chance(s, 0.2);
    s->check_quorum = !chance(s, 0.2);
    for (int i = 0; i < s->n_initial; i++) {
        snode *n = &s->nodes[s->n_nodes++];
        *n = (snode){.id = (raft_id)(i + 1), .ms = raft_memstore_new()};
        start_node(s, n, true);
        handle_ready(s, n);
    }
    for (int t = 0; t < ticks && !s->failed; t++) {
        s->now++;
        deliver_due(s);
        tick_all(s);
        for (int w = 0; w < writes_per_tick; w++)
            if (chance(s, 0.4)) propose(s);
        if (chance(s, 0.15)) read_index(s);
        if (chance(s, 0.03)) compact(s);
        if (chance(s, p_conf)) change_membership(s);
        if (chance(s, 0.01)) transfer(s);
        if (chance(s, p_part)) partition(s);
        if (chance(s, 0.03)) heal(s);
        if (chance(s, p_crash) && up_count(s) > 1) {
            snode *n = random_up(s);
            int how = (int)below(s, 3);
            if (how == 0)
                crash(s, n);
            else
                n->crash_in_ready = how; /* at its next ready */
        }
        if (chance(s, p_kill_leader) && up_count(s) > 1) {
            snode *l = leader(s);
            if (l) {
                int how = (int)below(s, 3);
                if (how == 0)
                    crash(s, l);
                else
                    l->crash_in_ready = how;
            }
        }
        for (int i = 0; i < s->n_nodes; i++) {
            snode *n = &s->nodes[i];
            if (!n->r && n->exists && chance(s, 0.05)) {
                tracef(s, "restart %" PRIu64, n->id);
                start_node(s, n, false);
                handle_ready(s, n);
            }
        }
    }
    if (!s->failed) check_liveness(s);
    return s->failed ? 1 : 0;
}

static const struct {
    const char *name;
    uint32_t bit;
} fault_names[] = {
    {"commit-old-term", RAFT_FAULT_COMMIT_OLD_TERM},
    {"vote-ignores-log", RAFT_FAULT_VOTE_IGNORES_LOG},
    {"read-before-noop", RAFT_FAULT_READ_BEFORE_NOOP},
    {"truncate-on-stale", RAFT_FAULT_TRUNCATE_ON_STALE},
};

int main(int argc, char **argv)
{
    int nodes = 3, ticks = 600;
    uint64_t from = 1, seeds = 1;
    bool trace = false, expect_failure = false, quiet = false, single = false, keep_going = false,
         storm = false;
    const char *fault = NULL;
    uint32_t faults = 0;
    static const struct option opts[] = {
        {"nodes", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
        {"seeds", required_argument, 0, 'k'}, {"from", required_argument, 0, 'f'},
        {"ticks", required_argument, 0, 't'}, {"trace", no_argument, 0, 'v'},
        {"fault", required_argument, 0, 'F'}, {"expect-failure", no_argument, 0, 'x'},
        {"quiet", no_argument, 0, 'q'},       {"keep-going", no_argument, 0, 'g'},
        {"storm", no_argument, 0, 'S'},       {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            nodes = atoi(optarg);
            break;
        case 's':
            from = strtoull(optarg, NULL, 10), seeds = 1, single = true;
            break;
        case 'k':
            seeds = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            from = strtoull(optarg, NULL, 10);
            break;
        case 't':
            ticks = atoi(optarg);
            break;
        case 'v':
            trace = true;
            break;
        case 'x':
            expect_failure = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'g':
            keep_going = true;
            break;
        case 'S':
            storm = true;
            break;
        case 'F':
            fault = optarg;
            for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
                if (strcmp(optarg, fault_names[i].name) == 0) faults |= fault_names[i].bit;
            if (!faults) {
                fprintf(stderr, "unknown fault %s\n", optarg);
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: raft_sim [--nodes N] [--seed S | --seeds K --from S] "
                            "[--ticks T] [--storm] [--trace] [--keep-going] [--fault NAME "
                            "--expect-failure]\n");
            return 2;
        }
    }
    (void)single;
    if (nodes < 1 || nodes > 7) {
        fprintf(stderr, "--nodes must be 1..7\n");
        return 2;
    }
    clock_t t0 = clock();
    uint64_t failures = 0, msgs = 0, commits = 0, reads = 0, elections = 0;
    for (uint64_t seed = from; seed < from + seeds; seed++) {
        sim *s = calloc(1, sizeof(*s));
        if (!s) return 2;
        s->seed = seed;
        s->n_initial = nodes;
        s->faults = faults;
        s->trace = trace;
        s->storm = storm;
        int rc = run(s, ticks);
        msgs += s->stat_msgs;
        commits += s->stat_commits;
        reads += s->stat_reads_ok;
        elections += s->stat_elections;
        if (rc) {
            failures++;
            printf("FAIL nodes=%d seed=%" PRIu64 ": %s\n", nodes, seed, s->failure);
            printf("  replay: raft_sim --nodes %d --seed %" PRIu64 "%s%s%s --trace\n", nodes, seed,
                   storm ? " --storm" : "", fault ? " --fault " : "", fault ? fault : "");
        }
        sim_free(s);
        free(s);
        if (rc && !keep_going) break;
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (!quiet || failures)
        printf("raft_sim: nodes=%d seeds=%" PRIu64 "..%" PRIu64 " failures=%" PRIu64
               " elections=%" PRIu64 " commits=%" PRIu64 " reads=%" PRIu64 " msgs=%" PRIu64
               " cpu=%.1fs\n",
               nodes, from, from + seeds - 1, failures, elections, commits, reads, msgs, secs);
    if (expect_failure) {
        if (failures) {
            printf("raft_sim: fault %s caught, as expected\n", fault ? fault : "(none)");
            return 0;
        }
        printf("raft_sim: fault %s NOT caught in %" PRIu64 " seeds\n", fault ? fault : "(none)",
               seeds);
        return 1;
    }
    return failures ? 1 : 0;
}
