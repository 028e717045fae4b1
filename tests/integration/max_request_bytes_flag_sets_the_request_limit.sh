#!/usr/bin/env bash
# Rule: --max-request-bytes N refuses requests over N bytes with "etcdserver: request is too large"
# and accepts smaller ones.
. "$(dirname "$0")/lib.sh"

server_start s --max-request-bytes 4096
assert_ctl_ok s put k "$(head -c 1000 /dev/zero | tr '\0' a)"
assert_ctl_fails_with s "etcdserver: request is too large" put k2 "$(head -c 5000 /dev/zero | tr '\0' b)"
assert_ctl_fails_with s "etcdserver: request is too large" put k "$(head -c 5000 /dev/zero | tr '\0' b)"
run_ctl s get k2 -w json
assert_not_contains "$CTL_OUT" '"kvs"' "k2 after its too-large put"
assert_get_value s k "$(head -c 1000 /dev/zero | tr '\0' a)"
assert_still_serving s
pass
