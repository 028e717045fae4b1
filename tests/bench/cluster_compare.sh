#!/usr/bin/env bash
# A 3-member etcd 3.4 cluster beside a 3-member coord cluster, on loopback, one after the other:
# put and range throughput and latency through the same client (`coordctl bench`, which speaks
# the etcd v3 API), then each cluster's memory after KEYS keys.
#   tests/bench/cluster_compare.sh [COORD_BIN]
#   env: COORDCTL (default build/coordctl), RUNS (3), SCALE (1), MEMBERS (3), TARGET (leader |
#        follower), KEYS (100000), VALUE_SIZE (256), ETCD_BIN, KEEP_WORK
# Both clusters get the same flags (etcd's defaults: 100 ms heartbeat, 1 s election timeout) and
# the same durability: every acknowledged write is fsynced on a quorum (neither server is given
# --unsafe-no-fsync). Every run starts fresh clusters with fresh data dirs; runs alternate which
# server goes first, so a change in the machine's load does not always hit the same one. The
# requests go to one member (TARGET: the leader by default). Reports the median of RUNS runs
# with min-max, and coord/etcd ratios of the medians (ops/s: higher is better for coord;
# latency and memory: lower is better). Prints the load average before and after.
. "$(dirname "$0")/bench_lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

COORDCTL=${COORDCTL:-$REPO_DIR/build/coordctl}
RUNS=${RUNS:-3}
SCALE=${SCALE:-1}
MEMBERS=${MEMBERS:-3}
TARGET=${TARGET:-leader}
KEYS=${KEYS:-100000}
VALUE_SIZE=${VALUE_SIZE:-256}
if [ ! -x "$COORDCTL" ] || ! "$COORDCTL" bench put --help >/dev/null 2>&1; then
  echo "cluster_compare.sh needs coordctl with its bench command at $COORDCTL" >&2
  echo "(cmake --build build --target coordctl, or set COORDCTL=...); nothing measured" >&2
  exit 2
fi
case $TARGET in leader | follower) ;; *) fail "TARGET must be leader or follower" ;; esac

# name | coordctl arguments (after "bench"); totals are multiplied by SCALE.
scenarios=(
  "put, 1 client|put --clients 1 --conns 1 --total 2000 --key-size 8 --val-size 256 --key-space-size 100000"
  "put, 64 clients|put --clients 64 --conns 8 --total 30000 --key-size 8 --val-size 256 --key-space-size 100000"
  "range l, 64 clients|range bench-key --consistency l --clients 64 --conns 8 --total 60000"
  "range s, 64 clients|range bench-key --consistency s --clients 64 --conns 8 --total 60000"
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

target_member() { # SERVER: the member the requests go to
  local leader name
  leader=$(cb_wait_leader "$1")
  if [ "$TARGET" = leader ]; then
    echo "$leader"
    return
  fi
  for name in ${CB_MEMBERS[$1]}; do
    [ "$name" = "$leader" ] || { echo "$name"; return; }
  done
}

# Results per SERVER,SCENARIO,RUN (and SERVER,rss-*,RUN), in KiB for memory.
declare -A ops=() p50=() p99=() mem=()

measure_requests() { # SERVER RUN
  local s=$1 run=$2 t sc name
  cb_cluster_start "$s" "$MEMBERS"
  t=$(target_member "$s")
  assert_ctl_ok "$t" put bench-key "$(head -c 256 /dev/zero | tr '\0' v)"
  for sc in "${scenarios[@]}"; do
    name=${sc%%|*}
    # shellcheck disable=SC2046,SC2086  # scaled prints the argument list to split
    if ! "$COORDCTL" --endpoints="$(server_ep "$t")" bench $(scaled ${sc#*|}) >"$WORK/out" 2>&1; then
      echo "$s, $name: coordctl bench failed: $(tail -n 3 "$WORK/out")" >&2
    fi
    ops[$s,$name,$run]=$(bench_field "$WORK/out" "ops/s")
    p50[$s,$name,$run]=$(bench_field "$WORK/out" p50)
    p99[$s,$name,$run]=$(bench_field "$WORK/out" p99)
    echo "run $run, $s ($TARGET $t), $name: ops/s ${ops[$s,$name,$run]}," \
      "p50 ${p50[$s,$name,$run]} ms, p99 ${p99[$s,$name,$run]} ms" >&2
  done
  cb_cluster_stop "$s"
}

measure_memory() { # SERVER RUN: a fresh cluster, idle, then KEYS keys loaded through the leader
  local s=$1 run=$2 leader r name i=0
  cb_cluster_start "$s" "$MEMBERS"
  leader=$(cb_wait_leader "$s")
  read -ra r <<<"$(cb_rss_kib "$s")"
  mem[$s,idle,$run]=${r[0]}
  echo "run $run, $s: $(load_keys "$leader" rss/ "$KEYS" "$VALUE_SIZE")" >&2
  cb_wait_caught_up "$s"
  read -ra r <<<"$(cb_rss_kib "$s")"
  mem[$s,loaded,$run]=${r[0]}
  # Per member, the leader as "leader" and the followers in member order.
  for name in ${CB_MEMBERS[$s]}; do
    i=$((i + 1))
    if [ "$name" = "$leader" ]; then
      mem[$s,leader,$run]=${r[$i]}
    elif [ -z "${mem[$s,follower1,$run]:-}" ]; then
      mem[$s,follower1,$run]=${r[$i]}
    else
      mem[$s,follower2,$run]=${r[$i]}
    fi
  done
  echo "run $run, $s: RSS idle $(mib "${mem[$s,idle,$run]}") MiB, with $KEYS keys" \
    "$(mib "${mem[$s,loaded,$run]}") MiB (members: ${r[*]:1} KiB, leader $leader)" >&2
  cb_cluster_stop "$s"
}

load_before=$(uptime)
echo "before: $load_before" >&2
for run in $(seq 1 "$RUNS"); do
  order=$(servers_to_measure)
  [ $((run % 2)) = 0 ] && order=$(servers_to_measure | tac)
  for s in $order; do
    measure_requests "$s" "$run"
    measure_memory "$s" "$run"
  done
done
load_after=$(uptime)
echo "after: $load_after" >&2

values() { # ARRAY SERVER KEY: the RUNS values of that cell
  local -n a=$1
  local run
  for run in $(seq 1 "$RUNS"); do echo "${a[$2,$3,$run]:--}"; done
}

# shellcheck disable=SC2046  # values prints one number per line, to split
med() { median_of $(values "$@"); }
# shellcheck disable=SC2046
spread() { median_spread $(values "$@"); }
mib_or_dash() { if [ "$1" = - ]; then echo -; else mib "$1"; fi; }
num_ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else ratio "$1" "$2"; fi; }

printf '\n%d-member clusters, requests to the %s, median of %d runs (SCALE=%s)\n' \
  "$MEMBERS" "$TARGET" "$RUNS" "$SCALE"
printf '%-24s | %10s %8s %8s | %11s %8s %8s | %6s %6s %6s\n' scenario "etcd ops/s" "p50 ms" \
  "p99 ms" "coord ops/s" "p50 ms" "p99 ms" "ops x" "p50 x" "p99 x"
for sc in "${scenarios[@]}"; do
  n=${sc%%|*}
  eo=$(med ops etcd "$n") e5=$(med p50 etcd "$n") e9=$(med p99 etcd "$n")
  co=$(med ops coord "$n") c5=$(med p50 coord "$n") c9=$(med p99 coord "$n")
  printf '%-24s | %10s %8s %8s | %11s %8s %8s | %6s %6s %6s\n' "$n" "$eo" "$e5" "$e9" "$co" \
    "$c5" "$c9" "$(num_ratio "$co" "$eo")" "$(num_ratio "$c5" "$e5")" "$(num_ratio "$c9" "$e9")"
done
for what in idle loaded leader follower1 follower2; do
  case $what in
    idle) label="RSS MiB, idle, sum" ;;
    loaded) label="RSS MiB, $((KEYS / 1000))k keys, sum" ;;
    *) label="  $what" ;;
  esac
  em=$(med mem etcd "$what") cm=$(med mem coord "$what")
  printf '%-24s | %10s %8s %8s | %11s %8s %8s | %6s\n' "$label" "$(mib_or_dash "$em")" "" "" \
    "$(mib_or_dash "$cm")" "" "" "$(num_ratio "$cm" "$em")"
done

if [ "$RUNS" -gt 1 ]; then
  printf '\nSpread: median (min-max) over %d runs\n' "$RUNS"
  for s in $(servers_to_measure); do
    for sc in "${scenarios[@]}"; do
      n=${sc%%|*}
      printf '%-6s %-20s ops/s %s; p50 %s ms; p99 %s ms\n' "$s" "$n" "$(spread ops "$s" "$n")" \
        "$(spread p50 "$s" "$n")" "$(spread p99 "$s" "$n")"
    done
    printf '%-6s %-20s KiB %s\n' "$s" "RSS loaded sum" "$(spread mem "$s" loaded)"
  done
fi
printf '\n(x = coord / etcd; coordctl bench drives both; %d keys of %d B for memory)\n' "$KEYS" \
  "$VALUE_SIZE"
printf 'before: %s\nafter:  %s\n' "$load_before" "$load_after"
