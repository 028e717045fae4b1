#!/usr/bin/env bash
# Rule: in a 3-member cluster, kill -9 of the leader while a client writes loses no acknowledged
# write, applies none twice, and after the killed member restarts every member holds the same
# state (same keys, values, versions and revisions).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"

cluster_start 3
eps=$(cluster_endpoints)
acked="$WORK/acked"
: >"$acked"
writer() {
  local i
  for i in $(seq 1 150); do
    if timeout 20 "$ETCDCTL" --endpoints="$eps" --dial-timeout=2s --command-timeout=8s \
         put "/w/$i" "v$i" >/dev/null 2>&1; then
      echo "$i" >>"$acked"
    fi
  done
}
writer &
wpid=$!
OUR_PIDS+=("$wpid")

wait_until 60 "40 acknowledged writes" bash -c "[ \$(wc -l <'$acked') -ge 40 ]"
leader=$(cluster_leader) || fail "no leader before the kill"
note "killing leader $leader after $(wc -l <"$acked") acknowledged writes"
server_kill9 "$leader"
wait_until 60 "20 more acknowledged writes after the kill" \
  bash -c "[ \$(wc -l <'$acked') -ge 60 ]"
server_restart "$leader"
wait "$wpid"
n=$(wc -l <"$acked")
note "$n of 150 writes acknowledged"

# Every member converges on the same state; poll until they agree (the restarted one catches up).
converged() {
  local a b name
  a=$(cluster_dump m1 /w/)
  for name in m2 m3; do
    b=$(cluster_dump "$name" /w/)
    [ "$a" = "$b" ] || return 1
  done
  [ -n "$a" ]
}
wait_until 30 "all members hold the same /w/ keys" converged
state=$(cluster_dump m1 /w/)
while read -r i; do
  line=$(grep "^/w/$i " <<<"$state") || fail "acknowledged write /w/$i is missing"
  set -- $line
  [ "$2" = "v$i" ] || fail "/w/$i holds '$2', not v$i"
  [ "$3" = "1" ] || fail "/w/$i has version $3: it was applied more than once"
done <"$acked"
pass "$n acknowledged writes present exactly once on all 3 members"
