#!/usr/bin/env bash
# Rule: with the default --max-request-bytes (1.5 MiB) a put whose value is between that limit and
# the gRPC receive limit (limit + 512 KiB = 2 MiB) gets INVALID_ARGUMENT "etcdserver: request is
# too large"; a bigger message gets RESOURCE_EXHAUSTED from the gRPC layer. The key keeps its old
# value and the server keeps serving.
. "$(dirname "$0")/lib.sh"
need_grpc_python

server_start s
ep=$(server_ep s)
assert_ctl_ok s put big small-old-value
# 1.6 MB from stdin through etcdctl (under etcdctl's own 2 MiB send limit).
head -c 1600000 /dev/zero | tr '\0' v >"$WORK/value.1600000"
ctl s put big <"$WORK/value.1600000" >"$WORK/put.out" 2>&1 && fail "etcdctl put of a 1.6 MB value succeeded"
assert_contains "$(cat "$WORK/put.out")" "etcdserver: request is too large" "etcdctl put of a 1.6 MB value"
assert_contains "$(cat "$WORK/put.out")" "code = InvalidArgument" "gRPC code of a 1.6 MB put"
# The same sizes straight over gRPC, and past the receive limit.
for size in 1600000 2097000; do
  answer=$(wire_grpc put "$ep" big "$size")
  note "put of $size bytes: $answer"
  assert_eq "INVALID_ARGUMENT etcdserver: request is too large" "$answer" "gRPC put of a $size-byte value"
done
for size in 2097300 3145728 8388608; do
  answer=$(wire_grpc put "$ep" big "$size")
  note "put of $size bytes: $answer"
  case "$answer" in
    "RESOURCE_EXHAUSTED "?*) ;;
    *) fail "gRPC put of a $size-byte value: expected RESOURCE_EXHAUSTED, got '$answer'" ;;
  esac
done
assert_get_value s big small-old-value
# Just under the limit still works (the request has a few bytes of framing besides the value).
answer=$(wire_grpc put "$ep" big 1500000)
assert_eq OK "${answer%% *}" "gRPC put of a 1,500,000-byte value"
assert_still_serving s
pass
