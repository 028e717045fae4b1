#!/usr/bin/env bash
# Rule: junk on a member's peer port (random bytes, HTTP/1, broken HTTP/2) and Raft traffic from a
# member of another cluster (same peer URLs, different --initial-cluster-token, so another
# cluster ID) are refused: the cluster keeps its leader, serves writes, and loses nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.lib"
coord_only

cluster_start 3
assert_ctl_ok m1 put /p/before 1
peer1=$(sed -E 's/.*--initial-advertise-peer-urls http:\/\/([^ ]+).*/\1/' <<<"${SRV_ARGS[m1]}")
for kind in garbage http1 preface-cut preface-then-garbage huge-frame; do
  wire junk "$peer1" "$kind" >/dev/null 2>&1
done
assert_ctl_ok m2 put /p/after-junk 2
assert_get_value m1 /p/after-junk 2

# An impostor: a member named m2 with m2's peer URL but another cluster token talks to m1.
c=$(free_port)
p=$(free_port)
ic=$(sed -E 's/.*--initial-cluster ([^ ]+).*/\1/' <<<"${SRV_ARGS[m1]}")
ic=$(sed -E "s#m2=http://127.0.0.1:[0-9]+#m2=http://127.0.0.1:$p#" <<<"$ic")
setsid "$SERVER_BIN" --name m2 --data-dir "$WORK/impostor.data" \
  --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
  --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
  --initial-cluster "$ic" --initial-cluster-token other-cluster >>"$WORK/impostor.log" 2>&1 &
OUR_PIDS+=("$!")
wait_until 20 "m1 refuses the impostor's stream" grep -q "refusing Raft messages from member .*: cluster ID" "$WORK/m1.log"
assert_ctl_ok m3 put /p/after-impostor 3
assert_get_value m1 /p/before 1
assert_get_value m2 /p/after-impostor 3
cluster_leader >/dev/null || fail "the cluster lost its leader"
pass
