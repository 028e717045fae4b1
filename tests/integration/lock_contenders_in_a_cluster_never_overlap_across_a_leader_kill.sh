#!/usr/bin/env bash
# Rule: in a 3-member cluster, five `coordctl lock` contenders spread over the members never hold
# the lock at once, and every holder's fenced Txn succeeds, while the leader is killed -9 and
# restarted mid-way; rounds whose lock call died with a member are retried by the test, the
# lock itself never hands out two holders.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
. "$(dirname "$0")/lock_helpers.lib"
need_coordctl_for_locks

PROCS=5
ROUNDS=6
cluster_start 3
export EP ETCDCTL LOG_DIR="$WORK"
EP=$(cluster_endpoints)
write_holder "$WORK/hold.sh"
members=("${CLUSTER_MEMBERS[@]}")

pids=()
for p in $(seq 1 $PROCS); do
  (
    # Each contender talks to one member first (the client moves on when it dies).
    first=${members[$((p % 3))]}
    eps="$(server_ep "$first"),$EP"
    r=1
    while [ $r -le $ROUNDS ]; do
      if "$COORDCTL" --endpoints="$eps" lock race -- "$WORK/hold.sh" "p$p/r$r" 2>>"$WORK/lock_failures"; then
        r=$((r + 1))
      else
        sleep 0.2 # a lock call that died with its member: take the round again
      fi
    done
  ) &
  pids+=($!)
  OUR_PIDS+=($!)
done
rounds_done() { if [ -f "$WORK/order" ]; then wc -l <"$WORK/order"; else echo 0; fi; }
at_least() { [ "$(rounds_done)" -ge "$1" ]; }
wait_until 90 "8 rounds before the kill" at_least 8
leader=$(cluster_leader) || fail "no leader"
killed_at=$(rounds_done)
note "killing leader $leader after $killed_at rounds"
server_kill9 "$leader"
more() { at_least $((killed_at + 8)); }
wait_until 90 "8 more rounds without the old leader" more
server_restart "$leader"
for pid in "${pids[@]}"; do wait "$pid"; done

[ ! -s "$WORK/errors" ] || fail "$(head -5 "$WORK/errors")"
rounds=$(wc -l <"$WORK/order")
[ "$rounds" -ge $((PROCS * ROUNDS)) ] || fail "only $rounds rounds logged"
prev=0
while read -r c _ who; do
  [ "$c" -gt "$prev" ] || fail "create revision $c of $who's lock key after $prev: not increasing"
  prev=$c
done <"$WORK/order"
for m in m1 m2 m3; do note "counter on $m: $(ctl $m get counter --print-value-only) (serializable: $(ctl $m get counter --print-value-only --consistency=s))"; done
assert_get_value m1 counter "$rounds"
pass "$rounds rounds across a leader kill -9, never two holders ($(grep -c . "$WORK/lock_failures" 2>/dev/null || echo 0) failed lock calls retried)"
