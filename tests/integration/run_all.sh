#!/usr/bin/env bash
# Runs every integration scenario and side-by-side transcript against SERVER_BIN without CMake:
#   tests/integration/run_all.sh SERVER_BIN [NAME_FILTER]
# e.g. `tests/integration/run_all.sh /usr/bin/etcd` checks the tests themselves against etcd.
# Prints one line per test and "N passed, N failed, N skipped"; exits 1 if any failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
server=${1:?usage: run_all.sh SERVER_BIN [NAME_FILTER]}
filter=${2:-}
export ETCDCTL_API=3
log=$(mktemp -d "${TMPDIR:-/tmp}/coord-it-logs.XXXXXX")
passed=0 failed=0 skipped=0
result() { # NAME RC SECONDS
  case $2 in
    0) passed=$((passed + 1)); printf 'pass  %4ss  %s\n' "$3" "$1" ;;
    77) skipped=$((skipped + 1)); printf 'skip  %4ss  %s\n' "$3" "$1" ;;
    *) failed=$((failed + 1)); printf 'FAIL  %4ss  %s (exit %s; output in %s/%s.out)\n' "$3" "$1" "$2" "$log" "$1" ;;
  esac
}
for script in "$here"/*.sh; do
  name=$(basename "$script" .sh)
  case $name in lib | run_all | run_side_by_side) continue ;; esac
  [ -z "$filter" ] || [[ $name == *$filter* ]] || continue
  start=$SECONDS
  bash "$script" "$server" >"$log/$name.out" 2>&1
  result "$name" $? $((SECONDS - start))
done
for txt in "$here"/sidebyside/*.txt; do
  name=sidebyside.$(basename "$txt" .txt)
  [ -z "$filter" ] || [[ $name == *$filter* ]] || continue
  start=$SECONDS
  bash "$here/run_side_by_side.sh" "$server" "$txt" >"$log/$name.out" 2>&1
  result "$name" $? $((SECONDS - start))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && rm -rf "$log"
[ "$failed" -eq 0 ]
