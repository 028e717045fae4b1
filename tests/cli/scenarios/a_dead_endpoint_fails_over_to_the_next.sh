#!/usr/bin/env bash
# With several --endpoints a client skips one that refuses connections, for reads and for
# writes (endpoints from --endpoints or COORDCTL_ENDPOINTS); when none answers the command ends at --command-timeout with etcdctl's
# "context deadline exceeded" and exit code 1.
# Usage: SCRIPT SERVER_BIN COORDCTL
set -u
source "$(dirname "$0")/../../integration/lib.sh" "$1"
COORDCTL=$(readlink -f "$2")
server_start s1
dead="127.0.0.1:$(free_port)"
both="$dead,$(server_ep s1)"

out=$(timeout 20 "$COORDCTL" --endpoints="$both" put k v 2>&1) || fail "put with a dead first endpoint: $out"
assert_eq OK "$out" "put through the second endpoint"
out=$(timeout 20 "$COORDCTL" --endpoints="$both" get k --print-value-only 2>&1) || fail "get: $out"
assert_eq v "$out" "get through the second endpoint"

out=$(COORDCTL_ENDPOINTS="$both" timeout 20 "$COORDCTL" get k --print-value-only 2>&1) \
  || fail "get with COORDCTL_ENDPOINTS: $out"
assert_eq v "$out" "endpoints from the environment"

start=$SECONDS
out=$(timeout 20 "$COORDCTL" --endpoints="$dead" --command-timeout=1s get k 2>&1); rc=$?
assert_eq 1 "$rc" "exit code with no live endpoint"
assert_eq "Error: context deadline exceeded" "$out" "message with no live endpoint"
[ $((SECONDS - start)) -le 5 ] || fail "a 1 s command timeout took $((SECONDS - start)) s"
pass
