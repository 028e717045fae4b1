#!/usr/bin/env bash
# Rule: a key under a lease stays while a keeper (etcdctl lease keep-alive) renews the lease, for
# several TTLs; once the keeper is killed -9, the key is deleted within TTL + one election
# timeout (1 s) of the kill.
. "$(dirname "$0")/lib.sh"

TTL=3
ELECTION_MS=1000

now_ms() { date +%s%3N; }

server_start s
run_ctl s lease grant $TTL
[ "$CTL_RC" -eq 0 ] || fail "lease grant: $CTL_OUT"
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
assert_ctl_ok s put svc/a up --lease="$id"

# The keeper is etcdctl itself (not under `timeout`), so kill -9 reaches the process that renews.
"$ETCDCTL" --endpoints="$(server_ep s)" lease keep-alive "$id" >"$WORK/keeper.out" 2>&1 &
keeper=$!
OUR_PIDS+=("$keeper")
kept_alive() { grep -q keepalived "$WORK/keeper.out"; }
wait_until 10 "the keeper's first renewal" kept_alive

# Watch the key for three TTLs: it must be there at every look.
end=$((SECONDS + 3 * TTL))
looks=0
while [ $SECONDS -lt $end ]; do
  run_ctl s get svc/a --print-value-only
  assert_eq up "$CTL_OUT" "value of svc/a while its lease is kept alive (look $looks)"
  looks=$((looks + 1))
  sleep 0.2
done
note "svc/a was there at each of $looks looks over $((3 * TTL)) s"

kill -KILL "$keeper"
{ wait "$keeper"; } 2>/dev/null
t0=$(now_ms)
gone() { run_ctl s get svc/a --print-value-only; [ "$CTL_RC" -eq 0 ] && [ -z "$CTL_OUT" ]; }
wait_until $((TTL + 10)) "svc/a deleted after its keeper died" gone
elapsed=$(($(now_ms) - t0))
note "svc/a deleted $elapsed ms after the keeper was killed (TTL ${TTL} s)"
# One look costs an etcdctl start (~0.1 s): allow that much beyond the rule.
limit=$((TTL * 1000 + ELECTION_MS + 300))
[ "$elapsed" -le "$limit" ] || fail "svc/a lived $elapsed ms after its keeper died (limit $limit ms)"
pass "kept for $((3 * TTL)) s, deleted $elapsed ms after the keeper's kill -9"
