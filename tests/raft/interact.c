/* raft_interact: runs a scripted interaction and prints what happened, for comparison with a
 * golden file. Lines starting with "> " are commands; "#" lines and blank lines are kept;
 * everything else in the input is the previous output and is ignored. The output is the
 * script with each command followed by its messages and decisions, indented:
 *
 *   raft_interact testdata/election.txt > out && diff -u testdata/election.txt out
 *
 * Commands: cluster voters=N [learners=N] [prevote] [checkquorum] [max-msg-bytes=N]
 * [inflight=N] [level=debug|info] | campaign ID | tick ID [N] | stabilize | deliver [FROM [TO]]
 * | drop [FROM [TO]] | propose ID DATA | read ID CTX... | transfer ID TARGET | add-voter ID NODE
 * | add-learner ID NODE | remove ID NODE | add-node ID | compact ID | crash ID | restart ID
 * | isolate ID | heal | status ID
 * Messages are printed when a node hands them out; deliveries happen only by command.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long num(const char *s)
{
    return s ? strtoull(s, NULL, 10) : 0;
}

static void status(harness *h, raft_id id)
{
    raft_status s = h_status(h, id);
    if (!h_node(h, id) || !h_node(h, id)->r) {
        printf("  %llu: down\n", (unsigned long long)id);
        return;
    }
    printf("  %llu: %s term=%llu vote=%llu commit=%llu applied=%llu log=%llu..%llu leader=%llu\n",
           (unsigned long long)id, raft_role_name(s.soft.role),
           (unsigned long long)s.hard_state.term, (unsigned long long)s.hard_state.vote,
           (unsigned long long)s.hard_state.commit, (unsigned long long)s.applied,
           (unsigned long long)s.first_index, (unsigned long long)s.last_index,
           (unsigned long long)s.soft.leader);
    static const char *states[] = {"probe", "replicate", "snapshot"};
    for (size_t i = 0; i < s.n_progress; i++)
        printf("    progress %llu: %s match=%llu next=%llu inflight=%u%s\n",
               (unsigned long long)s.progress[i].id, states[s.progress[i].state],
               (unsigned long long)s.progress[i].match, (unsigned long long)s.progress[i].next,
               s.progress[i].inflight, s.progress[i].learner ? " learner" : "");
}

static int conf_change(harness *h, raft_id at, int type, raft_id node)
{
    raft_conf_change cc = {.n_changes = 1};
    cc.changes[0] = (raft_conf_change_item){(uint8_t)type, node};
    return raft_propose_conf_change(h_node(h, at)->r, &cc, NULL, 0, NULL);
}

static int run(harness *h, char *cmd)
{
    char *argv[16] = {0};
    int argc = 0;
    for (char *t = strtok(cmd, " \t\n"); t && argc < 16; t = strtok(NULL, " \t\n"))
        argv[argc++] = t;
    if (argc == 0) return 0;
    const char *c = argv[0];
    raft_id a = num(argv[1]), b = num(argv[2]);
    hnode *n = a ? h_node(h, a) : NULL;
    if (strcmp(c, "cluster") == 0) {
        raft_config cfg;
        raft_config_init(&cfg);
        cfg.pre_vote = cfg.check_quorum = false;
        cfg.log_level = RAFT_LOG_INFO;
        int voters = 3, learners = 0;
        for (int i = 1; i < argc; i++) {
            if (!strncmp(argv[i], "voters=", 7))
                voters = atoi(argv[i] + 7);
            else if (!strncmp(argv[i], "learners=", 9))
                learners = atoi(argv[i] + 9);
            else if (!strcmp(argv[i], "prevote"))
                cfg.pre_vote = true;
            else if (!strcmp(argv[i], "checkquorum"))
                cfg.check_quorum = true;
            else if (!strncmp(argv[i], "max-msg-bytes=", 14))
                cfg.max_msg_bytes = num(argv[i] + 14);
            else if (!strncmp(argv[i], "inflight=", 9))
                cfg.max_inflight_msgs = (uint32_t)num(argv[i] + 9);
            else if (!strcmp(argv[i], "level=debug"))
                cfg.log_level = RAFT_LOG_DEBUG;
        }
        h_free(h);
        h->trace = stdout;
        h->trace_msgs = true;
        return h_init(h, voters, learners, &cfg);
    }
    if (!strcmp(c, "stabilize")) return h_stabilize(h), 0;
    if (!strcmp(c, "deliver")) return h_deliver(h, a, b), 0;
    if (!strcmp(c, "drop")) {
        int k = h_drop(h, a, b);
        printf("  dropped %d\n", k);
        return 0;
    }
    if (!strcmp(c, "heal")) return h_heal(h), 0;
    if (!strcmp(c, "add-node")) return h_add_empty_node(h, a);
    if (!n) {
        printf("  unknown node %s\n", argv[1] ? argv[1] : "(none)");
        return 0;
    }
    int rc = 0;
    if (!strcmp(c, "campaign"))
        rc = raft_campaign(n->r);
    else if (!strcmp(c, "tick"))
        rc = h_tick(h, a, argc > 2 ? (int)b : 1);
    else if (!strcmp(c, "propose"))
        rc = raft_propose(n->r, argv[2], strlen(argv[2]), NULL);
    else if (!strcmp(c, "read"))
        for (int i = 2; i < argc && !rc; i++) rc = raft_read_index(n->r, argv[i], strlen(argv[i]));
    else if (!strcmp(c, "transfer"))
        rc = raft_transfer_leader(n->r, b);
    else if (!strcmp(c, "add-voter"))
        rc = conf_change(h, a, RAFT_CC_ADD_VOTER, b);
    else if (!strcmp(c, "add-learner"))
        rc = conf_change(h, a, RAFT_CC_ADD_LEARNER, b);
    else if (!strcmp(c, "remove"))
        rc = conf_change(h, a, RAFT_CC_REMOVE, b);
    else if (!strcmp(c, "compact"))
        rc = h_compact(h, a);
    else if (!strcmp(c, "crash"))
        rc = h_crash(h, a) < 0 ? -1 : 0;
    else if (!strcmp(c, "restart"))
        rc = h_restart(h, a);
    else if (!strcmp(c, "isolate"))
        h_isolate(h, a);
    else if (!strcmp(c, "status"))
        status(h, a);
    else
        printf("  unknown command %s\n", c);
    if (rc) printf("  error: %s\n", raft_strerror(rc));
    if (n->r && strcmp(c, "status") != 0) h_ready(h, a);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: raft_interact SCRIPT\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    harness h = {0};
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n') {
            fputs(line, stdout);
        } else if (line[0] == '>' && line[1] == ' ') {
            fputs(line, stdout);
            fflush(stdout);
            run(&h, line + 2);
            fflush(stdout);
        }
    }
    fclose(f);
    h_free(&h);
    return 0;
}
