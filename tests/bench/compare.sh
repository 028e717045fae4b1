#!/usr/bin/env bash
# Put and range throughput and latency, etcd beside coord, measured with `coordctl bench`
# (modelled on etcd's benchmark tool) against each server in turn: fresh data dir, the same
# flags, the same durability (both fsync every acknowledged write; neither gets
# --unsafe-no-fsync), the same client and load.
#   tests/bench/compare.sh [COORD_BIN]      (env: COORDCTL (default build/coordctl), SCALE, ETCD_BIN)
# SCALE multiplies every --total (default 1). Prints ops/s, p50 and p99 per scenario and server,
# and coord/etcd ratios (ops/s: higher is better for coord; latency: lower is better).
. "$(dirname "$0")/bench_lib.sh"

COORDCTL=${COORDCTL:-$REPO_DIR/build/coordctl}
SCALE=${SCALE:-1}
if [ ! -x "$COORDCTL" ] || ! "$COORDCTL" bench put --help >/dev/null 2>&1; then
  echo "compare.sh needs coordctl with its bench command at $COORDCTL" >&2
  echo "(cmake --build build --target coordctl, or set COORDCTL=...); nothing measured" >&2
  exit 2
fi

# name | coordctl arguments (after "bench"); totals are multiplied by SCALE.
scenarios=(
  "put, 1 client|put --clients 1 --conns 1 --total 2000 --key-size 8 --val-size 256 --key-space-size 100000"
  "put, 32 clients|put --clients 32 --conns 8 --total 20000 --key-size 8 --val-size 256 --key-space-size 100000"
  "range l, 1 client|range bench-key --consistency l --clients 1 --conns 1 --total 10000"
  "range l, 32 clients|range bench-key --consistency l --clients 32 --conns 8 --total 50000"
  "range s, 1 client|range bench-key --consistency s --clients 1 --conns 1 --total 10000"
  "range s, 32 clients|range bench-key --consistency s --clients 32 --conns 8 --total 50000"
)

scaled() { # ARGS...: the arguments with --total N multiplied by SCALE
  local out=() next=""
  for a in "$@"; do
    if [ "$next" = total ]; then a=$((a * SCALE)); next=""; fi
    [ "$a" = --total ] && next=total
    out+=("$a")
  done
  echo "${out[@]}"
}

field() { # FILE NAME: the number after "NAME:" in coordctl's summary, or "-"
  local v
  v=$(sed -nE "s|^[[:space:]]*$2:[[:space:]]*([0-9.]+).*|\\1|p" "$1" | head -1)
  echo "${v:--}"
}

declare -A ops=() p50=() p99=()
for s in $(servers_to_measure); do
  bench_start "$s"
  assert_ctl_ok "$s" put bench-key "$(head -c 256 /dev/zero | tr '\0' v)"
  for sc in "${scenarios[@]}"; do
    name=${sc%%|*}
    # shellcheck disable=SC2046  # scaled prints the argument list to split
    if ! "$COORDCTL" --endpoints="$(server_ep "$s")" bench $(scaled ${sc#*|}) >"$WORK/out" 2>&1; then
      echo "$s, $name: coordctl bench failed: $(tail -n 3 "$WORK/out")" >&2
    fi
    ops[$s,$name]=$(field "$WORK/out" "ops/s")
    p50[$s,$name]=$(field "$WORK/out" p50)
    p99[$s,$name]=$(field "$WORK/out" p99)
    echo "$s, $name: ops/s ${ops[$s,$name]}, p50 ${p50[$s,$name]} ms, p99 ${p99[$s,$name]} ms" >&2
  done
  server_stop "$s"
done

num_ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else ratio "$1" "$2"; fi; }
printf '\n%-20s | %10s %9s %9s | %10s %9s %9s | %7s %7s %7s\n' scenario "etcd ops/s" "p50 ms" \
  "p99 ms" "coord ops/s" "p50 ms" "p99 ms" "ops x" "p50 x" "p99 x"
for sc in "${scenarios[@]}"; do
  n=${sc%%|*}
  printf '%-20s | %10s %9s %9s | %10s %9s %9s | %7s %7s %7s\n' "$n" "${ops[etcd,$n]}" \
    "${p50[etcd,$n]}" "${p99[etcd,$n]}" "${ops[coord,$n]:--}" "${p50[coord,$n]:--}" \
    "${p99[coord,$n]:--}" "$(num_ratio "${ops[coord,$n]:--}" "${ops[etcd,$n]}")" \
    "$(num_ratio "${p50[coord,$n]:--}" "${p50[etcd,$n]}")" \
    "$(num_ratio "${p99[coord,$n]:--}" "${p99[etcd,$n]}")"
done
echo "(x = coord / etcd; coordctl bench drives both servers; SCALE=$SCALE)"
