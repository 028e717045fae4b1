#!/usr/bin/env bash
# Rule: a member removed from the cluster can be added again (same peer URL, a new ID) and
# started on an empty data dir with --initial-cluster-state existing: it catches up with every
# write, old and new, while a client keeps writing through the other members.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
for i in $(seq 1 20); do assert_ctl_ok m1 put "/rr/$i" "a$i"; done
cluster_writer_start /rw/
peer3=$(sed -E 's/.*--initial-advertise-peer-urls ([^ ]+).*/\1/' <<<"${SRV_ARGS[m3]}")
old=$(cluster_member_id m1 "$peer3")
run_ctl m1 member remove "$old"
[ "$CTL_RC" = 0 ] || fail "member remove: $CTL_OUT"
wait_until 15 "m3 stops" bash -c "! kill -0 ${SRV_PID[m3]} 2>/dev/null"
# If m3 led, a write forwarded to it just before it stopped is lost (the client sees a timeout,
# as with etcd): wait until the others have a leader of their own.
wait_until 20 "a leader among m1 and m2" cluster_leader
for i in $(seq 21 40); do assert_ctl_ok m2 put "/rr/$i" "b$i"; done
run_ctl m2 member add m3 --peer-urls="$peer3"
[ "$CTL_RC" = 0 ] || fail "member add: $CTL_OUT"
rm -rf "$WORK/m3.data"
SRV_ARGS[m3]="${SRV_ARGS[m3]/--initial-cluster-state new/--initial-cluster-state existing}"
server_restart m3
new=$(cluster_member_id m1 "$peer3")
[ -n "$new" ] && [ "$new" != "$old" ] || fail "m3 came back with ID '$new' (was $old)"
for i in $(seq 41 50); do assert_ctl_ok m1 put "/rr/$i" "c$i"; done
wait_until 20 "m3 holds all 50 keys" \
  bash -c "[ \"\$(timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[m3]} get /rr/ --prefix --keys-only --consistency=s 2>/dev/null | grep -c /rr/)\" = 50 ]"
assert_get_value m3 /rr/50 c50
assert_eq "$(cluster_dump m1 /rr/)" "$(cluster_dump m3 /rr/)" "m3's keys beside m1's"
cluster_writer_check m1 m2 m3
pass
