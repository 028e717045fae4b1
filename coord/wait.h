/* wait: the requests waiting for their log entry to be applied, by request ID.
 *
 * A handler registers (id -> callback) before it proposes; the apply step triggers the id with
 * the result once the entry is applied, on the applying thread. An id is triggered at most once;
 * an entry whose id has no waiter (a replay after restart, another member's request) is applied
 * all the same. wait_cancel_all answers every waiter with an error (shutdown).
 */
#ifndef COORD_WAIT_H
#define COORD_WAIT_H

#include "errors.h"
#include <grpc/byte_buffer.h>
#include <stdint.h>

/* err == COORD_OK: response is the encoded reply, owned by the callee from then on. */
typedef void (*wait_fn)(void *arg, coord_err err, grpc_byte_buffer *response);

typedef struct wait_registry wait_registry;

int wait_create(wait_registry **out);
void wait_destroy(wait_registry *w);
/* deadline_ms (CLOCK_MONOTONIC ms; 0: none): wait_expire answers the waiter with `err` then. */
int wait_register(wait_registry *w, uint64_t id, wait_fn fn, void *arg, int64_t deadline_ms);
/* Answers every waiter whose deadline is at or before now_ms with err. */
void wait_expire(wait_registry *w, int64_t now_ms, coord_err err);
/* Runs the waiter of id, if any, and forgets it. Returns 1 if there was one (response consumed),
 * 0 if not (response left to the caller). */
int wait_trigger(wait_registry *w, uint64_t id, coord_err err, grpc_byte_buffer *response);
/* Forgets the waiter of id without running it; returns 1 if there was one. */
int wait_forget(wait_registry *w, uint64_t id);
void wait_cancel_all(wait_registry *w, coord_err err);
int wait_has(wait_registry *w, uint64_t id);

#endif
