#!/usr/bin/env bash
# Rule: in a 3-member cluster a follower answers the Lease calls only the leader can answer:
# keep-alives sent to it (etcdctl lease keep-alive) keep the lease and its key alive past several
# TTLs, and TimeToLive through it tells the leader's remaining TTL; once the keeper is killed -9
# the key is deleted within TTL + one election timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

TTL=3
now_ms() { date +%s%3N; }
cluster_start 3
leader=$(cluster_leader) || fail "no leader"
for m in "${CLUSTER_MEMBERS[@]}"; do [ "$m" = "$leader" ] || follower=$m; done
note "leader $leader, asking follower $follower"

run_ctl "$leader" lease grant $TTL
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
assert_ctl_ok "$follower" put svc/f up --lease="$id"
"$ETCDCTL" --endpoints="$(server_ep "$follower")" lease keep-alive "$id" >"$WORK/keeper.out" 2>&1 &
keeper=$!
OUR_PIDS+=("$keeper")

end=$((SECONDS + 3 * TTL))
while [ $SECONDS -lt $end ]; do
  assert_get_value "$leader" svc/f up
  sleep 0.2
done
renewals=$(grep -c keepalived "$WORK/keeper.out")
[ "$renewals" -ge 5 ] || fail "only $renewals renewals in $((3 * TTL)) s: $(tail -3 "$WORK/keeper.out")"
run_ctl "$follower" lease timetolive "$id"
remaining=$(sed -n 's/.*remaining(\([0-9]*\)s).*/\1/p' <<<"$CTL_OUT")
[ -n "$remaining" ] && [ "$remaining" -ge 0 ] && [ "$remaining" -le $TTL ] ||
  fail "timetolive through the follower: $CTL_OUT"

kill -KILL "$keeper"
{ wait "$keeper"; } 2>/dev/null
t0=$(now_ms)
gone() { run_ctl "$leader" get svc/f --print-value-only; [ "$CTL_RC" -eq 0 ] && [ -z "$CTL_OUT" ]; }
wait_until $((TTL + 10)) "svc/f deleted after its keeper died" gone
elapsed=$(($(now_ms) - t0))
[ "$elapsed" -le $((TTL * 1000 + 1000 + 500)) ] || fail "svc/f lived $elapsed ms after its keeper died"
pass "$renewals renewals through follower $follower; key gone $elapsed ms after the keeper's kill -9"
