#!/usr/bin/env bash
# A measurement, not a test (no ctest registers it): how long a follower that was down while
# N keys were written takes to catch up by snapshot, and its RSS afterwards beside the leader's.
# Usage: N=100000 tests/snapshot/measure_catchup.sh build/coord   (coordctl beside coord)
# Prints the fill rate, restart-to-installed time, and the leader's and follower's log lines
# (checkpoint, send, receive and install times and sizes).
here="$(cd "$(dirname "$0")/../integration" && pwd)"
. "$here/lib.sh"
. "$here/cluster.lib"
. "$here/snapshot.lib"
snapshot_need_coordctl
N=${N:-100000}
cluster_start 3 --snapshot-count 10000
leader=$(cluster_leader) || fail "no leader"
follower=$(snapshot_follower "$leader")
server_stop "$follower"
start=$SECONDS
"$COORDCTL" --endpoints="${SRV_EP[$leader]}" --command-timeout=20s bench put --clients 32 \
  --conns 4 --total "$N" --key-space-size "$N" --sequential-keys --key-prefix /s/ --key-size 10 \
  --val-size 256 2>&1 | grep -E "ops/s|errors"
echo "fill: $((SECONDS - start)) s; leader data dir: $(du -sh "$WORK/$leader.data" | cut -f1)"
t0=$(date +%s.%N)
server_restart "$follower"
wait_until 300 "the follower installs a snapshot" grep -q "coord: installed snapshot" "$(server_log "$follower")"
t1=$(date +%s.%N)
echo "restart to installed: $(python3 -c "print(round($t1 - $t0, 2))") s"
grep -h -E "took snapshot|sent snapshot|received snapshot|installed snapshot" "$WORK"/*.log
wait_until 120 "the follower holds the leader's state" snapshot_same_state "$leader" "$follower"
echo "RSS: follower $(ps -o rss= -p "${SRV_PID[$follower]}") KiB, leader $(ps -o rss= -p "${SRV_PID[$leader]}") KiB"
pass
