#!/usr/bin/env bash
# Rule: bad lease requests get etcd's answers — a negative TTL is raised to the minimum, a huge
# one is refused, revoking an unknown lease fails, keep-alive of a revoked lease says so — and a
# put racing with its lease's expiry is all-or-nothing: every put either failed with "lease not
# found" or its key is deleted with the lease; no key outlives it.
. "$(dirname "$0")/lib.sh"

server_start s
lease_id() { printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}'; }

run_ctl s lease grant -- -5
assert_contains "$CTL_OUT" "granted with TTL(2s)" "lease grant -5"
run_ctl s lease grant 9000000001
[ "$CTL_RC" -ne 0 ] || fail "a TTL over 9,000,000,000 s was granted: $CTL_OUT"
assert_contains "$CTL_OUT" "etcdserver: too large lease TTL" "lease grant 9000000001"
assert_ctl_fails_with s "etcdserver: requested lease not found" lease revoke 7777

run_ctl s lease grant 60
id=$(lease_id)
assert_ctl_ok s lease revoke "$id"
run_ctl s lease keep-alive --once "$id"
[ "$CTL_RC" -ne 0 ] || fail "keep-alive of a revoked lease succeeded: $CTL_OUT"
assert_contains "$CTL_OUT" "requested lease not found" "keep-alive --once of a revoked lease"
run_ctl s lease timetolive "$id"
assert_contains "$CTL_OUT" "already expired" "timetolive of a revoked lease"
assert_ctl_fails_with s "etcdserver: requested lease not found" put k v --lease="$id"

# Puts racing with the expiry of a 2 s lease, from four writers.
run_ctl s lease grant 2
id=$(lease_id)
writer() { # W: put race/W/i with the lease until the lease is gone; log acknowledged keys
  local w=$1 i=0
  while [ $i -lt 1000 ]; do
    i=$((i + 1))
    if out=$(ctl s put "race/$w/$i" v --lease="$id" 2>&1); then
      echo "race/$w/$i" >>"$WORK/acked.$w"
    else
      case "$out" in *"requested lease not found"*) return 0 ;; esac
      echo "$out" >>"$WORK/errors.$w"
    fi
  done
}
pids=()
for w in 1 2 3 4; do writer $w & pids+=($!); OUR_PIDS+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
[ -z "$(cat "$WORK"/errors.* 2>/dev/null)" ] || fail "unexpected put errors: $(head -3 "$WORK"/errors.*)"
acked=$(cat "$WORK"/acked.* 2>/dev/null | wc -l)
[ "$acked" -gt 0 ] || fail "no put was acknowledged before the lease expired"
run_ctl s get race/ --prefix --keys-only
assert_eq "" "$CTL_OUT" "keys left under race/ after their lease expired ($acked puts were acknowledged)"
pass "$acked racing puts acknowledged, none outlived the lease"
