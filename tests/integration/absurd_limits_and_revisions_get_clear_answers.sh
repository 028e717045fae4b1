#!/usr/bin/env bash
# Rule: extreme --limit and --rev values are answered the way etcd answers them: a huge or
# negative limit is "no limit", a revision past the current one is "required revision is a
# future revision", zero and negative revisions read the latest; compaction to a future revision
# is refused. Nothing is lost and the server keeps serving.
. "$(dirname "$0")/lib.sh"
need_grpc_python

server_start s
ep=$(server_ep s)
for i in 1 2 3 4 5; do assert_ctl_ok s put "k$i" "v$i"; done
max=9223372036854775807
min=-9223372036854775808
for limit in $max -1 $min 0; do
  answer=$(wire_grpc range "$ep" k1 "$limit")
  note "Range k1 limit=$limit: $answer"
  assert_eq "OK count=1 kvs=1 more=0" "$answer" "Range of one key with limit $limit"
done
run_ctl s get k --prefix --limit=$max --keys-only
assert_eq 5 "$(printf '%s\n' "$CTL_OUT" | grep -c '^k')" "keys listed with --limit=$max"
run_ctl s get k --prefix --limit=-7 --keys-only
assert_eq 5 "$(printf '%s\n' "$CTL_OUT" | grep -c '^k')" "keys listed with --limit=-7"
for rev in $max 7 1000000; do
  assert_ctl_fails_with s "etcdserver: mvcc: required revision is a future revision" get k1 --rev=$rev
  answer=$(wire_grpc range "$ep" k1 0 "$rev")
  assert_eq "OUT_OF_RANGE etcdserver: mvcc: required revision is a future revision" "$answer" "Range at revision $rev"
done
for rev in 0 -1 $min; do
  answer=$(wire_grpc range "$ep" k1 0 "$rev")
  assert_eq "OK count=1 kvs=1 more=0" "$answer" "Range at revision $rev (latest)"
done
assert_ctl_fails_with s "etcdserver: mvcc: required revision is a future revision" compaction $max
assert_ctl_fails_with s "etcdserver: mvcc: required revision is a future revision" compaction 7
# An inverted range is empty, not an error.
run_ctl s get k5 k1 -w json
assert_not_contains "$CTL_OUT" '"kvs"' "inverted range k5..k1"
for i in 1 2 3 4 5; do assert_get_value s "k$i" "v$i"; done
assert_still_serving s
pass
