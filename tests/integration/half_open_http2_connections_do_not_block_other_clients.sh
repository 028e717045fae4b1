#!/usr/bin/env bash
# Rule: clients that open a connection and send only part of the HTTP/2 preface (50 of them, held
# open) do not stop other clients from writing and reading; a cut-short preface followed by the
# client closing its side gets the connection closed.
. "$(dirname "$0")/lib.sh"

server_start s
assert_ctl_ok s put before-half-open kept
wire hold "$(server_ep s)" 50 -- "$ETCDCTL" --endpoints="$(server_ep s)" --dial-timeout=2s \
  --command-timeout=5s put during-half-open ok >"$WORK/hold.out" 2>&1 \
  || fail "put while 50 half-open connections were held failed: $(cat "$WORK/hold.out")"
wire hold "$(server_ep s)" 50 -- "$ETCDCTL" --endpoints="$(server_ep s)" --dial-timeout=2s \
  --command-timeout=5s get during-half-open --print-value-only >"$WORK/hold.out" 2>&1 \
  || fail "get while 50 half-open connections were held failed: $(cat "$WORK/hold.out")"
assert_eq ok "$(grep -v '"level"' "$WORK/hold.out")" "value read while half-open connections were held"
how=$(wire junk "$(server_ep s)" preface-cut)
note "preface cut after 10 bytes, then our side closed: $how"
case "$how" in
  *"then closed" | *"then reset") ;;
  *) fail "cut-short preface and half-close: expected the server to close, got '$how'" ;;
esac
assert_still_serving s
assert_get_value s before-half-open kept
pass
