#!/usr/bin/env bash
# Rule: the leader records each long lease's remaining TTL through the log (checkpoints), so a
# new leader after kill -9 of the old one goes on from about where the lease was (plus one
# election timeout) instead of resetting it to its full TTL (etcd 3.4 without checkpoints resets
# TTLs on every election).
# coord-only: the checkpoint interval (etcd's 5 min) is shortened through the environment.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
coord_only

export COORD_LEASE_CHECKPOINT_INTERVAL_MS=500
TTL=30
cluster_start 3
leader=$(cluster_leader) || fail "no leader"
for m in "${CLUSTER_MEMBERS[@]}"; do [ "$m" = "$leader" ] || follower=$m; done
run_ctl "$follower" lease grant $TTL
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
assert_ctl_ok "$follower" put long/a kept --lease="$id"
remaining() { ctl "$follower" lease timetolive "$id" 2>/dev/null | sed -n 's/.*remaining(\([0-9]*\)s).*/\1/p'; }
low_enough() { local r; r=$(remaining); [ -n "$r" ] && [ "$r" -le 25 ]; }
wait_until 40 "remaining TTL down to 25 s" low_enough
before=$(remaining)
note "killing leader $leader with $before s left on the lease"
server_kill9 "$leader"
has_leader() { cluster_leader >/dev/null; }
wait_until 30 "a new leader" has_leader
answered() { [ -n "$(remaining)" ]; }
wait_until 20 "TimeToLive through the new leader" answered
after=$(remaining)
note "remaining ${before} s before, ${after} s after the new leader took over (TTL ${TTL} s)"
# A checkpoint is at most 0.5 s old and rounded up; the new leader adds 1 s.
[ "$after" -le $((before + 2)) ] || fail "remaining TTL went from $before s to $after s: reset towards the full TTL"
assert_get_value "$follower" long/a kept
pass "remaining $before s -> $after s across a leader change"
