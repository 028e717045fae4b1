#!/usr/bin/env bash
# Rule: while a writer puts k/1 .. k/N, a watcher started before, one started mid-way from the
# first revision (history, then live) and one started mid-way from "now" each print every
# write they cover exactly once, in order: the first two all N, the third a gap-free tail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

N=${WATCH_WRITES:-300}
server_start s
from=$(( $(current_rev s) + 1 ))
watch_start s "$WORK/before.out" --prefix k/ --rev "$from"

writer() {
  local i
  for i in $(seq 1 "$N"); do
    "$ETCDCTL" --endpoints="$(server_ep s)" put "k/$i" "$i" >/dev/null || { echo "put $i failed" >&2; exit 1; }
  done
}
writer &
WRITER=$!
OUR_PIDS+=("$WRITER")

wait_lines "$WORK/before.out" "$N" 60   # a third of the writes are in
watch_start s "$WORK/replay.out" --prefix k/ --rev "$from"
watch_start s "$WORK/now.out" --prefix k/
wait "$WRITER" || fail "the writer failed"

expected=$(for i in $(seq 1 "$N"); do printf 'PUT\nk/%s\n%s\n' "$i" "$i"; done)
wait_lines "$WORK/before.out" $((3 * N)) 30
assert_file_eq "$WORK/before.out" "$expected" "watcher started before the writes"
wait_lines "$WORK/replay.out" $((3 * N)) 30
assert_file_eq "$WORK/replay.out" "$expected" "watcher started mid-way from the first revision"

# "now" may start anywhere, but what it printed must be k/j .. k/N for some j.
wait_text "$WORK/now.out" "k/$N" 30
first=$(sed -n 3p "$WORK/now.out")
[ -n "$first" ] || fail "the watcher started mid-way printed nothing"
assert_file_eq "$WORK/now.out" "$(for i in $(seq "$first" "$N"); do printf 'PUT\nk/%s\n%s\n' "$i" "$i"; done)" \
  "watcher started mid-way from now (first event k/$first)"
pass
