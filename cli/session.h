/* session: a lease kept alive in the background, for the commands that hold something while
 * they run (lock, elect, register).
 *
 * session_start grants a lease of `ttl` seconds (or adopts one) and starts a thread that renews
 * it every third of its TTL on one keep-alive stream, reopening the stream when it breaks. The
 * session is lost when the server says the lease is gone, or when no renewal succeeded for a
 * whole TTL; session_lost() says so from then on.
 * session_end stops the thread and, if asked, revokes the lease (deleting what it holds).
 */
#ifndef COORD_CLI_SESSION_H
#define COORD_CLI_SESSION_H

#include "cli.h"
#include "libcoord.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_session cli_session;

/* lease 0: grant a new one with ttl seconds; else keep that lease alive (ttl is its TTL). */
int session_start(coord_client *c, int64_t lease, int64_t ttl, cli_session **out, cli_err *e);
int64_t session_lease(const cli_session *s);
int64_t session_ttl(const cli_session *s);
bool session_lost(cli_session *s);
void session_end(cli_session *s, bool revoke);

/* Blocks SIGINT and SIGTERM in the calling thread (call before any thread starts, so every
 * thread inherits it), then session_wait_signal can wait for them. */
void session_block_signals(void);
/* Waits up to timeout_ms for SIGINT or SIGTERM; returns the signal, or 0 on timeout. */
int session_wait_signal(int64_t timeout_ms);

#endif
