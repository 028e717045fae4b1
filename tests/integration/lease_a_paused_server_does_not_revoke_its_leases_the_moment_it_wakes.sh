#!/usr/bin/env bash
# Rule: a server that was stopped (SIGSTOP) for longer than its leases' TTL does not revoke them
# all the moment it wakes: keep-alives could not reach it meanwhile, so it starts every lease's
# clock afresh (its TTL plus an election timeout), as a new leader would. A lease whose keeper
# is really gone still expires then.
# coord-only: etcd 3.4 revokes such leases at once on waking.
. "$(dirname "$0")/lib.sh"
coord_only

TTL=3
now_ms() { date +%s%3N; }
server_start s
run_ctl s lease grant $TTL
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
assert_ctl_ok s put svc/p up --lease="$id"

kill -STOP "$(server_pid s)"
sleep $((2 * TTL)) # the pause itself is what is under test
kill -CONT "$(server_pid s)"
t0=$(now_ms)
assert_get_value s svc/p up
run_ctl s lease timetolive "$id"
remaining=$(sed -n 's/.*remaining(\([0-9]*\)s).*/\1/p' <<<"$CTL_OUT")
[ -n "$remaining" ] && [ "$remaining" -ge $((TTL - 1)) ] ||
  fail "after the pause the lease has ${remaining:-no} seconds left: $CTL_OUT"
gone() { run_ctl s get svc/p --print-value-only; [ "$CTL_RC" -eq 0 ] && [ -z "$CTL_OUT" ]; }
wait_until $((TTL + 10)) "svc/p to go when its fresh TTL runs out" gone
elapsed=$(($(now_ms) - t0))
[ "$elapsed" -ge $((TTL * 1000 - 500)) ] || fail "svc/p went $elapsed ms after the server woke (TTL ${TTL} s)"
pass "after a $((2 * TTL)) s pause the lease had ${remaining} s left; it went $elapsed ms later"
