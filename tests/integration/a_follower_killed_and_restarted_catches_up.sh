#!/usr/bin/env bash
# Rule: a follower killed with kill -9 misses writes while down; once restarted with its data it
# catches up and serves every write, linearizable reads included.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
leader=$(cluster_leader) || fail "no leader"
follower=""
for m in m1 m2 m3; do [ "$m" != "$leader" ] && follower=$m && break; done
assert_ctl_ok "$leader" put /f/before 1
cluster_writer_start /fw/
server_kill9 "$follower"
for i in $(seq 1 20); do assert_ctl_ok "$leader" put "/f/$i" "x$i"; done
server_restart "$follower"
# A linearizable read on the restarted follower must see the last write.
wait_until 20 "the restarted follower reads /f/20" \
  bash -c "[ \"\$(timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[$follower]} get /f/20 --print-value-only 2>/dev/null)\" = x20 ]"
assert_eq "21" "$(ctl "$follower" get /f/ --prefix --keys-only 2>/dev/null | grep -c '^/f/')" "keys on the follower"
cluster_writer_check m1 m2 m3
pass
