#!/usr/bin/env bash
# Watch figures, etcd beside coord, each on a fresh server per figure:
#   1. fan-out: WATCHERS (10,000) watchers on distinct keys over STREAMS (100) streams, RATE
#      (1,000) puts/s for SECONDS (10): server RSS per watcher, delay from put acknowledgement
#      (and from sending) to event, p50/p99;
#   2. a stalled client (a watch on every key that never reads) beside LIVE (1,000) watchers at
#      RATE puts/s of STALL_VALUE (1 KiB) values: the live watchers' delay, against the same
#      run without the stalled client, and the server's peak RSS;
#   3. one prefix watcher while WRITERS (32) clients put EVENTS (100,000) keys under it as fast
#      as they can: events/s delivered (bounded by the server's write rate, also shown); then
#      the same written as transactions of TXN_SIZE (100) puts, where the watch path, not the
#      write path, sets the pace;
#   4. catch-up: CATCHUP_REVISIONS (1,000,000) revisions written, then a watch from revision 1
#      until it has them all: seconds.
#   tests/bench/watch_compare.sh [COORD_BIN]   (env as above, ETCD_BIN, BENCH_WATCH, ONLY)
# ONLY=fanout,stall,prefix,catchup picks figures. bench_watch is tests/bench/watch_bench.c.
. "$(dirname "$0")/bench_lib.sh"

WATCHERS=${WATCHERS:-10000}
STREAMS=${STREAMS:-100}
RATE=${RATE:-1000}
SECONDS_LOAD=${SECONDS_LOAD:-10}
LIVE=${LIVE:-1000}
STALL_VALUE=${STALL_VALUE:-1024}
EVENTS=${EVENTS:-100000}
WRITERS=${WRITERS:-32}
CATCHUP_REVISIONS=${CATCHUP_REVISIONS:-1000000}
TXN_SIZE=${TXN_SIZE:-100}
ONLY=${ONLY:-fanout,stall,prefix,catchup}
BENCH_WATCH=${BENCH_WATCH:-$(dirname "$COORD_BIN")/bench_watch}
[ -x "$BENCH_WATCH" ] || fail "bench_watch not found at $BENCH_WATCH (build the bench_watch target)"

declare -A R=()
# Every figure gets a fresh server (own name, own data dir).
fresh() { # SERVER FIGURE: start it as SERVER_FIGURE; prints nothing, sets SRV
  local bin=$ETCD_BIN
  [ "$1" = coord ] && bin=$COORD_BIN
  SRV="$1_$2"
  server_start_bin "$bin" "$SRV"
}
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

measure() { # SERVER FIGURE BENCH_ARGS...: run bench_watch, keep its "name value" lines as R[server.figure.name]
  local s=$1 fig=$2 name value
  shift 2
  "$BENCH_WATCH" "$@" >"$WORK/$s.$fig.out" 2>"$WORK/$s.$fig.err" || {
    cat "$WORK/$s.$fig.err" >&2
    fail "$s: bench_watch $* failed"
  }
  while read -r name value; do R[$s.$fig.$name]=$value; done <"$WORK/$s.$fig.out"
}

for s in $(servers_to_measure); do
  if wanted fanout; then
    fresh "$s" fanout
    measure "$s" fanout fanout "$(server_ep "$SRV")" --watchers "$WATCHERS" --streams "$STREAMS" \
      --rate "$RATE" --seconds "$SECONDS_LOAD" --pid "$(server_pid "$SRV")"
    server_stop "$SRV"
    echo "$s: fan-out done" >&2
  fi
  if wanted stall; then
    streams=$((LIVE / 100 > 0 ? LIVE / 100 : 1))
    fresh "$s" live
    start_rss_sampler "$(server_pid "$SRV")" "$WORK/$s.live.rss"
    measure "$s" live fanout "$(server_ep "$SRV")" --watchers "$LIVE" --streams "$streams" \
      --rate "$RATE" --seconds "$SECONDS_LOAD" --value-size "$STALL_VALUE" --pid "$(server_pid "$SRV")"
    read -r peak _ < <(stop_rss_sampler "$WORK/$s.live.rss")
    R[$s.live.peak_rss_kib]=$peak
    server_stop "$SRV"
    fresh "$s" stalled
    pid=$(server_pid "$SRV")
    "$BENCH_WATCH" stall "$(server_ep "$SRV")" --prefix wb/ >"$WORK/$s.stall.client" 2>&1 &
    STALLER=$!
    OUR_PIDS+=("$STALLER")
    wait_until 20 "the stalled client's watch" grep -q stalled "$WORK/$s.stall.client"
    start_rss_sampler "$pid" "$WORK/$s.rss"
    measure "$s" stalled fanout "$(server_ep "$SRV")" --watchers "$LIVE" --streams "$streams" \
      --rate "$RATE" --seconds "$SECONDS_LOAD" --value-size "$STALL_VALUE" --pid "$pid"
    read -r peak _ < <(stop_rss_sampler "$WORK/$s.rss")
    R[$s.stalled.peak_rss_kib]=$peak
    kill -KILL "$STALLER" 2>/dev/null
    wait "$STALLER" 2>/dev/null
    server_stop "$SRV"
    echo "$s: stalled client done" >&2
  fi
  if wanted prefix; then
    fresh "$s" prefix
    measure "$s" prefix prefix "$(server_ep "$SRV")" --events "$EVENTS" --writers "$WRITERS"
    server_stop "$SRV"
    fresh "$s" prefixtxn
    measure "$s" prefixtxn prefix "$(server_ep "$SRV")" --events "$EVENTS" --writers 8 \
      --txn-size "$TXN_SIZE"
    server_stop "$SRV"
    echo "$s: prefix watcher done" >&2
  fi
  if wanted catchup; then
    fresh "$s" catchup
    measure "$s" catchup catchup "$(server_ep "$SRV")" --revisions "$CATCHUP_REVISIONS" \
      --writers $((WRITERS * 2))
    server_stop "$SRV"
    echo "$s: catch-up done" >&2
  fi
done

v() { echo "${R[$1]:--}"; }
echo
if wanted fanout; then
  printf 'Fan-out: %d watchers on distinct keys over %d streams, %d puts/s for %d s\n' \
    "$WATCHERS" "$STREAMS" "$RATE" "$SECONDS_LOAD"
  printf '%-6s %9s %9s %8s %8s %8s %8s %8s %8s %8s\n' server "RSS0 MiB" "RSS MiB" "B/watch" \
    "ack p50" "ack p99" "send p50" "send p99" missing dups
  for s in $(servers_to_measure); do
    printf '%-6s %9s %9s %8s %8s %8s %8s %8s %8s %8s\n' "$s" "$(mib "$(v "$s.fanout.rss_before_kib")")" \
      "$(mib "$(v "$s.fanout.rss_watchers_kib")")" "$(v "$s.fanout.rss_per_watcher_bytes")" \
      "$(v "$s.fanout.from_ack_p50_ms")" "$(v "$s.fanout.from_ack_p99_ms")" \
      "$(v "$s.fanout.from_send_p50_ms")" "$(v "$s.fanout.from_send_p99_ms")" \
      "$(v "$s.fanout.missing")" "$(v "$s.fanout.duplicates")"
  done
  echo "(delays in ms; 'ack': from the put's answer to the event, 0 when the event came first)"
  echo
fi
if wanted stall; then
  printf 'A stalled client beside %d live watchers, %d puts/s of %d B for %d s\n' "$LIVE" "$RATE" \
    "$STALL_VALUE" "$SECONDS_LOAD"
  printf '%-6s %-8s %8s %8s %8s %8s %8s %12s\n' server stalled "ack p50" "ack p99" "send p50" \
    "send p99" missing "peak RSS MiB"
  for s in $(servers_to_measure); do
    for run in live stalled; do
      peak=$(v "$s.$run.peak_rss_kib")
      [ "$peak" = - ] || peak=$(mib "$peak")
      printf '%-6s %-8s %8s %8s %8s %8s %8s %12s\n' "$s" "$([ $run = stalled ] && echo yes || echo no)" \
        "$(v "$s.$run.from_ack_p50_ms")" "$(v "$s.$run.from_ack_p99_ms")" \
        "$(v "$s.$run.from_send_p50_ms")" "$(v "$s.$run.from_send_p99_ms")" \
        "$(v "$s.$run.missing")" "$peak"
    done
  done
  echo
fi
if wanted prefix; then
  printf 'One prefix watcher, %d events written as fast as they can be\n' "$EVENTS"
  printf '%-6s %-22s %12s %12s %14s\n' server writes "events/s" "seconds" "write seconds"
  for s in $(servers_to_measure); do
    printf '%-6s %-22s %12s %12s %14s\n' "$s" "$WRITERS clients, 1 put" "$(v "$s.prefix.events_per_s")" \
      "$(v "$s.prefix.seconds")" "$(v "$s.prefix.write_seconds")"
    printf '%-6s %-22s %12s %12s %14s\n' "$s" "8 clients, $TXN_SIZE-put txns" \
      "$(v "$s.prefixtxn.events_per_s")" "$(v "$s.prefixtxn.seconds")" "$(v "$s.prefixtxn.write_seconds")"
  done
  echo
fi
if wanted catchup; then
  printf 'Catch-up of a watch from revision 1 over %d revisions\n' "$CATCHUP_REVISIONS"
  printf '%-6s %10s %12s %14s\n' server seconds "events/s" "load seconds"
  for s in $(servers_to_measure); do
    printf '%-6s %10s %12s %14s\n' "$s" "$(v "$s.catchup.catchup_seconds")" \
      "$(v "$s.catchup.catchup_events_per_s")" "$(v "$s.catchup.load_seconds")"
  done
fi
