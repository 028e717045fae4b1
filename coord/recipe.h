/* recipe: the engine under the server-side Lock and Election services, which run etcd's
 * client-side concurrency recipes (clientv3/concurrency) inside the server.
 *
 * A recipe is a chain of steps: writes proposed through the log (a Txn, a lease grant), and
 * waits until the keys created before ours under a prefix are gone ("waitDeletes"). Every
 * step runs on the engine's one thread, in order; nothing here blocks a gRPC or apply thread:
 * an applied write or a new revision only posts work to the engine.
 *
 * Waiting for deletes: the engine follows the store's revisions (it listens on the server's
 * on_revision hook beside whoever was there, and reads the change records of each new
 * revision); a waiter is checked again when a key under its prefix was deleted, against one
 * snapshot, and done when no key created at or before its bound is left. Observers follow the
 * leader of an election the same way (etcd's Election.Observe).
 *
 * Life: recipe_create before the node starts (so no revision is missed), recipe_stop once
 * nothing needs to be answered but failures (every pending step then ends with "server
 * stopped"), recipe_free after the client server is destroyed.
 */
#ifndef COORD_RECIPE_H
#define COORD_RECIPE_H

#include "server.h"

#include <pb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct recipe_engine recipe_engine;

int recipe_create(coord_server *s, recipe_engine **out);
void recipe_stop(recipe_engine *r);
void recipe_free(recipe_engine *r);
coord_server *recipe_server(recipe_engine *r);

/* A step on the engine's thread. stopped: the engine has stopped; the step should only fail
 * what it serves. Runs exactly once. */
typedef void (*recipe_job_fn)(recipe_engine *r, void *arg, bool stopped);
void recipe_post(recipe_engine *r, recipe_job_fn fn, void *arg);

/* Proposes msg as a log entry of `type`; `done` runs on the engine's thread with the applied
 * result: err, and the encoded response (valid during the call). */
typedef void (*recipe_result_fn)(recipe_engine *r, void *arg, coord_err err, const uint8_t *resp,
                                 size_t resp_len);
void recipe_propose(recipe_engine *r, int type, const pb_msgdesc_t *desc, const void *msg,
                    recipe_result_fn done, void *arg);

/* waitDeletes: `done` runs on the engine's thread once no live key under prefix has a create
 * revision <= max_create_rev, with a read snapshot in which that holds (for the last checks; it
 * dies when done returns), or with an error (snapshot NULL). prefix is copied. */
typedef void (*recipe_wait_fn)(recipe_engine *r, void *arg, coord_err err, mvcc_txn *snapshot);
void recipe_wait_deletes(recipe_engine *r, const uint8_t *prefix, size_t prefix_len,
                         int64_t max_create_rev, recipe_wait_fn done, void *arg);

/* An election's leader as observed: the key and its value at a revision. Views are valid
 * during the call only. */
typedef void (*recipe_leader_fn)(void *arg, int64_t rev, const mvcc_kv *kv);
typedef struct recipe_observer recipe_observer;
/* Sends the current leader of the election under prefix (when there is one) and each change,
 * through `send`, called on the engine's thread. */
int recipe_observe(recipe_engine *r, const uint8_t *prefix, size_t prefix_len,
                   recipe_leader_fn send, void *arg, recipe_observer **out);
/* After it returns, `send` is not called again. */
void recipe_unobserve(recipe_engine *r, recipe_observer *o);

/* The key under prefix created first (last: created last) among those with a create revision
 * <= max_create_rev (0: no bound), in t; *found false when none. The key and value are copied
 * into *key_out / *value_out (malloc'd, the caller frees; NULL to skip). */
typedef struct recipe_kv {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
} recipe_kv;
int recipe_pick(mvcc_txn *t, const uint8_t *prefix, size_t prefix_len, int64_t max_create_rev,
                bool last, recipe_kv *out, bool *found);
void recipe_kv_free(recipe_kv *kv);

/* The services built on the engine (lock_service.c, election_service.c). */
int lock_service_register(coord_server *s, recipe_engine *r);
int election_service_register(coord_server *s, recipe_engine *r);

/* The end of the range of keys starting with prefix (written to end, prefix_len bytes; "\0"
 * and 1 when there is none). Returns its length. */
size_t recipe_prefix_end(const uint8_t *prefix, size_t prefix_len, uint8_t *end);

#endif
