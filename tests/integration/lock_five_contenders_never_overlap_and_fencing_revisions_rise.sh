#!/usr/bin/env bash
# Rule: five processes taking the same lock over many rounds (`coordctl lock NAME cmd`, then
# `etcdctl lock NAME cmd`) are never inside at once; each holder's fenced Txn (guarded by its
# lock key's create revision) succeeds; the create and acquisition revisions rise from one
# holder to the next; a counter bumped under the lock counts every round.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lock_helpers.lib"
need_coordctl_for_locks

PROCS=5
ROUNDS=8
server_start s
export EP ETCDCTL LOG_DIR="$WORK"
EP=$(server_ep s)
write_holder "$WORK/hold.sh"

contend() { # CLIENT...: PROCS processes, ROUNDS lock rounds each
  local pids=() p
  for p in $(seq 1 $PROCS); do
    (
      for r in $(seq 1 $ROUNDS); do
        "$@" --endpoints="$EP" lock race -- "$WORK/hold.sh" "p$p/r$r" ||
          echo "p$p/r$r: lock command failed ($?)" >>"$WORK/errors"
      done
    ) &
    pids+=($!)
    OUR_PIDS+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}

contend "$COORDCTL"
check_lock_log $((PROCS * ROUNDS))
note "coordctl lock: $((PROCS * ROUNDS)) rounds, one holder at a time"

rm -f "$WORK/order"
contend "$ETCDCTL"
[ ! -s "$WORK/errors" ] || fail "$(head -5 "$WORK/errors")"
assert_eq $((PROCS * ROUNDS)) "$(wc -l <"$WORK/order")" "etcdctl lock acquisitions logged"
assert_get_value s counter $((2 * PROCS * ROUNDS))
pass "$((2 * PROCS * ROUNDS)) rounds (coordctl and etcdctl), never two holders at once"
