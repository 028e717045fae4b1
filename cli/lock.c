/* lock and elect: etcd's distributed lock and leader election, through the server's Lock and
 * Election services (etcd serves them too), each under a session lease kept alive meanwhile.
 *
 * `lock NAME [command...]` holds the lock while the command runs and passes it the lock's key
 * and revisions so it can fence what it touches:
 *   COORD_LOCK_KEY, ETCD_LOCK_KEY  the lock's key
 *   COORD_LOCK_REV                 the key's create revision: a Txn guarded by
 *                                  `create(COORD_LOCK_KEY) = COORD_LOCK_REV` succeeds only
 *                                  while this holder still holds the lock
 *   ETCD_LOCK_REV                  the revision at which the lock was acquired (etcdctl's)
 * Both revisions grow from one holder to the next. If the session lease is lost while the
 * command runs, the command is sent SIGTERM and lock fails: the lock is no longer held.
 */
#include "lease.h"
#include "session.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const flag_def lease_elect_flag_defs[] = {
    {"listen", 'l', FLAG_BOOL, offsetof(lease_opts, listen), "false", "observation mode"},
    {"ttl", 0, FLAG_INT64, offsetof(lease_opts, ttl), "60", "timeout for session"},
};
const size_t n_lease_elect_flag_defs = 2;

void lock_opts_init(void *opts)
{
    lease_opts *o = opts;
    o->ttl = 10;
}

void elect_opts_init(void *opts)
{
    lease_opts *o = opts;
    o->ttl = 60;
}

/* Runs argv with the lock's environment; returns its exit status (128+signal when killed), -1
 * when the session was lost (the command was told to stop), -2 when it could not start. A
 * signal that comes to coordctl meanwhile is passed on to the command. */
static int run_holding(char **argv, const char *key, int64_t create_rev, int64_t header_rev,
                       cli_session *s, cli_err *e)
{
    char rev[32], hrev[32];
    snprintf(rev, sizeof(rev), "%" PRId64, create_rev);
    snprintf(hrev, sizeof(hrev), "%" PRId64, header_rev);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cli_fail(e, CLI_EXIT_ERROR, "cannot start %s", argv[0]);
        return -2;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setenv("COORD_LOCK_KEY", key, 1);
        setenv("COORD_LOCK_REV", rev, 1);
        setenv("ETCD_LOCK_KEY", key, 1);
        setenv("ETCD_LOCK_REV", hrev, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "Error: cannot run %s\n", argv[0]);
        _exit(127);
    }
    bool lost = false;
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            if (lost) return -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        int sig = session_wait_signal(50);
        if (sig) kill(pid, sig);
        if (!lost && session_lost(s)) {
            lost = true;
            kill(pid, SIGTERM);
        }
    }
}

/* The create revision of key (0 if it is gone). */
static int64_t create_revision(coord_client *c, coord_bytes key)
{
    coord_range_req r = {.key = key};
    coord_range_resp resp;
    coord_error err = {0};
    int64_t rev = 0;
    if (coord_range(c, &r, &resp, &err) == COORD_OK && resp.n_kvs == 1)
        rev = resp.kvs[0].create_revision;
    coord_range_resp_free(&resp);
    return rev;
}

int cmd_lock(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const lease_opts *o = opts;
    if (n_pos < 1)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "lock takes a lock name argument and an optional command to execute");
    if (o->ttl <= 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "--ttl must be a positive number");
    session_block_signals();
    coord_client *c;
    int rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    cli_session *s = NULL;
    if ((rc = session_start(c, 0, o->ttl, &s, e)) != CLI_EXIT_OK) goto done_destroy_client;
    coord_lock_resp lr;
    coord_error err = {0};
    if (coord_lock(c, coord_str(pos[0]), session_lease(s), 0, &lr, &err) != COORD_OK) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        goto done_end_session;
    }
    char *key = cli_pool_strndup(&ctx->pool, (const char *)lr.key.ptr, lr.key.len);
    int64_t header_rev = lr.header.revision;
    coord_lock_resp_free(&lr);
    if (!key) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "out of memory");
        goto done_end_session;
    }
    int64_t create_rev = create_revision(c, coord_str(key));
    if (create_rev == 0) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "the lock's key %s vanished: its lease expired", key);
        goto done_end_session;
    }
    if (n_pos == 1) {
        fprintf(ctx->out.out, "%s\n", key);
        fflush(ctx->out.out);
        while (!session_lost(s) && !session_wait_signal(100)) {
        }
        if (session_lost(s)) rc = cli_fail(e, CLI_EXIT_ERROR, "session expired: the lock was lost");
    } else {
        int status = run_holding(pos + 1, key, create_rev, header_rev, s, e);
        if (status == -1)
            rc = cli_fail(e, CLI_EXIT_ERROR, "session expired: the lock was lost");
        else if (status == -2)
            rc = CLI_EXIT_ERROR;
        else
            rc = status == 0 ? CLI_EXIT_OK : status;
    }
    if (!session_lost(s)) coord_unlock(c, coord_str(key), NULL, NULL);
done_end_session:
    /* The session's lease is ours alone: revoking it releases whatever is left at once. */
    session_end(s, true);
done_destroy_client:
    coord_client_destroy(c);
    return rc;
}

static void print_leader(const printer *p, const coord_leader_resp *r)
{
    if (!r->has_kv) return;
    fwrite(r->kv.key.ptr, 1, r->kv.key.len, p->out);
    fputc('\n', p->out);
    fwrite(r->kv.value.ptr, 1, r->kv.value.len, p->out);
    fputc('\n', p->out);
    fflush(p->out);
}

static int observe(cli_ctx *ctx, coord_client *c, const char *name, cli_err *e)
{
    coord_observer *o = NULL;
    coord_error err = {0};
    if (coord_observe(c, coord_str(name), &o, &err) != COORD_OK)
        return cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
    int rc = CLI_EXIT_OK;
    for (;;) {
        coord_leader_resp r;
        int orc = coord_observe_next(o, 100, &r, &err);
        if (orc == COORD_OK) print_leader(&ctx->out, &r);
        coord_leader_resp_free(&r);
        if (orc != COORD_OK && orc != COORD_DEADLINE_EXCEEDED) {
            rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
            break;
        }
        if (session_wait_signal(0)) break;
    }
    coord_observe_close(o);
    return rc;
}

int cmd_elect(cli_ctx *ctx, void *opts, int n_pos, char **pos, cli_err *e)
{
    const lease_opts *o = opts;
    if (n_pos != 1 && n_pos != 2)
        return cli_fail(e, CLI_EXIT_BAD_ARGS,
                        "elect takes one election name argument and an optional proposal argument");
    if (n_pos == 1 && !o->listen)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "no proposal argument but -l not set");
    if (n_pos == 2 && o->listen)
        return cli_fail(e, CLI_EXIT_BAD_ARGS, "proposal given but -l is set");
    if (o->ttl <= 0) return cli_fail(e, CLI_EXIT_BAD_ARGS, "--ttl must be a positive number");
    session_block_signals();
    coord_client *c;
    int rc = cli_open_client(ctx, NULL, &c, e);
    if (rc != CLI_EXIT_OK) return rc;
    if (o->listen) {
        rc = observe(ctx, c, pos[0], e);
        coord_client_destroy(c);
        return rc;
    }
    cli_session *s = NULL;
    if ((rc = session_start(c, 0, o->ttl, &s, e)) != CLI_EXIT_OK) goto done_destroy_client;
    coord_campaign_resp cr;
    coord_error err = {0};
    if (coord_campaign(c, coord_str(pos[0]), session_lease(s), coord_str(pos[1]), 0, &cr, &err) !=
        COORD_OK) {
        rc = cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        goto done_end_session;
    }
    coord_leader_resp lr;
    if (coord_leader(c, coord_str(pos[0]), &lr, &err) == COORD_OK) print_leader(&ctx->out, &lr);
    coord_leader_resp_free(&lr);
    while (!session_lost(s) && !session_wait_signal(100)) {
    }
    if (session_lost(s))
        rc = cli_fail(e, CLI_EXIT_ERROR, "elect: session expired");
    else
        coord_resign(c, &cr.leader, NULL, NULL);
    coord_campaign_resp_free(&cr);
done_end_session:
    session_end(s, true);
done_destroy_client:
    coord_client_destroy(c);
    return rc;
}
