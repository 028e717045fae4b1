#!/usr/bin/env bash
# Rule: a watch whose start revision was compacted away is canceled by the server with etcd's
# reason (etcdctl prints it and exits 5); a watch from the compacted revision itself is served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

server_start s
for v in 1 2 3 4 5; do assert_ctl_ok s put a "$v"; done   # revs 2..6
assert_ctl_ok s compaction 4

run_ctl s watch a --rev 2
assert_eq 5 "$CTL_RC" "exit code of a watch from a compacted revision"
assert_contains "$CTL_OUT" "watch was canceled (etcdserver: mvcc: required revision has been compacted)" \
  "watch --rev 2 after compaction at 4"
assert_contains "$CTL_OUT" "Error: watch is canceled by the server" "watch --rev 2 after compaction at 4"

watch_start s "$WORK/w.out" a --rev 4
wait_lines "$WORK/w.out" 9 20
assert_file_eq "$WORK/w.out" "$(events_text PUT a 3 PUT a 4 PUT a 5)" "watch --rev 4 (the compacted revision)"
assert_still_serving s
pass
