/* apply: the state machine step. Takes committed log entries in order, runs each against the MVCC
 * store in one write transaction that also records the entry's index as applied, and answers
 * the request waiting for it (if it was proposed here).
 *
 * Entry format (the log's payload): [u8 type][be64 request id][request protobuf]. The payload is
 * the client's request as it arrived, so what is logged is exactly what was asked.
 *
 * Every entry moves the applied index, including one whose request fails (its error goes to the
 * waiter; nothing else changes), so a restart never applies an entry twice.
 */
#ifndef COORD_APPLY_H
#define COORD_APPLY_H

#include "server.h"
#include <stddef.h>
#include <stdint.h>

enum entry_type {
    ENTRY_NOOP = 0,
    ENTRY_PUT = 1,              /* etcdserverpb.PutRequest */
    ENTRY_DELETE_RANGE = 2,     /* etcdserverpb.DeleteRangeRequest */
    ENTRY_TXN = 3,              /* etcdserverpb.TxnRequest */
    ENTRY_COMPACT = 4,          /* etcdserverpb.CompactionRequest */
    ENTRY_LEASE_GRANT = 5,      /* etcdserverpb.LeaseGrantRequest, its ID chosen */
    ENTRY_LEASE_REVOKE = 6,     /* etcdserverpb.LeaseRevokeRequest */
    ENTRY_LEASE_CHECKPOINT = 7, /* etcdserverpb.LeaseCheckpointRequest */
    ENTRY_MEMBER_ATTR = 8,      /* etcdserverpb.Member: a member's name and client URLs */
    ENTRY_MEMBER_UPDATE = 9,    /* etcdserverpb.MemberUpdateRequest: new peer URLs */
};

#define ENTRY_HEADER_LEN 9

typedef struct apply_ctx {
    coord_server *srv;
} apply_ctx;

/* node_apply_fn for the log: arg is an apply_ctx. */
int apply_entry(void *arg, uint64_t index, uint64_t term, const uint8_t *entry, size_t len);

/* Builds an entry (malloc'd, caller frees) for a request of `type`. */
uint8_t *entry_build(enum entry_type type, uint64_t request_id, const uint8_t *req, size_t req_len,
                     size_t *len);

#endif
