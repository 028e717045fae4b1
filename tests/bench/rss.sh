#!/usr/bin/env bash
# Server memory idle and after KEYS (100,000) keys of VALUE_SIZE (256) bytes, etcd beside coord.
#   tests/bench/rss.sh [COORD_BIN]      (env: KEYS, VALUE_SIZE, ETCD_BIN)
# Idle = VmRSS once the server answers a linearizable get on a fresh data dir; loaded = VmRSS
# right after the load and after a full read of all keys; VmHWM = peak over the process life.
. "$(dirname "$0")/bench_lib.sh"

KEYS=${KEYS:-100000}
VALUE_SIZE=${VALUE_SIZE:-256}
declare -A idle=() loaded=() afterread=() hwm=()

for s in $(servers_to_measure); do
  bench_start "$s"
  pid=$(server_pid "$s")
  idle[$s]=$(proc_kib "$pid" VmRSS)
  echo "$s: $(load_keys "$s" rss/ "$KEYS" "$VALUE_SIZE")" >&2
  loaded[$s]=$(proc_kib "$pid" VmRSS)
  ctl "$s" get rss/ --prefix --command-timeout=120s >"$WORK/read" || fail "$s: full read failed"
  afterread[$s]=$(proc_kib "$pid" VmRSS)
  hwm[$s]=$(proc_kib "$pid" VmHWM)
  server_stop "$s"
done

printf '\nRSS idle and with %d keys x %d B values\n' "$KEYS" "$VALUE_SIZE"
printf '%-6s %10s %12s %16s %11s\n' server "idle MiB" "loaded MiB" "after read MiB" "VmHWM MiB"
for s in $(servers_to_measure); do
  printf '%-6s %10s %12s %16s %11s\n' "$s" "$(mib "${idle[$s]}")" "$(mib "${loaded[$s]}")" \
    "$(mib "${afterread[$s]}")" "$(mib "${hwm[$s]}")"
done
if [ -n "$COORD_BIN" ]; then
  printf 'coord/etcd: idle %s, loaded %s, after read %s, VmHWM %s\n' \
    "$(ratio "${idle[coord]}" "${idle[etcd]}")" "$(ratio "${loaded[coord]}" "${loaded[etcd]}")" \
    "$(ratio "${afterread[coord]}" "${afterread[etcd]}")" "$(ratio "${hwm[coord]}" "${hwm[etcd]}")"
fi
