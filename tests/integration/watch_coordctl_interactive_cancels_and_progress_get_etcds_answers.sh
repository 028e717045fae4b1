#!/usr/bin/env bash
# Rule (coordctl watch -i, on one stream): a cancel of an unknown watch ID gets no answer and
# changes nothing; a cancel of a live one stops its events only; a range whose end is not after
# its key is refused with etcd's reason; `progress` answers with the current revision; with
# --progress-notify a quiet watch hears the revision every
# --experimental-watch-progress-notify-interval.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"
need_coordctl

server_start s --experimental-watch-progress-notify-interval=1s
out="$WORK/i.out"
coordctl_watch_interactive s "$out"
{
  echo "watch a"          # id 0
  echo "watch b"          # id 1
  echo "watch d c"        # refused: range end before the key
  echo "cancel 7"         # unknown: no answer
  echo "progress"
} >&"$WI_FD"
rev=$(current_rev s)
wait_text "$out" "progress notify: $rev" 20
wait_text "$out" "watch was canceled (mvcc: watcher range is empty)" 20
assert_ctl_ok s put a 1
assert_ctl_ok s put b 1
wait_lines "$out" 8 20
echo "cancel 0" >&"$WI_FD"
echo "progress" >&"$WI_FD"
wait_text "$out" "progress notify: $((rev + 2))" 20
assert_ctl_ok s put a 2
assert_ctl_ok s put b 2
echo "progress" >&"$WI_FD"
wait_text "$out" "progress notify: $((rev + 4))" 20
assert_file_eq "$out" "watch was canceled (mvcc: watcher range is empty)
progress notify: $rev
PUT
a
1
PUT
b
1
progress notify: $((rev + 2))
PUT
b
2
progress notify: $((rev + 4))" "coordctl watch -i transcript"

# A quiet watch with --progress-notify hears the revision on the interval, twice within 5 s.
coordctl_watch_start s "$WORK/p.out" --progress-notify quiet
wait_count "$WORK/p.out" "progress notify: $((rev + 4))" 2 10
pass
