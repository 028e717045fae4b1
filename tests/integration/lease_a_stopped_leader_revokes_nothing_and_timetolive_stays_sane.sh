#!/usr/bin/env bash
# Rule: in a 3-member cluster, a lease kept alive through a follower survives its leader being
# stopped (SIGSTOP) for longer than the TTL: the others elect a new leader, the keep-alives reach
# it, and the old leader, woken, revokes nothing (it restarts its clocks, then steps down).
# Throughout, TimeToLive through the follower either fails cleanly or tells a remaining TTL
# between 0 and the TTL plus an election timeout: never a wrong or expired answer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

TTL=10
cluster_start 3
leader=$(cluster_leader) || fail "no leader"
for m in "${CLUSTER_MEMBERS[@]}"; do [ "$m" = "$leader" ] || follower=$m; done
# Granted through the leader, so the lease's clock and its answer start together.
run_ctl "$leader" lease grant $TTL
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
"$ETCDCTL" --endpoints="$(server_ep "$follower")" lease keep-alive "$id" >"$WORK/keeper.out" 2>&1 &
OUR_PIDS+=($!)
assert_ctl_ok "$follower" put svc/s up --lease="$id"
renewed() { [ "$(grep -c keepalived "$WORK/keeper.out")" -ge "$1" ]; }
wait_until 10 "the keeper's first renewal through $follower" renewed 1

# TimeToLive through the follower, all along.
(
  while :; do
    out=$(timeout 10 "$ETCDCTL" --endpoints="$(server_ep "$follower")" --command-timeout=3s \
      lease timetolive "$id" 2>&1)
    echo "$(date +%s%3N) $out" >>"$WORK/ttl.log"
    sleep 0.2
  done
) &
OUR_PIDS+=($!)

note "stopping leader $leader for $((TTL + 2)) s"
kill -STOP "$(server_pid "$leader")"
sleep $((TTL + 2)) # the stop itself is what is under test
kill -CONT "$(server_pid "$leader")"
n=$(grep -c keepalived "$WORK/keeper.out")
wait_until 20 "renewals after the old leader woke" renewed $((n + 2))
assert_get_value "$follower" svc/s up
assert_get_value "$leader" svc/s up
grep -q "expired or revoked" "$WORK/keeper.out" && fail "the keeper was told its lease was gone"

# Every TimeToLive answer was an error or a sane remaining TTL.
bad=$(grep -v -E 'remaining\(([0-9]|1[01])s\)|Error: |"level":"warn"' "$WORK/ttl.log" | head -3)
[ -z "$bad" ] || fail "TimeToLive answered: $bad"
grep -q "already expired" "$WORK/ttl.log" && fail "TimeToLive said the lease was gone: $(grep -m1 expired "$WORK/ttl.log")"
pass "lease and key kept across a $((TTL + 2)) s stop of the leader; $(wc -l <"$WORK/ttl.log") TimeToLive answers, all sane"
