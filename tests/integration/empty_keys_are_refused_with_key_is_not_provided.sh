#!/usr/bin/env bash
# Rule: an empty key in Put, Range, DeleteRange, a Txn compare or a Txn op is refused with
# INVALID_ARGUMENT "etcdserver: key is not provided" (a Txn op with no request set: "etcdserver:
# key not found"), and nothing is written.
. "$(dirname "$0")/lib.sh"
need_grpc_python

server_start s
assert_ctl_ok s put before-empty-keys kept
run_ctl s get before-empty-keys -w json
rev_before=$(printf '%s' "$CTL_OUT" | sed -E 's/.*"revision":([0-9]+).*/\1/')
ep=$(server_ep s)
expect_answer() { # METHOD HEX EXPECTED WHAT
  local answer
  answer=$(wire_grpc call "$ep" "$1" "$2")
  assert_eq "$3" "$answer" "$4"
}
expect_answer /etcdserverpb.KV/Put "" "INVALID_ARGUMENT etcdserver: key is not provided" "Put with no key"
expect_answer /etcdserverpb.KV/Put "0a00120178" "INVALID_ARGUMENT etcdserver: key is not provided" "Put with empty key and a value"
expect_answer /etcdserverpb.KV/Range "" "INVALID_ARGUMENT etcdserver: key is not provided" "Range with no key"
expect_answer /etcdserverpb.KV/DeleteRange "" "INVALID_ARGUMENT etcdserver: key is not provided" "DeleteRange with no key"
expect_answer /etcdserverpb.KV/Txn "0a021a00" "INVALID_ARGUMENT etcdserver: key is not provided" "Txn compare with empty key"
expect_answer /etcdserverpb.KV/Txn "12021200" "INVALID_ARGUMENT etcdserver: key is not provided" "Txn put op with empty key"
expect_answer /etcdserverpb.KV/Txn "1a020a00" "INVALID_ARGUMENT etcdserver: key is not provided" "Txn failure range op with empty key"
expect_answer /etcdserverpb.KV/Txn "1200" "INVALID_ARGUMENT etcdserver: key not found" "Txn op with no request set"
assert_ctl_fails_with s "etcdserver: key is not provided" put "" value
run_ctl s get before-empty-keys -w json
rev_after=$(printf '%s' "$CTL_OUT" | sed -E 's/.*"revision":([0-9]+).*/\1/')
assert_eq "$rev_before" "$rev_after" "store revision after refused empty-key requests"
assert_still_serving s
assert_get_value s before-empty-keys kept
pass
