#!/usr/bin/env bash
# Rule: a watcher on a follower gets every write of a concurrent writer exactly once and in
# revision order while the leader is killed with kill -9, replaced, and restarted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
leader=$(cluster_leader) || fail "no leader"
follower=""
for m in m1 m2 m3; do [ "$m" != "$leader" ] && follower=$m && break; done
events="$WORK/watch.out"
timeout 120 "$ETCDCTL" --endpoints="${SRV_EP[$follower]}" watch /cw/ --prefix >"$events" 2>&1 &
OUR_PIDS+=("$!")
# The watch is live once it reports a put made after it started.
wait_until 20 "the watch is live" bash -c \
  "timeout 5 '$ETCDCTL' --endpoints=${SRV_EP[$follower]} put /cw/0 start >/dev/null 2>&1; grep -q '^/cw/0\$' '$events'"
cluster_writer_start /cw/
wait_until 60 "30 acknowledged writes" bash -c "[ \$(wc -l <'$CLUSTER_WRITER_ACKED') -ge 30 ]"
note "killing leader $leader"
server_kill9 "$leader"
wait_until 60 "30 more acknowledged writes" bash -c "[ \$(wc -l <'$CLUSTER_WRITER_ACKED') -ge 60 ]"
server_restart "$leader"
wait_until 60 "90 acknowledged writes" bash -c "[ \$(wc -l <'$CLUSTER_WRITER_ACKED') -ge 90 ]"
touch "$CLUSTER_WRITER_STOP"
wait "$CLUSTER_WRITER_PID" 2>/dev/null
last=$(tail -1 "$CLUSTER_WRITER_ACKED")
wait_until 20 "the watcher saw /cw/$last" grep -q "^/cw/$last\$" "$events"
# etcdctl prints each event as three lines: PUT, key, value.
keys=$(grep -A1 '^PUT$' "$events" | grep '^/cw/' | grep -v '^/cw/0$' | sed 's#^/cw/##')
dups=$(sort -n <<<"$keys" | uniq -d)
[ -z "$dups" ] || fail "events seen twice: $(head -c 200 <<<"$dups")"
sort -n -c <<<"$keys" 2>/dev/null || fail "events out of order: $(tr '\n' ' ' <<<"$keys" | head -c 300)"
while read -r i; do
  grep -qx "$i" <<<"$keys" || fail "the watcher missed acknowledged write /cw/$i"
done <"$CLUSTER_WRITER_ACKED"
pass "$(wc -l <"$CLUSTER_WRITER_ACKED") acknowledged writes, each seen once and in order on $follower"
