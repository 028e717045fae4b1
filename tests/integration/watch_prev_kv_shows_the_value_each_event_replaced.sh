#!/usr/bin/env bash
# Rule: `etcdctl watch --prev-kv` prints, before each event's key-value, the key as it was just
# before the event (its previous value); a creation has none; a delete shows what it deleted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watch_helpers.lib"

server_start s
assert_ctl_ok s put a 1
from=$(( $(current_rev s) + 1 ))
watch_start s "$WORK/w.out" --prev-kv --prefix "" --rev "$from"
assert_ctl_ok s put a 2
assert_ctl_ok s put n fresh
assert_ctl_ok s del a
assert_ctl_ok s put a again

expected=$(printf '%s\n' PUT a 1 a 2  PUT n fresh  DELETE a 2 a ''  PUT a again)
wait_lines "$WORK/w.out" 15 20
assert_file_eq "$WORK/w.out" "$expected" "watch --prev-kv"

# History too: the previous values come from the store, as of each event's revision - 1.
watch_start s "$WORK/h.out" --prev-kv a --rev 2
wait_lines "$WORK/h.out" 16 20
assert_file_eq "$WORK/h.out" "$(printf '%s\n' PUT a 1  PUT a 1 a 2  DELETE a 2 a ''  PUT a again)" \
  "watch --prev-kv --rev 2"
pass
