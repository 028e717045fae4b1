#!/usr/bin/env bash
# Rule: an HTTP/1.1 request on the client port gets an HTTP answer or a closed connection (etcd
# answers from its HTTP mux), never a connection left hanging; the server keeps serving.
. "$(dirname "$0")/lib.sh"

server_start s
assert_ctl_ok s put before-http1 kept
for kind in http1 http1-version; do
  how=$(wire junk "$(server_ep s)" "$kind") || fail "wire.py junk $kind failed: $how"
  note "$kind: $how"
  case "$how" in
    "HTTP/1."*", then closed" | *"then closed" | *"then reset") ;;
    *) fail "$kind request: expected an HTTP answer or a close, got '$how'" ;;
  esac
done
assert_still_serving s
assert_get_value s before-http1 kept
pass
