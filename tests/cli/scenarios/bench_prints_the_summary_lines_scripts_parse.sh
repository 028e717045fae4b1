#!/usr/bin/env bash
# `coordctl bench put|range` runs --total requests and prints the lines benchmark scripts
# parse: "total: N", "errors: N", "ops/s: X", "p50: X ms", "p99: X ms". The puts land: the
# key space holds the keys written.
# Usage: SCRIPT SERVER_BIN COORDCTL
set -u
source "$(dirname "$0")/../../integration/lib.sh" "$1"
COORDCTL=$(readlink -f "$2")
server_start s1
cc() { timeout 60 "$COORDCTL" --endpoints="$(server_ep s1)" "$@"; }

out=$(cc bench put --clients 4 --conns 2 --total 200 --key-size 6 --val-size 32 \
      --key-space-size 50 --sequential-keys) || fail "bench put exited $?: $out"
assert_contains "$out" $'\ntotal: 200\n' "bench put total"
assert_contains "$out" $'\nerrors: 0\n' "bench put errors"
for line in 'ops/s: [0-9.]+' 'p50: [0-9.]+ ms' 'p99: [0-9.]+ ms'; do
  grep -Eqx "$line" <<<"$out" || fail "bench put: no line matching '$line' in: $out"
done
assert_eq 50 "$(cc get 0 --prefix --count-only)" "keys written by 200 sequential puts over 50 keys"

out=$(cc bench range 0 --prefix --consistency s --clients 2 --total 100) || fail "bench range: $out"
assert_contains "$out" $'\ntotal: 100\n' "bench range total"
assert_contains "$out" $'\nerrors: 0\n' "bench range errors"
grep -Eqx 'p99: [0-9.]+ ms' <<<"$out" || fail "bench range: no p99 line in: $out"

out=$(cc bench put --conns 3 --clients 2 2>&1); rc=$?
assert_eq 128 "$rc" "more connections than clients: exit code"
pass
