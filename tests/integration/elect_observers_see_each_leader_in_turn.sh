#!/usr/bin/env bash
# Rule: one candidate leads at a time; observers (`coordctl elect -l` through the server's
# Observe, `etcdctl elect -l` through Range and Watch) see each leader's proposal in turn: the
# first candidate; the second once the first resigns (SIGINT); a third once the second is
# killed -9 and its lease runs out.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lock_helpers.lib"
need_coordctl_for_locks

server_start s
EP=$(server_ep s)
"$COORDCTL" --endpoints="$EP" elect -l chief >"$WORK/obs.coordctl" 2>&1 &
OUR_PIDS+=($!)
"$ETCDCTL" --endpoints="$EP" elect -l chief >"$WORK/obs.etcdctl" 2>&1 &
OUR_PIDS+=($!)

saw() { grep -qx "$1" "$WORK/obs.coordctl" && grep -qx "$1" "$WORK/obs.etcdctl"; }
"$COORDCTL" --endpoints="$EP" elect chief alpha >"$WORK/alpha.out" 2>&1 &
alpha=$!
OUR_PIDS+=("$alpha")
wait_until 10 "observers to see alpha" saw alpha
leads() { grep -qx "$2" "$WORK/$1.out"; }
wait_until 10 "alpha to print its leadership" leads alpha alpha

# The order of the candidates' keys is the order of leadership: beta's key first, then gamma's.
candidates() { [ "$(ctl s get chief/ --prefix --keys-only | grep -c chief/)" -eq "$1" ]; }
"$ETCDCTL" --endpoints="$EP" elect chief beta >"$WORK/beta.out" 2>&1 &
beta=$!
OUR_PIDS+=("$beta")
wait_until 10 "beta's candidate key under chief/" candidates 2
"$COORDCTL" --endpoints="$EP" elect --ttl 2 chief gamma >"$WORK/gamma.out" 2>&1 &
gamma=$!
OUR_PIDS+=("$gamma")
wait_until 10 "gamma's candidate key under chief/" candidates 3
! grep -q beta "$WORK/obs.coordctl" || fail "beta led while alpha did"
! grep -q gamma "$WORK/obs.coordctl" || fail "gamma led while alpha did"

kill -INT "$alpha"
{ wait "$alpha"; } 2>/dev/null
wait_until 10 "observers to see beta after alpha resigned" saw beta
! grep -q gamma "$WORK/obs.coordctl" || fail "gamma led while beta did"

kill -KILL "$beta"
{ wait "$beta"; } 2>/dev/null
# beta (etcdctl) campaigned with a 60 s session; revoke its lease as its expiry would.
lease=$(ctl s get chief/ --prefix --keys-only | grep chief/ | head -1 | cut -d/ -f2)
[ -n "$lease" ] || fail "no candidate key left under chief/"
assert_ctl_ok s lease revoke "$lease"
wait_until 10 "observers to see gamma after beta's lease went" saw gamma
wait_until 10 "gamma to print its leadership" leads gamma gamma
order=$(grep -x 'alpha\|beta\|gamma' "$WORK/obs.coordctl" | tr '\n' ' ')
assert_eq "alpha beta gamma " "$order" "leaders seen by coordctl elect -l"
order=$(grep -x 'alpha\|beta\|gamma' "$WORK/obs.etcdctl" | tr '\n' ' ')
assert_eq "alpha beta gamma " "$order" "leaders seen by etcdctl elect -l"
pass "alpha, beta, gamma led in turn; both observers saw each once"
