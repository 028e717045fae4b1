#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct cli_session {
    coord_client *c;
    int64_t lease;
    int64_t ttl;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stopping */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC */
    bool stopping;
    _Atomic bool lost;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to ms unless stopped; returns true when stopping. */
static bool pause_ms(cli_session *s, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) break;
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void *renew_main(void *arg)
{
    cli_session *s = arg;
    int64_t period = s->ttl * 1000 / 3;
    if (period < 200) period = 200;
    int64_t last_ok = now_ms();
    coord_keepalive *k = NULL;
    for (;;) {
        coord_error err = {0};
        int64_t ttl = 0;
        int rc = k ? COORD_OK : coord_keepalive_open(s->c, &k, &err);
        if (rc == COORD_OK) rc = coord_keepalive_renew(k, s->lease, &ttl, NULL, &err);
        if (rc == COORD_OK && ttl == 0) {
            atomic_store(&s->lost, true); /* the server says the lease is gone */
            break;
        }
        int64_t wait = period;
        if (rc == COORD_OK) {
            last_ok = now_ms();
        } else {
            coord_keepalive_close(k);
            k = NULL;
            if (now_ms() - last_ok >= s->ttl * 1000) {
                atomic_store(&s->lost, true); /* no renewal for a whole TTL */
                break;
            }
            wait = 500; /* try again soon: the lease is running out */
        }
        if (pause_ms(s, wait)) break;
    }
    coord_keepalive_close(k);
    return NULL;
}

int session_start(coord_client *c, int64_t lease, int64_t ttl, cli_session **out, cli_err *e)
{
    cli_session *s = calloc(1, sizeof(*s));
    if (!s) return cli_fail(e, CLI_EXIT_ERROR, "out of memory");
    s->c = c;
    s->lease = lease;
    s->ttl = ttl;
    if (!lease) {
        coord_lease_grant_resp g;
        coord_error err = {0};
        if (coord_lease_grant(c, ttl, 0, &g, &err) != COORD_OK) {
            free(s);
            return cli_fail(e, CLI_EXIT_ERROR, "%s", err.message);
        }
        s->lease = g.id;
        s->ttl = g.ttl;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->thread, NULL, renew_main, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        if (!lease) coord_lease_revoke(c, s->lease, NULL, NULL);
        free(s);
        return cli_fail(e, CLI_EXIT_ERROR, "cannot start the keep-alive thread");
    }
    *out = s;
    return CLI_EXIT_OK;
}

int64_t session_lease(const cli_session *s)
{
    return s->lease;
}

int64_t session_ttl(const cli_session *s)
{
    return s->ttl;
}

bool session_lost(cli_session *s)
{
    return atomic_load(&s->lost);
}

void session_end(cli_session *s, bool revoke)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    if (revoke && !session_lost(s)) coord_lease_revoke(s->c, s->lease, NULL, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void session_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int session_wait_signal(int64_t timeout_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
    int sig = sigtimedwait(&set, NULL, &ts);
    return sig > 0 ? sig : 0;
}
