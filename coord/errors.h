/* errors: etcd's client-visible errors, as gRPC status code and exact message.
 *
 * Clients match on the message text (etcd's rpctypes), so every error the server returns to a
 * client comes from this table. COORD_OK is 0; every other value indexes the table.
 */
#ifndef COORD_ERRORS_H
#define COORD_ERRORS_H

#include <grpc/status.h>

typedef enum coord_err {
    COORD_OK = 0,
    COORD_ERR_EMPTY_KEY,
    COORD_ERR_KEY_NOT_FOUND,
    COORD_ERR_VALUE_PROVIDED,
    COORD_ERR_LEASE_PROVIDED,
    COORD_ERR_TOO_MANY_OPS,
    COORD_ERR_DUPLICATE_KEY,
    COORD_ERR_COMPACTED,
    COORD_ERR_FUTURE_REV,
    COORD_ERR_NO_SPACE,
    COORD_ERR_LEASE_NOT_FOUND,
    COORD_ERR_LEASE_EXIST,
    COORD_ERR_LEASE_TTL_TOO_LARGE,
    COORD_ERR_MEMBER_EXIST,
    COORD_ERR_PEER_URL_EXIST,
    COORD_ERR_MEMBER_NOT_ENOUGH_STARTED,
    COORD_ERR_MEMBER_BAD_URLS,
    COORD_ERR_MEMBER_NOT_FOUND,
    COORD_ERR_MEMBER_NOT_LEARNER,
    COORD_ERR_LEARNER_NOT_READY,
    COORD_ERR_TOO_MANY_LEARNERS,
    COORD_ERR_REQUEST_TOO_LARGE,
    COORD_ERR_TOO_MANY_REQUESTS,
    COORD_ERR_NO_LEADER,
    COORD_ERR_NOT_LEADER,
    COORD_ERR_LEADER_CHANGED,
    COORD_ERR_STOPPED,
    COORD_ERR_TIMEOUT,
    COORD_ERR_TIMEOUT_LEADER_FAIL,
    COORD_ERR_UNHEALTHY,
    COORD_ERR_CORRUPT,
    COORD_ERR_NOT_SUPPORTED_FOR_LEARNER,
    COORD_ERR_BAD_LEADER_TRANSFEREE,
    COORD_ERR_AUTH_NOT_ENABLED,
    COORD_ERR_INVALID_ARGUMENT, /* a malformed request: no message of etcd's fits */
    COORD_ERR_INTERNAL,         /* storage failed; the message says so */
    COORD_ERR_COUNT
} coord_err;

grpc_status_code coord_err_code(coord_err e);
const char *coord_err_message(coord_err e);

#endif
