#!/usr/bin/env bash
# Rule: `member add --learner` then a member started with --initial-cluster-state existing joins
# the running cluster, receives everything written before, is promoted with `member promote`
# once caught up, and then serves linearizable reads and writes like any member; a client
# writing throughout loses nothing and every member ends with the same state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
for i in $(seq 1 30); do assert_ctl_ok m1 put "/l/$i" "v$i"; done
cluster_writer_start /lw/
cluster_join m4
run_ctl m2 member add m4 --peer-urls="$CLUSTER_JOIN_PEER" --learner
[ "$CTL_RC" = 0 ] || fail "member add --learner: $CTL_OUT"
assert_contains "$CTL_OUT" "ETCD_INITIAL_CLUSTER_STATE=\"existing\"" "member add output"
cluster_join_start m4
id=$(cluster_member_id m1 "$CLUSTER_JOIN_PEER")
[ -n "$id" ] || fail "m4 missing from member list"
assert_contains "$(ctl m1 member list)" "$id, started, m4" "m4 started"
# Promote once the learner has caught up (the leader refuses before: "learner ... in sync").
wait_until 30 "m4 promoted" bash -c "timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[m1]} member promote $id >/dev/null 2>&1"
assert_contains "$(ctl m3 member list)" "$id, started, m4, $CLUSTER_JOIN_PEER, http://${SRV_EP[m4]}, false" "m4 is a voter"
assert_get_value m4 /l/30 v30
assert_ctl_ok m4 put /l/after promoted
assert_get_value m1 /l/after promoted
cluster_writer_check m1 m2 m3 m4
pass
