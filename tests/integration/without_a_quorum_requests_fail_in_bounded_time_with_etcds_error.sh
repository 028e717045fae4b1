#!/usr/bin/env bash
# Rule: when a member cannot reach a quorum (the two others are down), a write and a
# linearizable read sent to it fail within etcd's request timeout (5 s + 2 election timeouts)
# with "etcdserver: request timed out" — they never hang — and a serializable read still answers.
# When the others return, the same member serves again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
assert_ctl_ok m1 put /q/before 1
server_kill9 m2
server_kill9 m3
start=$SECONDS
out=$(timeout 30 "$ETCDCTL" --endpoints="${SRV_EP[m1]}" --command-timeout=20s put /q/lost 2 2>&1)
took=$((SECONDS - start))
assert_contains "$out" "etcdserver: request timed out" "a put without a quorum"
[ $took -le 12 ] || fail "the put took $took s to fail"
out=$(timeout 30 "$ETCDCTL" --endpoints="${SRV_EP[m1]}" --command-timeout=20s get /q/before 2>&1)
assert_contains "$out" "etcdserver: request timed out" "a linearizable get without a quorum"
assert_eq "1" "$(ctl m1 get /q/before --consistency=s --print-value-only)" "a serializable get"
server_restart m2
server_restart m3
wait_until 30 "m1 takes writes again" \
  bash -c "timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[m1]} put /q/after 3 >/dev/null 2>&1"
assert_get_value m2 /q/after 3
pass
