#!/usr/bin/env bash
# Rule: `coordctl watch` prints what `etcdctl watch` prints for the same watch — a key, a
# prefix, a range, --rev history, --prev-kv, hex output — and a watch from a compacted revision
# ends the same way (the reason, then exit code 5).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"
need_coordctl

server_start s
assert_ctl_ok s put a 0
from=$(( $(current_rev s) + 1 ))
i=0
for args in "a" "--prefix d/" "b d" "--prev-kv --prefix d/" "--hex a" "--prefix ''"; do
  i=$((i + 1))
  eval "watch_start s \"\$WORK/e$i.out\" --rev $from $args"
  eval "coordctl_watch_start s \"\$WORK/c$i.out\" --rev $from $args"
done
assert_ctl_ok s put a 1
assert_ctl_ok s put d/x 1
assert_ctl_ok s put c 1
assert_ctl_ok s put d/y "two words"
assert_ctl_ok s del d/x
assert_ctl_ok s put a "$(printf 'tab\there')"
assert_ctl_ok s del a
# Every watcher has seen the last write once the "everything" watchers show it.
assert_ctl_ok s put zz end
wait_text "$WORK/e6.out" zz 20
wait_text "$WORK/c6.out" zz 20
for j in $(seq "$i"); do
  wait_lines "$WORK/c$j.out" "$(wc -l <"$WORK/e$j.out")" 20
  assert_file_eq "$WORK/c$j.out" "$(cat "$WORK/e$j.out")" "coordctl watch beside etcdctl watch (case $j)"
done

assert_ctl_ok s compaction "$(current_rev s)"
run_ctl s watch a --rev 2
etcd_out=$CTL_OUT etcd_rc=$CTL_RC
coord_out=$(timeout 20 "$COORDCTL" --endpoints="$(server_ep s)" watch a --rev 2 2>&1)
assert_eq "$etcd_rc" "$?" "exit code of a watch from a compacted revision"
assert_eq "$etcd_out" "$coord_out" "output of a watch from a compacted revision"
pass
