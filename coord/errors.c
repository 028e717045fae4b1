#include "errors.h"

struct err_entry {
    grpc_status_code code;
    const char *message;
};

/* Messages are etcd 3.4's (etcdserver/api/v3rpc/rpctypes); clients compare them verbatim. */
static const struct err_entry err_table[COORD_ERR_COUNT] = {
    [COORD_OK] = {GRPC_STATUS_OK, ""},
    [COORD_ERR_EMPTY_KEY] = {GRPC_STATUS_INVALID_ARGUMENT, "etcdserver: key is not provided"},
    [COORD_ERR_KEY_NOT_FOUND] = {GRPC_STATUS_INVALID_ARGUMENT, "etcdserver: key not found"},
    [COORD_ERR_VALUE_PROVIDED] = {GRPC_STATUS_INVALID_ARGUMENT, "etcdserver: value is provided"},
    [COORD_ERR_LEASE_PROVIDED] = {GRPC_STATUS_INVALID_ARGUMENT, "etcdserver: lease is provided"},
    [COORD_ERR_TOO_MANY_OPS] = {GRPC_STATUS_INVALID_ARGUMENT,
                                "etcdserver: too many operations in txn request"},
    [COORD_ERR_DUPLICATE_KEY] = {GRPC_STATUS_INVALID_ARGUMENT,
                                 "etcdserver: duplicate key given in txn request"},
    [COORD_ERR_COMPACTED] = {GRPC_STATUS_OUT_OF_RANGE,
                             "etcdserver: mvcc: required revision has been compacted"},
    [COORD_ERR_FUTURE_REV] = {GRPC_STATUS_OUT_OF_RANGE,
                              "etcdserver: mvcc: required revision is a future revision"},
    [COORD_ERR_NO_SPACE] = {GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "etcdserver: mvcc: database space exceeded"},
    [COORD_ERR_LEASE_NOT_FOUND] = {GRPC_STATUS_NOT_FOUND, "etcdserver: requested lease not found"},
    [COORD_ERR_LEASE_EXIST] = {GRPC_STATUS_FAILED_PRECONDITION, "etcdserver: lease already exists"},
    [COORD_ERR_LEASE_TTL_TOO_LARGE] = {GRPC_STATUS_OUT_OF_RANGE, "etcdserver: too large lease TTL"},
    [COORD_ERR_MEMBER_EXIST] = {GRPC_STATUS_FAILED_PRECONDITION,
                                "etcdserver: member ID already exist"},
    [COORD_ERR_PEER_URL_EXIST] = {GRPC_STATUS_FAILED_PRECONDITION,
                                  "etcdserver: Peer URLs already exists"},
    [COORD_ERR_MEMBER_NOT_ENOUGH_STARTED] =
        {GRPC_STATUS_FAILED_PRECONDITION,
         "etcdserver: re-configuration failed due to not enough started members"},
    [COORD_ERR_MEMBER_BAD_URLS] = {GRPC_STATUS_INVALID_ARGUMENT,
                                   "etcdserver: given member URLs are invalid"},
    [COORD_ERR_MEMBER_NOT_FOUND] = {GRPC_STATUS_NOT_FOUND, "etcdserver: member not found"},
    [COORD_ERR_MEMBER_NOT_LEARNER] = {GRPC_STATUS_FAILED_PRECONDITION,
                                      "etcdserver: can only promote a learner member"},
    [COORD_ERR_LEARNER_NOT_READY] =
        {GRPC_STATUS_FAILED_PRECONDITION,
         "etcdserver: can only promote a learner member which is in sync with leader"},
    [COORD_ERR_TOO_MANY_LEARNERS] = {GRPC_STATUS_FAILED_PRECONDITION,
                                     "etcdserver: too many learner members in cluster"},
    [COORD_ERR_REQUEST_TOO_LARGE] = {GRPC_STATUS_INVALID_ARGUMENT,
                                     "etcdserver: request is too large"},
    [COORD_ERR_TOO_MANY_REQUESTS] = {GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "etcdserver: too many requests"},
    [COORD_ERR_NO_LEADER] = {GRPC_STATUS_UNAVAILABLE, "etcdserver: no leader"},
    [COORD_ERR_NOT_LEADER] = {GRPC_STATUS_FAILED_PRECONDITION, "etcdserver: not leader"},
    [COORD_ERR_LEADER_CHANGED] = {GRPC_STATUS_UNAVAILABLE, "etcdserver: leader changed"},
    [COORD_ERR_STOPPED] = {GRPC_STATUS_UNAVAILABLE, "etcdserver: server stopped"},
    [COORD_ERR_TIMEOUT] = {GRPC_STATUS_UNAVAILABLE, "etcdserver: request timed out"},
    [COORD_ERR_TIMEOUT_LEADER_FAIL] =
        {GRPC_STATUS_UNAVAILABLE,
         "etcdserver: request timed out, possibly due to previous leader failure"},
    [COORD_ERR_UNHEALTHY] = {GRPC_STATUS_UNAVAILABLE, "etcdserver: unhealthy cluster"},
    [COORD_ERR_CORRUPT] = {GRPC_STATUS_DATA_LOSS, "etcdserver: corrupt cluster"},
    [COORD_ERR_NOT_SUPPORTED_FOR_LEARNER] = {GRPC_STATUS_UNAVAILABLE,
                                             "etcdserver: rpc not supported for learner"},
    [COORD_ERR_BAD_LEADER_TRANSFEREE] = {GRPC_STATUS_FAILED_PRECONDITION,
                                         "etcdserver: bad leader transferee"},
    [COORD_ERR_AUTH_NOT_ENABLED] = {GRPC_STATUS_FAILED_PRECONDITION,
                                    "etcdserver: authentication is not enabled"},
    [COORD_ERR_INVALID_ARGUMENT] = {GRPC_STATUS_INVALID_ARGUMENT, "coord: malformed request"},
    [COORD_ERR_INTERNAL] = {GRPC_STATUS_INTERNAL, "coord: storage failure"},
};

grpc_status_code coord_err_code(coord_err e)
{
    if (e < 0 || e >= COORD_ERR_COUNT) return GRPC_STATUS_UNKNOWN;
    return err_table[e].code;
}

const char *coord_err_message(coord_err e)
{
    if (e < 0 || e >= COORD_ERR_COUNT) return "coord: unknown error";
    return err_table[e].message;
}
