#!/usr/bin/env bash
# Rule: a follower that was down while the others wrote more entries than their logs keep (5000
# behind the snapshot point, trimmed every --snapshot-count) catches up from a snapshot the
# leader streams to it; afterwards every member holds every key with identical revisions, and the
# follower serves linearizable reads and new writes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
. "$(dirname "$0")/snapshot.lib"
coord_only
snapshot_need_coordctl

cluster_start 3 --snapshot-count 100
leader=$(cluster_leader) || fail "no leader"
follower=$(snapshot_follower "$leader")
assert_ctl_ok "$leader" put /s/before 1
server_stop "$follower"
snapshot_fill "$leader" 7000 /s/
server_restart "$follower"

wait_until 60 "the follower installs a snapshot" grep -q "coord: installed snapshot" "$(server_log "$follower")"
assert_contains "$(cat "$(server_log "$leader")")" "coord: sent snapshot" "the leader's log"
wait_until 30 "the follower reads the last write linearizably" \
  bash -c "[ \"\$(timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[$follower]} get /s/00006999 --print-value-only 2>/dev/null | wc -c)\" -gt 1 ]"
assert_eq 7001 "$(ctl "$follower" get /s/ --prefix --keys-only --consistency=s 2>/dev/null | grep -c '^/s/')" "keys on the follower"
for m in "${CLUSTER_MEMBERS[@]}"; do
  [ "$m" = "$leader" ] && continue
  wait_until 20 "$m holds the leader's state" snapshot_same_state "$leader" "$m"
done
# The installed member goes on with the log: a write through it lands everywhere.
assert_ctl_ok "$follower" put /s/after 2
for m in "${CLUSTER_MEMBERS[@]}"; do
  wait_until 10 "$m sees /s/after" bash -c "[ \"\$(timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[$m]} get /s/after --print-value-only --consistency=s 2>/dev/null)\" = 2 ]"
done
pass
