#!/usr/bin/env bash
# Rule: any member answers any request: a write sent to a follower is forwarded and applied
# everywhere, and a linearizable read on another member right after its acknowledgement sees it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
for i in 1 2 3 4 5 6; do
  w=m$(( (i % 3) + 1 ))
  r=m$(( ((i + 1) % 3) + 1 ))
  assert_ctl_ok "$w" put "/any/$i" "via-$w"
  assert_get_value "$r" "/any/$i" "via-$w"
done
run_ctl m2 member list
assert_contains "$CTL_OUT" "m1" "member list names m1"
assert_contains "$CTL_OUT" "m3" "member list names m3"
assert_eq 3 "$(grep -c started <<<"$CTL_OUT")" "started members"
pass
