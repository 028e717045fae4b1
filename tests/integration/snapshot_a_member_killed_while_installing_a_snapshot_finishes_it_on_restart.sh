#!/usr/bin/env bash
# Rule: a member killed (as by kill -9) in the middle of installing a snapshot, after part of the
# new state is written, finishes the install when it restarts: it never serves the half-written
# state, and ends with every key at the same revisions as the others. The kill is made
# deterministic by the test seam COORD_TEST_CRASH_IN_SNAPSHOT_INSTALL=N (SIGKILL right after the
# Nth batch of the install, with small batches).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
. "$(dirname "$0")/snapshot.lib"
coord_only
snapshot_need_coordctl

server_dead() { ! server_alive "$1"; }

cluster_start 3 --snapshot-count 100
leader=$(cluster_leader) || fail "no leader"
follower=$(snapshot_follower "$leader")
log=$(server_log "$follower")
assert_ctl_ok "$leader" put /s/before 1
server_stop "$follower"
snapshot_fill "$leader" 7000 /s/

# Back with the seam: it receives the snapshot and dies after the first batch of the install.
# shellcheck disable=SC2086  # the stored argument list is split on purpose
COORD_TEST_CRASH_IN_SNAPSHOT_INSTALL=1 setsid "$SERVER_BIN" ${SRV_ARGS[$follower]} >>"$log" 2>&1 &
SRV_PID[$follower]=$!
OUR_PIDS+=("$!")
wait_until 60 "the follower dies in its install" server_dead "$follower"
wait "${SRV_PID[$follower]}" 2>/dev/null
assert_contains "$(cat "$log")" "killing this member after install batch 1" "the follower's log"
assert_not_contains "$(cat "$log")" "coord: installed snapshot" "the follower's log"

server_restart "$follower"
assert_contains "$(cat "$log")" "finished the snapshot install a crash interrupted" "the follower's log"
wait_until 30 "the follower reads the last write linearizably" \
  bash -c "[ \"\$(timeout 10 '$ETCDCTL' --endpoints=${SRV_EP[$follower]} get /s/00006999 --print-value-only 2>/dev/null | wc -c)\" -gt 1 ]"
for m in "${CLUSTER_MEMBERS[@]}"; do
  [ "$m" = "$leader" ] && continue
  wait_until 20 "$m holds the leader's state" snapshot_same_state "$leader" "$m"
done
assert_eq 7001 "$(ctl "$follower" get /s/ --prefix --keys-only --consistency=s 2>/dev/null | grep -c '^/s/')" "keys on the follower"
pass
