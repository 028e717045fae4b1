#!/usr/bin/env bash
# Rule: a valid HTTP/2 preface followed by broken frames (an unknown frame type with a lying
# length, a HEADERS frame far over the frame size limit) is that connection's problem: the
# oversized frame gets the connection closed, and the server keeps serving everyone else.
. "$(dirname "$0")/lib.sh"

server_start s
assert_ctl_ok s put before-frames kept
how=$(wire junk "$(server_ep s)" preface-then-garbage) || fail "wire.py failed: $how"
note "preface then garbage frames: $how"
how=$(wire junk "$(server_ep s)" huge-frame) || fail "wire.py failed: $how"
note "16 MiB HEADERS frame: $how"
case "$how" in
  *"then closed" | *"then reset") ;;
  *) fail "HEADERS frame over the frame size limit: expected the server to close, got '$how'" ;;
esac
assert_still_serving s
assert_get_value s before-frames kept
pass
