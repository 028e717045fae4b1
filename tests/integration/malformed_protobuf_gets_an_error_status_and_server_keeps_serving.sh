#!/usr/bin/env bash
# Rule: a gRPC request whose protobuf does not parse gets an error status with a message (etcd:
# INTERNAL "grpc: error unmarshalling request: ..."; INVALID_ARGUMENT is as clear) on that call
# only; the server keeps serving and keeps its data.
. "$(dirname "$0")/lib.sh"
need_grpc_python

server_start s
assert_ctl_ok s put before-bad-protobuf kept
ep=$(server_ep s)
# name:hex payload
payloads=(
  "varint-overflow:0aff""ffffffffffffffffff01"
  "length-past-end:0a106162"
  "group-wire-type:0b"
  "tag-zero:0000"
  "bytes-as-varint:0a"
  "all-ff:$(printf 'ff%.0s' {1..64})"
)
for method in /etcdserverpb.KV/Put /etcdserverpb.KV/Range /etcdserverpb.KV/Txn /etcdserverpb.KV/DeleteRange; do
  for p in "${payloads[@]}"; do
    name=${p%%:*}
    answer=$(wire_grpc call "$ep" "$method" "${p#*:}") || fail "wire.py call failed: $answer"
    note "$method $name: $answer"
    case "$answer" in
      "INTERNAL "?* | "INVALID_ARGUMENT "?*) ;;
      *) fail "$method with malformed protobuf ($name): expected INTERNAL or INVALID_ARGUMENT with a message, got '$answer'" ;;
    esac
  done
done
# A method that does not exist is UNIMPLEMENTED, not a crash or a hang.
answer=$(wire_grpc call "$ep" /etcdserverpb.KV/NoSuchMethod "")
note "unknown method: $answer"
case "$answer" in "UNIMPLEMENTED"*) ;; *) fail "unknown method: expected UNIMPLEMENTED, got '$answer'" ;; esac
assert_still_serving s
assert_get_value s before-bad-protobuf kept
pass
