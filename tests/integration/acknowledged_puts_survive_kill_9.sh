#!/usr/bin/env bash
# Rule: a put that etcdctl reported as done (exit 0) is on disk: after kill -9 of the server at a
# random moment during a stream of puts and a restart on the same data dir, every acknowledged
# key is there with its value. Three kill/restart rounds, four writers each.
. "$(dirname "$0")/lib.sh"

ROUNDS=3
WRITERS=4

writer() { # ROUND W: put unique keys until the server is gone; log each acknowledged pair
  local round=$1 w=$2 i=0 key val
  while [ $i -lt 2000 ]; do
    i=$((i + 1))
    key="r$round/w$w/$(printf %05d $i)"
    val="v-$round-$w-$i-$RANDOM"
    if ctl s put "$key" "$val" --dial-timeout=1s --command-timeout=2s >/dev/null 2>&1; then
      echo "$key $val" >>"$WORK/acked.$round.$w"
    else
      server_alive s || return 0
    fi
  done
}

acked_count() { cat "$WORK"/acked.* 2>/dev/null | wc -l; }
reached_target() { [ "$(acked_count)" -ge "$target" ]; }

server_start s
for round in $(seq 1 $ROUNDS); do
  # Kill once this round's writers have had between 20 and 200 puts acknowledged.
  target=$(( $(acked_count) + 20 + RANDOM % 181 ))
  pids=()
  for w in $(seq 1 $WRITERS); do
    writer "$round" "$w" &
    pids+=($!)
    OUR_PIDS+=($!)
  done
  wait_until 60 "$target acknowledged puts in round $round" reached_target
  server_kill9 s
  note "round $round: killed the server after $(acked_count) acknowledged puts in all"
  for pid in "${pids[@]}"; do wait "$pid"; done
  server_restart s
done

# Every acknowledged pair, checked against one full read of the restarted server.
ctl s get r --prefix >"$WORK/after.txt" || fail "full read after the last restart failed"
declare -A stored=()
while IFS= read -r key && IFS= read -r val; do stored[$key]=$val; done <"$WORK/after.txt"
total=0
while read -r key val; do
  total=$((total + 1))
  [ "${stored[$key]+set}" = set ] || fail "acknowledged key '$key' is missing after kill -9 and restart"
  [ "${stored[$key]}" = "$val" ] || fail "acknowledged key '$key' holds '${stored[$key]}', expected '$val'"
done < <(cat "$WORK"/acked.*)
[ "$total" -ge $((ROUNDS * 20)) ] || fail "only $total puts were acknowledged, the check proves little"
assert_still_serving s
pass "$total acknowledged puts all present after $ROUNDS kill -9 rounds"
