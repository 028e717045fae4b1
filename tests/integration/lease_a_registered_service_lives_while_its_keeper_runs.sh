#!/usr/bin/env bash
# Rule: `coordctl register DIR NAME VALUE --ttl T` keeps DIR/NAME alive while it runs, past
# several TTLs; `coordctl ls DIR` lists it; after SIGINT the key is gone at once (the lease is
# revoked); after kill -9 of the keeper it is gone within T + one election timeout (1 s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lock_helpers.lib"
need_coordctl_for_locks

TTL=2
now_ms() { date +%s%3N; }
server_start s
EP=$(server_ep s)
reg() { # NAME VALUE OUTFILE: a keeper in the background; its PID in KEEPER
  "$COORDCTL" --endpoints="$EP" register /services/web "$1" "$2" --ttl $TTL >"$3" 2>&1 &
  KEEPER=$!
  OUR_PIDS+=("$KEEPER")
}
present() { run_ctl s get "/services/web/$1" --print-value-only; [ "$CTL_OUT" = "$2" ]; }
absent() { run_ctl s get "/services/web/$1" --print-value-only; [ "$CTL_RC" -eq 0 ] && [ -z "$CTL_OUT" ]; }

reg a 10.0.0.1:80 "$WORK/a.out"
keeper_a=$KEEPER
reg b 10.0.0.2:80 "$WORK/b.out"
keeper_b=$KEEPER
wait_until 10 "web/a registered" present a 10.0.0.1:80
wait_until 10 "web/b registered" present b 10.0.0.2:80
if ! is_etcd; then # ls is coord's own service
  "$COORDCTL" --endpoints="$EP" ls /services/web >"$WORK/ls.out" 2>&1 || fail "ls: $(cat "$WORK/ls.out")"
  assert_contains "$(cat "$WORK/ls.out")" "/services/web/a" "coordctl ls /services/web"
  assert_contains "$(cat "$WORK/ls.out")" "/services/web/b" "coordctl ls /services/web"
fi

end=$((SECONDS + 4 * TTL))
looks=0
while [ $SECONDS -lt $end ]; do
  present a 10.0.0.1:80 || fail "web/a vanished while its keeper ran (look $looks)"
  looks=$((looks + 1))
  sleep 0.2
done
note "web/a there at each of $looks looks over $((4 * TTL)) s"

kill -INT "$keeper_a"
{ wait "$keeper_a"; } 2>/dev/null
absent a || fail "web/a still there after its keeper stopped on SIGINT: $CTL_OUT"

kill -KILL "$keeper_b"
{ wait "$keeper_b"; } 2>/dev/null
t0=$(now_ms)
wait_until $((TTL + 10)) "web/b gone after its keeper's kill -9" absent b
elapsed=$(($(now_ms) - t0))
note "web/b deleted $elapsed ms after kill -9 (TTL ${TTL} s)"
[ "$elapsed" -le $((TTL * 1000 + 1000 + 300)) ] || fail "web/b lived $elapsed ms after its keeper died"
pass "kept alive $((4 * TTL)) s; gone at once on SIGINT, $elapsed ms after kill -9"
