#!/usr/bin/env bash
# Rule: clients killed (kill -9) in the middle of their watches take nothing with them: after
# rounds of 10 clients with 300 watches each dying while writes go on, a watcher that stayed
# has every write once and in order, new watchers work, and the server keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

server_start s
from=$(( $(current_rev s) + 1 ))
watch_start s "$WORK/steady.out" --prefix k/ --rev "$from"
n=0
for round in 1 2 3 4 5; do
  pids=()
  fds=()
  for c in $(seq 10); do
    watch_interactive s "$WORK/victim.$round.$c.out"
    pids+=("$WATCH_PID")
    fds+=("$WI_FD")
    for _ in $(seq 300); do echo "watch --prefix k/"; done >&"$WI_FD"
    echo "progress" >&"$WI_FD"
  done
  for c in $(seq 10); do wait_text "$WORK/victim.$round.$c.out" "progress notify" 30; done
  n=$((n + 1)); assert_ctl_ok s put "k/$n" "$n"
  for pid in "${pids[@]}"; do kill -KILL "$pid"; done
  n=$((n + 1)); assert_ctl_ok s put "k/$n" "$n"
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  n=$((n + 1)); assert_ctl_ok s put "k/$n" "$n"
done

wait_lines "$WORK/steady.out" $((3 * n)) 30
assert_file_eq "$WORK/steady.out" "$(for i in $(seq "$n"); do printf 'PUT\nk/%s\n%s\n' "$i" "$i"; done)" \
  "the watcher that stayed"
watch_start s "$WORK/late.out" --prefix k/ --rev "$from"
wait_lines "$WORK/late.out" $((3 * n)) 30
assert_still_serving s
pass
