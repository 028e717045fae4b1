#!/usr/bin/env bash
# Rule (coord's `coordctl watch --children DIR`): it prints "+ child" for each immediate child
# of DIR there is, then "+ child" when one appears and "- child" when one disappears: a child is
# there while it is a key or has keys below it, so deeper writes under a present child and keys
# beside DIR print nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"
coord_only
need_coordctl

server_start s
assert_ctl_ok s put /svc/a 1
assert_ctl_ok s put /svc/b/x 1
assert_ctl_ok s put /svcother 1
coordctl_watch_start s "$WORK/c.out" --children /svc
wait_lines "$WORK/c.out" 2 20
assert_ctl_ok s put /svc/b/y 1          # deeper, b already there: nothing
assert_ctl_ok s put /svc/c/d/e 1        # + /svc/c
assert_ctl_ok s put /other/x 1          # outside: nothing
assert_ctl_ok s del /svc/b/x            # b still has y: nothing
assert_ctl_ok s del /svc/b/y            # - /svc/b
assert_ctl_ok s put /svc/a 2            # nothing
assert_ctl_ok s del /svc/a              # - /svc/a
assert_ctl_ok s txn <<'TXN'

put /svc/t/1 x
put /svc/t/2 x
put /svc/u x


TXN
assert_ctl_ok s del /svc/t --prefix     # - /svc/t (both keys in one revision)
assert_ctl_ok s put /svc/z 1            # + /svc/z: the last line
wait_text "$WORK/c.out" "+ /svc/z" 20
assert_file_eq "$WORK/c.out" "+ /svc/a
+ /svc/b
+ /svc/c
- /svc/b
- /svc/a
+ /svc/t
+ /svc/u
- /svc/t
+ /svc/z" "coordctl watch --children /svc"
pass
