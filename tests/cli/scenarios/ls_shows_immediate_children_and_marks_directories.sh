#!/usr/bin/env bash
# `coordctl ls DIR` prints DIR's immediate children in key order, a child with keys below it
# marked by a trailing '/'; -r prints the whole tree, each directory followed by its children;
# small pages (--page-size) give the same listing; -w json carries the children in base64.
# Usage: SCRIPT SERVER_BIN COORDCTL
set -u
source "$(dirname "$0")/../../integration/lib.sh" "$1"
COORDCTL=$(readlink -f "$2")
coord_only
server_start s1
cc() { timeout 20 "$COORDCTL" --endpoints="$(server_ep s1)" "$@"; }

for k in /svc/a /svc/b/x /svc/b/y /svc/c/d/e /svc/d /svc/d/z /top /svcx; do
  cc put "$k" "v$k" >/dev/null || fail "put $k"
done

out=$(cc ls /svc) || fail "ls /svc exited $?"
assert_eq "$(printf '/svc/a\n/svc/b/\n/svc/c/\n/svc/d/')" "$out" "ls /svc"

out=$(cc ls /svc/) || fail "ls /svc/ exited $?"
assert_eq "$(printf '/svc/a\n/svc/b/\n/svc/c/\n/svc/d/')" "$out" "ls /svc/ (trailing slash)"

tree=$(printf '/svc/a\n/svc/b/\n/svc/b/x\n/svc/b/y\n/svc/c/\n/svc/c/d/\n/svc/c/d/e\n/svc/d/\n/svc/d/z')
out=$(cc ls -r /svc) || fail "ls -r /svc exited $?"
assert_eq "$tree" "$out" "ls -r /svc"
out=$(cc ls -r /svc --page-size 1) || fail "ls -r --page-size 1 exited $?"
assert_eq "$tree" "$out" "ls -r /svc with one child per page"

out=$(cc ls /svc/b -w json --keys-only) || fail "ls -w json exited $?"
assert_contains "$out" '"children":[{"key":"L3N2Yy9iL3g="' "json children"
assert_contains "$out" '"cluster_id":' "json header"

out=$(cc ls /nothing/here) || fail "ls of an empty directory exited $?"
assert_eq "" "$out" "ls of an empty directory"

out=$(cc ls 2>&1); rc=$?
assert_eq 128 "$rc" "ls without a directory: exit code"
assert_contains "$out" "Error: ls command needs one argument" "ls without a directory"
pass
