#!/usr/bin/env bash
# Rule: in a 3-member cluster, 1,000 leases kept alive through a follower survive kill -9 of the
# leader: the new leader starts every lease's clock afresh (remaining TTL plus an election
# timeout), the keep-alives find their way to it, and no lease and no key under one is lost.
# coord-only: bench_lease (tests/bench) is the keeper; it is built beside coord.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
BENCH_LEASE=${BENCH_LEASE:-$(dirname "$SERVER_BIN")/bench_lease}
[ -x "$BENCH_LEASE" ] || { echo "SKIP: $TEST_NAME: no bench_lease beside $SERVER_BIN"; exit 77; }

LEASES=1000
TTL=6
cluster_start 3
leader=$(cluster_leader) || fail "no leader"
for m in "${CLUSTER_MEMBERS[@]}"; do [ "$m" = "$leader" ] || follower=$m; done
"$BENCH_LEASE" keepalive "$(server_ep "$follower")" --leases $LEASES --streams 10 --ttl $TTL \
  --seconds 20 >"$WORK/keeper.out" 2>&1 &
keeper=$!
OUR_PIDS+=("$keeper")
granted() { grep -q '^grant_errors 0' "$WORK/keeper.out"; }
wait_until 60 "$LEASES leases granted" granted
count() { ctl "$1" lease list | head -1 | awk '{print $2}'; }
all_there() { [ "$(count "$follower")" = "$LEASES" ]; }
wait_until 20 "$LEASES leases listed" all_there
# Let a full renewal period pass, then kill the leader mid-way through the keep-alives.
sleep $((TTL / 3 + 1))
note "killing leader $leader with $LEASES leases kept alive through $follower"
server_kill9 "$leader"
wait "$keeper" || fail "the keeper failed: $(cat "$WORK/keeper.out")"
grep -q '^keepalive_lease_gone 0$' "$WORK/keeper.out" ||
  fail "renewals found leases gone: $(grep -E 'keepalive_' "$WORK/keeper.out" | tr '\n' ' ')"
n=$(count "$follower")
assert_eq "$LEASES" "$n" "leases left after the leader's kill -9"
pass "$LEASES leases, none expired across the leader's kill -9 ($(grep '^keepalive_errors' "$WORK/keeper.out"))"
