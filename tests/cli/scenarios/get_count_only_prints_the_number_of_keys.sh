#!/usr/bin/env bash
# `coordctl get --count-only` (which etcdctl 3.4 lacks) prints the number of keys in the range
# alone, ignoring --limit; with -w json the count is in the response and kvs are absent.
# Usage: SCRIPT SERVER_BIN COORDCTL
set -u
source "$(dirname "$0")/../../integration/lib.sh" "$1"
COORDCTL=$(readlink -f "$2")
server_start s1
cc() { timeout 20 "$COORDCTL" --endpoints="$(server_ep s1)" "$@"; }

for i in 1 2 3 4 5; do cc put "k$i" "v$i" >/dev/null || fail "put k$i"; done
assert_eq 5 "$(cc get k --prefix --count-only)" "count of prefix k"
assert_eq 5 "$(cc get k --prefix --count-only --limit 2)" "count with a limit"
assert_eq 0 "$(cc get nothing --count-only)" "count of an absent key"
out=$(cc get k --prefix --count-only -w json)
assert_contains "$out" '"count":5' "json count"
assert_not_contains "$out" '"kvs"' "json kvs"
out=$(cc get k --prefix --count-only --keys-only 2>&1); rc=$?
assert_eq 128 "$rc" "--count-only with --keys-only: exit code"
pass
