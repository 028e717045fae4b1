#!/usr/bin/env bash
# Rule: bytes that are neither HTTP/1 nor HTTP/2 on the client port end that connection (closed or
# reset, never left hanging); the server keeps serving and keeps its data.
. "$(dirname "$0")/lib.sh"

server_start s
assert_ctl_ok s put before-junk kept
for i in 1 2 3; do
  how=$(wire junk "$(server_ep s)" garbage) || fail "wire.py junk garbage failed: $how"
  note "garbage, try $i: $how"
  case "$how" in
    *"then closed" | *"then reset") ;;
    *) fail "garbage bytes: expected the server to close the connection, got '$how'" ;;
  esac
done
assert_still_serving s
assert_get_value s before-junk kept
pass
