#!/usr/bin/env bash
# Rule: `etcdctl watch -i` opens every watch on one stream: 2000 watches of one key each print
# a put of it; a watch with range_end before its key is canceled with etcd's reason and the
# others go on; `progress` gets one progress response, which etcdctl prints once per watch.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

N=2000
server_start s
out="$WORK/i.out"
watch_interactive s "$out"
for _ in $(seq "$N"); do echo "watch hot"; done >&"$WI_FD"
echo "watch b a" >&"$WI_FD"
echo "watch c" >&"$WI_FD"
# The stream answers in order: once every watch's progress line is out, every create was seen.
echo "progress" >&"$WI_FD"
rev=$(current_rev s)
wait_count "$out" "progress notify: $rev" $((N + 1)) 60
wait_text "$out" "watch was canceled (mvcc: watcher range is empty)" 10

assert_ctl_ok s put hot 1
assert_ctl_ok s put c 2
wait_count "$out" "hot" "$N" 60
wait_count "$out" "c" 1 20
assert_eq $((N + 1)) "$(count_lines "$out" PUT)" "PUT events printed"
assert_eq "$N" "$(count_lines "$out" 1)" "values of hot printed"
exec {WI_FD}>&-
assert_still_serving s
pass
