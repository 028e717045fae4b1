#!/usr/bin/env bash
# Rule: `etcdctl watch --rev R` first prints every change since revision R (history), then goes
# on with live changes, with no gap and no repeat between the two; --rev 1 on the whole key
# space replays everything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

server_start s
assert_ctl_ok s put a 1   # rev 2
assert_ctl_ok s put a 2   # rev 3
assert_ctl_ok s put b 1   # rev 4
assert_ctl_ok s put a 3   # rev 5
assert_ctl_ok s del b     # rev 6

watch_start s "$WORK/a.out" a --rev 3
watch_start s "$WORK/all.out" --prefix "" --rev 1
wait_lines "$WORK/a.out" 6 20
assert_ctl_ok s put a 4
assert_ctl_ok s put b 2

wait_lines "$WORK/a.out" 9 20
assert_file_eq "$WORK/a.out" "$(events_text PUT a 2 PUT a 3 PUT a 4)" "watch a --rev 3"
wait_lines "$WORK/all.out" 21 20
assert_file_eq "$WORK/all.out" \
  "$(events_text PUT a 1 PUT a 2 PUT b 1 PUT a 3 DELETE b '' PUT a 4 PUT b 2)" "watch --prefix '' --rev 1"
pass
