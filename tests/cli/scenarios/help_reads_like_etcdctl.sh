#!/usr/bin/env bash
# `coordctl --help` and each command's --help have etcdctl's sections, and say what the
# command and each flag do; an unknown command points at --help.
# Usage: SCRIPT SERVER_BIN COORDCTL
set -u
source "$(dirname "$0")/../../integration/lib.sh" "$1"
COORDCTL=$(readlink -f "$2")

out=$("$COORDCTL" --help) || fail "--help exited $?"
for s in NAME: USAGE: VERSION: "API VERSION:" COMMANDS: OPTIONS: $'\tput\t' $'\tendpoint status\t' \
         $'\tls\t' $'\tbench put\t' "--endpoints=[127.0.0.1:2379]" "-w, --write-out=\"simple\""; do
  assert_contains "$out" "$s" "main help"
done
assert_eq "$out" "$("$COORDCTL")" "no arguments prints the main help"
for cmd in put get del txn compaction "endpoint status" "endpoint health" "member list" \
           version ls "bench put" "bench range"; do
  # shellcheck disable=SC2086  # two-word commands split on purpose
  out=$("$COORDCTL" $cmd --help) || fail "$cmd --help exited $?"
  assert_contains "$out" $'NAME:\n\t'"$cmd - " "$cmd help"
  assert_contains "$out" $'USAGE:\n\tcoordctl '"$cmd" "$cmd help"
  assert_contains "$out" "GLOBAL OPTIONS:" "$cmd help"
  assert_contains "$out" "-h, --help[=false]" "$cmd help"
done
out=$("$COORDCTL" get --help)
assert_contains "$out" $'      --prefix[=false]\t\t\t' "get flags aligned"
out=$("$COORDCTL" frobnicate 2>&1); rc=$?
assert_eq 1 "$rc" "unknown command exit code"
assert_contains "$out" "Run 'coordctl --help' for usage." "unknown command hint"
pass
