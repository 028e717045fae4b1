#!/usr/bin/env bash
# Rule: when the process holding a lock is killed -9, nobody releases it, but its session lease
# is no longer kept alive: the next contender gets the lock within the TTL (+ one election
# timeout) of the kill, and no sooner than the lock was free.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lock_helpers.lib"
need_coordctl_for_locks

TTL=2
now_ms() { date +%s%3N; }
server_start s
EP=$(server_ep s)

"$COORDCTL" --endpoints="$EP" lock --ttl $TTL held -- sh -c "echo \$\$ >'$WORK/child.pid'; exec sleep 60" &
holder=$!
OUR_PIDS+=("$holder")
has_child() { [ -s "$WORK/child.pid" ]; }
wait_until 10 "the first holder's command to start" has_child
OUR_PIDS+=("$(cat "$WORK/child.pid")")

# A second contender waits behind it.
"$COORDCTL" --endpoints="$EP" lock held -- sh -c "date +%s%3N >'$WORK/second.at'" &
second=$!
OUR_PIDS+=("$second")
run_ctl s get held/ --prefix --keys-only
[ "$(printf '%s\n' "$CTL_OUT" | grep -c held/)" -ge 1 ] || fail "no lock key under held/: $CTL_OUT"
[ ! -e "$WORK/second.at" ] || fail "the second contender got the lock while the first held it"

kill -KILL "$holder"
{ wait "$holder"; } 2>/dev/null
t0=$(now_ms)
kill -KILL "$(cat "$WORK/child.pid")" 2>/dev/null
got_it() { [ -s "$WORK/second.at" ]; }
wait_until $((TTL + 10)) "the second contender to get the lock" got_it
elapsed=$(($(cat "$WORK/second.at") - t0))
note "second contender got the lock $elapsed ms after the holder's kill -9 (TTL ${TTL} s)"
[ "$elapsed" -le $((TTL * 1000 + 1000 + 500)) ] || fail "lock free only after $elapsed ms"
{ wait "$second"; } 2>/dev/null
pass "lock passed on $elapsed ms after the holder died (TTL ${TTL} s)"
