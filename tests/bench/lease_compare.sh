#!/usr/bin/env bash
# Lease figures, etcd beside coord, each on a fresh server per figure:
#   1. keep-alive: LEASES (100,000) leases granted, then kept alive over STREAMS (100) streams
#      for KA_SECONDS (30), each renewed every TTL/3 (TTL 60 s: 5,000 renewals/s): grant rate,
#      renewal latency p50/p99/max, server RSS after the grants and after the run, server CPU
#      during the keep-alive phase;
#   2. lock: CONTENDERS (10) clients take and release one lock (the Lock service) for
#      LOCK_SECONDS (10): cycles/s and Lock latency;
#   3. expiry: EXPIRY_LEASES (20) keepers renew a EXPIRY_TTL (5 s) lease once and die at the same
#      moment: time from that renewal to the deletion of each one's key (min, median, max).
#   tests/bench/lease_compare.sh [COORD_BIN]   (env as above, ETCD_BIN, BENCH_LEASE, ONLY)
# ONLY=keepalive,lock,expiry picks figures. bench_lease is tests/bench/lease_bench.c.
. "$(dirname "$0")/bench_lib.sh"

LEASES=${LEASES:-100000}
STREAMS=${STREAMS:-100}
TTL=${TTL:-60}
KA_SECONDS=${KA_SECONDS:-30}
CONTENDERS=${CONTENDERS:-10}
LOCK_SECONDS=${LOCK_SECONDS:-10}
EXPIRY_TTL=${EXPIRY_TTL:-5}
EXPIRY_LEASES=${EXPIRY_LEASES:-20}
ONLY=${ONLY:-keepalive,lock,expiry}
BENCH_LEASE=${BENCH_LEASE:-$(dirname "${COORD_BIN:-$REPO_DIR/build/coord}")/bench_lease}
[ -x "$BENCH_LEASE" ] || fail "bench_lease not found at $BENCH_LEASE (build the bench_lease target)"

declare -A R=()
fresh() { # SERVER FIGURE: start it as SERVER_FIGURE; sets SRV
  local bin=$ETCD_BIN
  [ "$1" = coord ] && bin=$COORD_BIN
  SRV="$1_$2"
  server_start_bin "$bin" "$SRV"
}
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

measure() { # SERVER FIGURE BENCH_ARGS...: run bench_lease, keep its "name value" lines as R[server.name]
  local s=$1 fig=$2 name value
  shift 2
  "$BENCH_LEASE" "$@" >"$WORK/$s.$fig.out" 2>"$WORK/$s.$fig.err" || {
    cat "$WORK/$s.$fig.err" >&2
    fail "$s: bench_lease $* failed"
  }
  while read -r name value; do R[$s.$name]=$value; done <"$WORK/$s.$fig.out"
}

for s in $(servers_to_measure); do
  if wanted keepalive; then
    fresh "$s" keepalive
    R[$s.rss_idle_kib]=$(proc_kib "$(server_pid "$SRV")" VmRSS)
    measure "$s" keepalive keepalive "$(server_ep "$SRV")" --leases "$LEASES" --streams "$STREAMS" \
      --ttl "$TTL" --seconds "$KA_SECONDS" --pid "$(server_pid "$SRV")"
    server_stop "$SRV"
    echo "$s: keep-alive done" >&2
  fi
  if wanted lock; then
    fresh "$s" lock
    measure "$s" lock lock "$(server_ep "$SRV")" --contenders "$CONTENDERS" --seconds "$LOCK_SECONDS"
    server_stop "$SRV"
    echo "$s: lock done" >&2
  fi
  if wanted expiry; then
    fresh "$s" expiry
    measure "$s" expiry expiry "$(server_ep "$SRV")" --ttl "$EXPIRY_TTL" --leases "$EXPIRY_LEASES"
    server_stop "$SRV"
    echo "$s: expiry done" >&2
  fi
done

v() { echo "${R[$1]:--}"; }
row() { # LABEL KEY [mib]: one line, etcd | coord | coord/etcd
  local e c
  e=$(v "etcd.$2")
  c=$(v "coord.$2")
  if [ "${3:-}" = mib ]; then
    [ "$e" = - ] || e=$(mib "$e")
    [ "$c" = - ] || c=$(mib "$c")
  fi
  printf '%-34s %12s %12s %10s\n' "$1" "$e" "$c" "$(ratio "$c" "$e")"
}
echo
printf '%-34s %12s %12s %10s\n' "" etcd coord coord/etcd
if wanted keepalive; then
  echo "$LEASES leases, $STREAMS keep-alive streams, TTL $TTL s (renewed every $((TTL / 3)) s), $KA_SECONDS s"
  row "grants/s" grants_per_s
  row "RSS idle (MiB)" rss_idle_kib mib
  row "RSS after the grants (MiB)" rss_after_grants_kib mib
  row "RSS after keep-alives (MiB)" rss_kib mib
  row "server CPU during keep-alives (%)" cpu_percent
  row "keep-alives/s" keepalives_per_s
  row "keep-alive p50 (us)" keepalive_p50_us
  row "keep-alive p99 (us)" keepalive_p99_us
  row "keep-alive max (us)" keepalive_max_us
  row "renewals that found no lease" keepalive_lease_gone
fi
if wanted lock; then
  echo "$CONTENDERS contenders on one lock (Lock/Unlock), $LOCK_SECONDS s"
  row "lock cycles/s" lock_cycles_per_s
  row "Lock p50 (us)" lock_p50_us
  row "Lock p99 (us)" lock_p99_us
fi
if wanted expiry; then
  echo "$EXPIRY_LEASES keepers die at once, TTL $EXPIRY_TTL s: renewal to deletion"
  row "min (ms)" expiry_min_ms
  row "median (ms)" expiry_median_ms
  row "max (ms)" expiry_max_ms
fi
