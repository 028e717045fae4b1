#!/usr/bin/env bash
# Rule: `member remove` (sent to any member) takes a member out of the configuration; the removed
# member stops by itself, and the remaining members keep serving writes and reads.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
assert_ctl_ok m1 put /r/before 1
cluster_writer_start /sw/
peer3=$(sed -E 's/.*--initial-advertise-peer-urls ([^ ]+).*/\1/' <<<"${SRV_ARGS[m3]}")
id=$(cluster_member_id m1 "$peer3")
[ -n "$id" ] || fail "m3 missing from member list"
run_ctl m2 member remove "$id"
[ "$CTL_RC" = 0 ] || fail "member remove: $CTL_OUT"
wait_until 15 "m3 stops" bash -c "! kill -0 ${SRV_PID[m3]} 2>/dev/null"
grep -q "permanently removed" "$WORK/m3.log" || fail "m3 did not say why it stopped"
wait_until 20 "a leader among m1 and m2" cluster_leader
assert_ctl_ok m1 put /r/after 2
assert_get_value m2 /r/after 2
run_ctl m1 member list
assert_not_contains "$CTL_OUT" "$id" "member list after the removal"
run_ctl m1 member remove "$id"
assert_contains "$CTL_OUT" "member not found" "removing it again"
CLUSTER_MEMBERS=(m1 m2)
cluster_writer_check m1 m2
pass
