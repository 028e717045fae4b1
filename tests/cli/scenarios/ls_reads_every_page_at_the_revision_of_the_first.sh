#!/usr/bin/env bash
# A paged listing is one picture: with --rev R (and with the revision the first page fixes)
# children written after R do not appear, children deleted after R still do.
# Usage: SCRIPT SERVER_BIN COORDCTL
set -u
source "$(dirname "$0")/../../integration/lib.sh" "$1"
COORDCTL=$(readlink -f "$2")
coord_only
server_start s1
cc() { timeout 20 "$COORDCTL" --endpoints="$(server_ep s1)" "$@"; }

for i in 1 2 3 4 5 6; do cc put "/d/k$i" v >/dev/null || fail "put /d/k$i"; done
rev=$(cc get /d/k6 -w json | sed -n 's/.*"mod_revision":\([0-9]*\).*/\1/p')
[ -n "$rev" ] || fail "no revision for /d/k6"
cc put /d/k7 v >/dev/null || fail "put /d/k7"
cc del /d/k1 >/dev/null || fail "del /d/k1"

out=$(cc ls /d --rev "$rev" --page-size 2) || fail "ls --rev exited $?"
assert_eq "$(printf '/d/k1\n/d/k2\n/d/k3\n/d/k4\n/d/k5\n/d/k6')" "$out" "ls /d at revision $rev"
out=$(cc ls /d --page-size 2) || fail "ls exited $?"
assert_eq "$(printf '/d/k2\n/d/k3\n/d/k4\n/d/k5\n/d/k6\n/d/k7')" "$out" "ls /d now"
pass
