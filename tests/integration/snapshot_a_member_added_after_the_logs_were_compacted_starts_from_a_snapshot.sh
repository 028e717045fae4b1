#!/usr/bin/env bash
# Rule: a member added once the others have trimmed their logs (--snapshot-count 100, 5000
# entries kept) starts from a snapshot, whose configuration already includes it (the change that
# added it came after the latest snapshot point), then follows the log: it ends with every key at
# the same revisions as the others and takes part in new writes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
. "$(dirname "$0")/snapshot.lib"
coord_only
snapshot_need_coordctl

cluster_start 3 --snapshot-count 100
leader=$(cluster_leader) || fail "no leader"
snapshot_fill "$leader" 7000 /s/
cluster_join m4
run_ctl "$leader" member add m4 --peer-urls="$CLUSTER_JOIN_PEER"
[ "$CTL_RC" = 0 ] || fail "member add: $CTL_OUT"
cluster_join_start m4
wait_until 60 "m4 installs a snapshot" grep -q "coord: installed snapshot" "$(server_log m4)"
wait_until 20 "m4 holds the leader's state" snapshot_same_state "$leader" m4
assert_ctl_ok m4 put /s/after 2
for m in "${CLUSTER_MEMBERS[@]}"; do
  wait_until 10 "$m sees /s/after" bash -c "[ \"\$(timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[$m]} get /s/after --print-value-only --consistency=s 2>/dev/null)\" = 2 ]"
done
wait_until 20 "m4 holds the leader's state after the write" snapshot_same_state "$leader" m4
pass
