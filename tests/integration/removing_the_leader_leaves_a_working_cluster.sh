#!/usr/bin/env bash
# Rule: `member remove` of the leader itself works: the leader finishes the change (it leaves the
# joint configuration), stops, and the two remaining members elect a leader and serve writes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
assert_ctl_ok m1 put /rl/before 1
leader=$(cluster_leader) || fail "no leader"
peer=$(sed -E 's/.*--initial-advertise-peer-urls ([^ ]+).*/\1/' <<<"${SRV_ARGS[$leader]}")
id=$(cluster_member_id "$leader" "$peer")
run_ctl "$leader" member remove "$id"
[ "$CTL_RC" = 0 ] || fail "member remove of the leader: $CTL_OUT"
wait_until 15 "the old leader stops" bash -c "! kill -0 ${SRV_PID[$leader]} 2>/dev/null"
rest=()
for m in m1 m2 m3; do [ "$m" != "$leader" ] && rest+=("$m"); done
wait_until 20 "a write through ${rest[0]}" \
  bash -c "timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[${rest[0]}]} --command-timeout=3s put /rl/after 2 >/dev/null 2>&1"
assert_get_value "${rest[1]}" /rl/after 2
assert_get_value "${rest[1]}" /rl/before 1
run_ctl "${rest[0]}" member list
assert_not_contains "$CTL_OUT" "$id" "member list after the removal"
pass
