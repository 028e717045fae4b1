#!/usr/bin/env bash
# Rule: coord stopped with SIGTERM, with a watch stream and a keep-alive stream still open, exits
# with status 0 and (in the ASan+UBSan build, where this test also runs) reports no leak and no
# undefined behaviour. Usage: SCRIPT COORD_BIN
set -u
bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/coord-stop.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
c=$(port); p=$(port)
export ETCDCTL_API=3
ep="127.0.0.1:$c"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} setsid "$bin" --data-dir "$work/d" \
  --listen-client-urls "http://$ep" --advertise-client-urls "http://$ep" \
  --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
  --initial-cluster "default=http://127.0.0.1:$p" >"$work/log" 2>&1 &
srv=$!
pids+=("$srv")
deadline=$((SECONDS + 60))
until etcdctl --endpoints="$ep" --command-timeout=1s get ready >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "FAIL: server not ready"; cat "$work/log"; exit 1; }
  kill -0 "$srv" 2>/dev/null || { echo "FAIL: server exited"; cat "$work/log"; exit 1; }
  sleep 0.1
done
etcdctl --endpoints="$ep" put a 1 >/dev/null || { echo "FAIL: put"; exit 1; }
etcdctl --endpoints="$ep" get a --prefix -w json >/dev/null || { echo "FAIL: get"; exit 1; }
etcdctl --endpoints="$ep" watch a >/dev/null 2>&1 &
pids+=("$!")
lease=$(etcdctl --endpoints="$ep" lease grant 60 | awk '{print $2}')
etcdctl --endpoints="$ep" lease keep-alive "$lease" >/dev/null 2>&1 &
pids+=("$!")
etcdctl --endpoints="$ep" put a 2 >/dev/null
kill -TERM "$srv"
deadline=$((SECONDS + 60))
while kill -0 "$srv" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { echo "FAIL: server still running 60 s after SIGTERM"; exit 1; }
  sleep 0.1
done
wait "$srv"
rc=$?
if [ "$rc" != 0 ] || grep -qE "LeakSanitizer|AddressSanitizer|runtime error" "$work/log"; then
  echo "FAIL: exit status $rc"; tail -40 "$work/log"; exit 1
fi
echo "PASS: clean exit after SIGTERM"
