#!/usr/bin/env bash
# Rule (coord only): a learner added through coordpb.Coord/MemberAdd with promote_when_caught_up
# is promoted to a voter by the leader on its own once its log is close to the leader's, so a
# cluster grows in one step; no `member promote` is needed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
coord_only
need_grpc_python

cluster_start 3
for i in $(seq 1 30); do assert_ctl_ok m1 put "/ap/$i" "v$i"; done
cluster_join m4
# MemberAddRequest: peerURLs (1) = the new peer URL, isLearner (2) = true,
# promote_when_caught_up (3) = true.
url_hex=$(printf '%s' "$CLUSTER_JOIN_PEER" | od -An -tx1 | tr -d ' \n')
len_hex=$(printf '%02x' "${#CLUSTER_JOIN_PEER}")
out=$(wire_grpc call "${SRV_EP[m2]}" /coordpb.Coord/MemberAdd "0a${len_hex}${url_hex}10011801")
assert_contains "$out" "OK" "coordpb MemberAdd"
assert_contains "$(ctl m1 member list)" "$CLUSTER_JOIN_PEER, , true" "m4 is an unstarted learner"
cluster_join_start m4
id=$(cluster_member_id m1 "$CLUSTER_JOIN_PEER")
wait_until 30 "m4 promoted by the leader" \
  bash -c "timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[m1]} member list | grep -q '^$id, started, m4, .*, false\$'"
assert_ctl_ok m4 put /ap/after voter
assert_get_value m3 /ap/after voter
pass
