#!/usr/bin/env bash
# Rule: `etcdctl watch KEY` and `etcdctl watch --prefix P` print every later put and delete of
# their keys, in revision order, each once, and nothing of other keys; a transaction's events
# come together.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

server_start s
assert_ctl_ok s put a before
# Start just after the current revision: no write below can be missed, however late the
# watch is set up.
from=$(( $(current_rev s) + 1 ))
watch_start s "$WORK/key.out" a --rev "$from"
watch_start s "$WORK/prefix.out" --prefix p/ --rev "$from"

assert_ctl_ok s put a 1
assert_ctl_ok s put p/x 1
assert_ctl_ok s put b 1
assert_ctl_ok s put p 1
assert_ctl_ok s put p/y 2
assert_ctl_ok s del p/x
assert_ctl_ok s txn <<'TXN'

put p/t1 t1
put p/t2 t2
put a txn


TXN
assert_ctl_ok s put a 2
assert_ctl_ok s del a

wait_lines "$WORK/key.out" 12 20
assert_file_eq "$WORK/key.out" "$(events_text PUT a 1 PUT a txn PUT a 2 DELETE a '')" "watch a"
wait_lines "$WORK/prefix.out" 15 20
assert_file_eq "$WORK/prefix.out" "$(events_text PUT p/x 1 PUT p/y 2 DELETE p/x '' PUT p/t1 t1 PUT p/t2 t2)" \
  "watch --prefix p/"
pass
