#!/usr/bin/env bash
# Rule: revoking a lease deletes every key attached to it in one write (the revision rises by one)
# and leaves other keys alone; a watcher sees one DELETE event per key, all at that revision.
. "$(dirname "$0")/lib.sh"

revision() { # NAME: the store's current revision
  ctl "$1" get __rev_probe__ -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'
}

server_start s
run_ctl s lease grant 600
id=$(printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}')
[ -n "$id" ] || fail "no lease ID in: $CTL_OUT"
for k in a b c; do assert_ctl_ok s put "svc/$k" "v$k" --lease="$id"; done
assert_ctl_ok s put svc/plain stays
# A key put with the lease and then moved off it is not the lease's any more.
assert_ctl_ok s put svc/moved x --lease="$id"
assert_ctl_ok s put svc/moved y

# A watcher from now on (when the server has watches).
"$ETCDCTL" --endpoints="$(server_ep s)" watch svc/ --prefix -w json >"$WORK/watch.out" 2>&1 &
watcher=$!
OUR_PIDS+=("$watcher")
sleep 0.5 # give the watch time to be created; its output is checked, not its timing
watching=1
if ! _pid_alive "$watcher"; then
  note "the watch ended at once ($(head -c 200 "$WORK/watch.out")); watch part skipped"
  watching=0
fi

before=$(revision s)
assert_ctl_ok s lease revoke "$id"
after=$(revision s)
assert_eq $((before + 1)) "$after" "revision after revoking a lease with three keys"
for k in a b c; do
  run_ctl s get "svc/$k"
  assert_eq "" "$CTL_OUT" "svc/$k after the revoke"
done
assert_get_value s svc/plain stays
assert_get_value s svc/moved y

if [ $watching -eq 1 ]; then
  three_deletes() { [ "$(grep -o '"type":1' "$WORK/watch.out" | wc -l)" -ge 3 ]; }
  wait_until 10 "three DELETE events" three_deletes
  revs=$(grep -o '"mod_revision":[0-9]*' "$WORK/watch.out" | sort -u | cut -d: -f2 | tr '\n' ' ')
  assert_eq "$after " "$revs" "revision of the DELETE events"
fi
pass "3 keys deleted at revision $after"
