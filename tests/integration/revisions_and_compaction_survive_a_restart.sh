#!/usr/bin/env bash
# Rule: after a clean stop (SIGTERM) and a restart on the same data dir the store revision, every
# key's create/mod revision and version, the history above the compacted revision and the
# compaction itself are as before, and the next write gets the next revision.
. "$(dirname "$0")/lib.sh"

rev_of() { printf '%s' "$1" | sed -nE 's/.*"revision":([0-9]+).*/\1/p'; }
# A restart starts a new raft term, so answers are compared without it.
without_term() { printf '%s' "$1" | sed -E 's/"raft_term":[0-9]+/"raft_term":T/'; }

server_start s
assert_ctl_ok s put a 1
assert_ctl_ok s put a 2
assert_ctl_ok s put b 1
assert_ctl_ok s del b
assert_ctl_ok s put a 3
assert_ctl_ok s compaction 3
run_ctl s get "" --from-key -w json
before=$(without_term "$CTL_OUT")
assert_eq 6 "$(rev_of "$before")" "store revision before the restart"
run_ctl s get a --rev=4 -w json
history_before=$(without_term "$CTL_OUT")

server_stop s
server_restart s
run_ctl s get "" --from-key -w json
assert_eq "$before" "$(without_term "$CTL_OUT")" "full read after restart (same revision, kvs, versions)"
run_ctl s get a --rev=4 -w json
assert_eq "$history_before" "$(without_term "$CTL_OUT")" "read at revision 4 after restart"
assert_ctl_fails_with s "etcdserver: mvcc: required revision has been compacted" get a --rev=2
assert_ctl_fails_with s "etcdserver: mvcc: required revision has been compacted" compaction 3
run_ctl s put c 1 -w json
assert_eq 7 "$(rev_of "$CTL_OUT")" "revision of the first put after restart"

# The same after kill -9.
server_kill9 s
server_restart s
run_ctl s get c -w json
assert_eq 7 "$(rev_of "$CTL_OUT")" "store revision after kill -9 and restart"
assert_ctl_fails_with s "etcdserver: mvcc: required revision has been compacted" get a --rev=2
assert_get_value s a 3
pass
