#!/usr/bin/env bash
# Rule: the leader records each long lease's remaining TTL through the log (checkpoints), so after
# kill -9 and a restart the lease goes on from about where it was (plus one election timeout),
# not from its full TTL; the key under it stays and is deleted when that time is up.
# coord-only: the checkpoint interval (etcd's 5 min) is shortened through the environment.
. "$(dirname "$0")/lib.sh"
coord_only

export COORD_LEASE_CHECKPOINT_INTERVAL_MS=500
TTL=20
server_start s
run_ctl s lease grant $TTL
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
assert_ctl_ok s put long/a kept --lease="$id"

remaining() { # the lease's remaining TTL in seconds
  ctl s lease timetolive "$id" | sed -n 's/.*remaining(\(-\{0,1\}[0-9]*\)s).*/\1/p'
}
low_enough() { local r; r=$(remaining); [ -n "$r" ] && [ "$r" -le 16 ]; }
wait_until 30 "remaining TTL down to 16 s" low_enough
before=$(remaining)

server_kill9 s
server_restart s
after=$(remaining)
note "remaining ${before} s before kill -9, ${after} s after the restart (TTL ${TTL} s)"
[ -n "$after" ] || fail "the lease is gone after the restart"
# A checkpoint is at most 0.5 s old and rounded up; the new term adds 1 s.
[ "$after" -le $((before + 2)) ] || fail "remaining TTL went from $before s to $after s: reset towards the full TTL"
assert_get_value s long/a kept

gone() { run_ctl s get long/a --print-value-only; [ "$CTL_RC" -eq 0 ] && [ -z "$CTL_OUT" ]; }
wait_until $((after + 5)) "long/a deleted when the lease's remaining time is up" gone
pass "remaining $before s -> $after s across kill -9; key deleted when it ran out"
