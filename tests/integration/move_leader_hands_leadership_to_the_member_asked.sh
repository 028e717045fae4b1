#!/usr/bin/env bash
# Rule: `etcdctl move-leader ID` sent to the leader makes member ID the leader before it answers;
# etcdctl refuses to send it to a follower (it finds the leader through Status), and an unknown
# ID is a bad transferee.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
leader=$(cluster_leader) || fail "no leader"
target=""
for m in m1 m2 m3; do [ "$m" != "$leader" ] && target=$m && break; done
peer=$(sed -E 's/.*--initial-advertise-peer-urls ([^ ]+).*/\1/' <<<"${SRV_ARGS[$target]}")
id=$(cluster_member_id "$leader" "$peer")
run_ctl "$target" move-leader "$id"
assert_contains "$CTL_OUT" "no leader endpoint given" "move-leader given only a follower"
run_ctl "$leader" move-leader "$id"
[ "$CTL_RC" = 0 ] || fail "move-leader: $CTL_OUT"
assert_eq "$target" "$(cluster_leader)" "the leader after move-leader"
assert_ctl_ok "$leader" put /ml/after 1
assert_get_value "$target" /ml/after 1
run_ctl "$target" move-leader 1234abcd  # $target leads now
assert_contains "$CTL_OUT" "bad leader transferee" "an unknown transferee"
pass
