#!/usr/bin/env bash
# Peak server memory while READERS (10) clients each read the whole keyspace at once, over about
# 100 MB of data (KEYS 400,000 keys x VALUE_SIZE 256 bytes), etcd beside coord.
#   tests/bench/big_range_rss.sh [COORD_BIN]      (env: KEYS, VALUE_SIZE, READERS, ETCD_BIN)
# Each server: fresh data dir, load, clean restart (so the peak belongs to the reads, not to the
# load), then READERS parallel `etcdctl get "" --from-key` while VmRSS/RssAnon are sampled every
# 20 ms; VmHWM is reset before the reads. Prints one line per server and coord/etcd ratios.
. "$(dirname "$0")/bench_lib.sh"

KEYS=${KEYS:-400000}
VALUE_SIZE=${VALUE_SIZE:-256}
READERS=${READERS:-10}
declare -A idle=() hwm=() peak=() anon=() secs=() loadmsg=()

for s in $(servers_to_measure); do
  bench_start "$s"
  loadmsg[$s]=$(load_keys "$s" big/ "$KEYS" "$VALUE_SIZE")
  echo "$s: ${loadmsg[$s]}" >&2
  server_stop "$s"
  server_restart "$s"
  pid=$(server_pid "$s")
  idle[$s]=$(proc_kib "$pid" VmRSS)
  reset_peak_rss "$pid"
  start_rss_sampler "$pid" "$WORK/$s.rss"
  began=$(date +%s.%N)
  readers=()
  for r in $(seq 1 "$READERS"); do
    timeout 300 "$ETCDCTL" --endpoints="$(server_ep "$s")" --command-timeout=280s \
      get "" --from-key >"$WORK/$s.read.$r" 2>"$WORK/$s.read.$r.err" &
    readers+=($!)
    OUR_PIDS+=($!)
  done
  for r in "${readers[@]}"; do wait "$r" || fail "$s: a full-keyspace read failed: $(cat "$WORK"/"$s".read.*.err | head -3)"; done
  secs[$s]=$(awk -v b="$began" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - b }')
  read -r peak[$s] anon[$s] < <(stop_rss_sampler "$WORK/$s.rss")
  hwm[$s]=$(proc_kib "$pid" VmHWM)
  got=$(($(wc -l <"$WORK/$s.read.1") / 2))
  [ "$got" -eq "$KEYS" ] || fail "$s: a full read returned $got keys, expected $KEYS"
  rm -f "$WORK/$s".read.*
  server_stop "$s"
done

printf '\n%d keys x %d B values (%s MiB of values), %d parallel full-keyspace reads\n' \
  "$KEYS" "$VALUE_SIZE" "$(mib $((KEYS * VALUE_SIZE / 1024)))" "$READERS"
printf '%-6s %12s %14s %14s %16s %8s\n' server "idle MiB" "peak RSS MiB" "VmHWM MiB" "peak anon MiB" "reads s"
for s in $(servers_to_measure); do
  printf '%-6s %12s %14s %14s %16s %8s\n' "$s" "$(mib "${idle[$s]}")" "$(mib "${peak[$s]}")" \
    "$(mib "${hwm[$s]}")" "$(mib "${anon[$s]}")" "${secs[$s]}"
done
if [ -n "$COORD_BIN" ]; then
  printf 'coord/etcd: peak RSS %s, VmHWM %s, peak anon %s, read time %s\n' \
    "$(ratio "${peak[coord]}" "${peak[etcd]}")" "$(ratio "${hwm[coord]}" "${hwm[etcd]}")" \
    "$(ratio "${anon[coord]}" "${anon[etcd]}")" "$(ratio "${secs[coord]}" "${secs[etcd]}")"
fi
