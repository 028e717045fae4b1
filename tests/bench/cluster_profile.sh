#!/usr/bin/env bash
# Where a 3-member cluster's write time goes: drives the leader with `coordctl bench put` and,
# while the load runs, measures the members from outside:
#   - the write rate (the leader's revision before and after the window),
#   - fdatasync/fsync calls per second and their latency on each member (perf trace -s),
#     hence writes per synced write on the leader (coord syncs once per Raft ready),
#   - CPU of each member, of the client and of the whole machine (/proc), and per thread of the
#     leader: time on a CPU and time runnable but waiting for one (/proc/.../schedstat),
#   - a CPU profile of the leader (perf record, software clock): by thread role and, for coord,
#     what the node thread's ready handling and the apply step spend their time on.
#   tests/bench/cluster_profile.sh [COORD_BIN]
#   env: SERVER (coord | etcd), CLIENTS (64), CONNS (8), VAL_SIZE (256), WINDOW_S (5),
#        COORDCTL (build/coordctl), PERF (1; 0 skips perf record), PROFILE (leader | follower:
#        whose threads and CPU profile are shown), ETCD_BIN, KEEP_WORK
# Needs perf (linux-perf) and the rights to trace the members (root, or perf_event_paranoid
# <= 1). The windows are fixed-length samples of a steady load, not waits for a condition.
# strace would do for the syscall counts too, but slows the traced member several-fold.
. "$(dirname "$0")/bench_lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

SERVER=${SERVER:-coord}
CLIENTS=${CLIENTS:-64}
CONNS=${CONNS:-8}
VAL_SIZE=${VAL_SIZE:-256}
WINDOW_S=${WINDOW_S:-5}
PERF=${PERF:-1}
PROFILE=${PROFILE:-leader}
COORDCTL=${COORDCTL:-$REPO_DIR/build/coordctl}
command -v perf >/dev/null || fail "needs perf (apt-get install linux-perf)"
[ -x "$COORDCTL" ] || fail "needs coordctl at $COORDCTL (or COORDCTL=...)"
[ "$SERVER" = etcd ] || [ -n "$COORD_BIN" ] || fail "no coord binary to profile"

thread_sched() { # PID: "TID RUN_NS WAIT_NS" per thread (on a CPU; runnable, waiting for one)
  local t
  for t in /proc/"$1"/task/*; do
    read -r run wait _ <"$t/schedstat" 2>/dev/null && echo "${t##*/} $run $wait"
  done
}

proc_ticks() { # PID: utime+stime of the whole process (clock ticks)
  awk '{ sub(/^[^)]*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

ctx_switches() { # PID: context switches of all its threads so far (voluntary + involuntary)
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

machine_ticks() { # busy idle iowait total, over all CPUs (clock ticks)
  awk '/^cpu / { print $2 + $3 + $4, $5, $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat
}

revision_of() { cb_revision "$1" || echo 0; }

cb_cluster_start "$SERVER" 3
leader=$(cb_wait_leader "$SERVER")
profiled=$leader
if [ "$PROFILE" = follower ]; then
  for name in ${CB_MEMBERS[$SERVER]}; do [ "$name" = "$leader" ] || profiled=$name; done
fi
ppid_=$(server_pid "$profiled")
echo "$SERVER cluster: leader $leader, profiling $profiled (PID $ppid_); $(uptime)" >&2

# Enough requests for warm-up and both windows at ~10,000/s; the bench is ended afterwards.
total=$(((WINDOW_S * 2 + 10) * 10000))
"$COORDCTL" --endpoints="$(server_ep "$leader")" bench put --clients "$CLIENTS" --conns "$CONNS" \
  --total "$total" --key-size 8 --val-size "$VAL_SIZE" --key-space-size 100000 >"$WORK/bench.out" 2>&1 &
bench_pid=$!
OUR_PIDS+=("$bench_pid")
load_started() { [ "$(revision_of "$leader")" -gt 2000 ]; }
wait_until 30 "the load to start" load_started

# Window 1: syscalls and CPU, no sampling profiler running.
declare -A pt0=() pt1=() cs0=() cs1=()
r0=$(revision_of "$leader")
read -ra m0 <<<"$(machine_ticks)"
thread_sched "$ppid_" >"$WORK/sched0"
for name in ${CB_MEMBERS[$SERVER]}; do
  pt0[$name]=$(proc_ticks "$(server_pid "$name")")
  cs0[$name]=$(ctx_switches "$(server_pid "$name")")
done
pt0[client]=$(proc_ticks "$bench_pid")
cs0[client]=$(ctx_switches "$bench_pid")
tracers=()
for name in ${CB_MEMBERS[$SERVER]}; do
  perf trace -s -e fdatasync,fsync -p "$(server_pid "$name")" -o "$WORK/trace.$name" -- \
    sleep "$WINDOW_S" >/dev/null 2>&1 &
  tracers+=("$!")
  OUR_PIDS+=("$!")
done
wait "${tracers[@]}"
r1=$(revision_of "$leader")
read -ra m1 <<<"$(machine_ticks)"
thread_sched "$ppid_" >"$WORK/sched1"
for name in ${CB_MEMBERS[$SERVER]}; do
  pt1[$name]=$(proc_ticks "$(server_pid "$name")")
  cs1[$name]=$(ctx_switches "$(server_pid "$name")")
done
pt1[client]=$(proc_ticks "$bench_pid")
cs1[client]=$(ctx_switches "$bench_pid")
hz=$(getconf CLK_TCK)
writes=$((r1 - r0))

echo
echo "== $SERVER, put $CLIENTS clients / $CONNS conns, $VAL_SIZE B values, ${WINDOW_S} s window"
echo "writes/s (leader revision): $((writes / WINDOW_S))"
awk -v u0="${m0[0]}" -v i0="${m0[1]}" -v io0="${m0[2]}" -v t0="${m0[3]}" \
  -v u1="${m1[0]}" -v i1="${m1[1]}" -v io1="${m1[2]}" -v t1="${m1[3]}" 'BEGIN {
    t = t1 - t0; printf "machine (all CPUs): busy %.0f%%, idle %.0f%%, iowait %.0f%%\n",
      100 * (u1 - u0) / t, 100 * (i1 - i0) / t, 100 * (io1 - io0) / t }'
for name in ${CB_MEMBERS[$SERVER]} client; do
  awk -v n="$name" -v d="$((pt1[$name] - pt0[$name]))" -v hz="$hz" -v w="$WINDOW_S" \
    -v r="$writes" -v cs="$((cs1[$name] - cs0[$name]))" 'BEGIN {
      printf "CPU %-8s %4.0f%% of a core, %4.0f us per write, %4.1f context switches per write\n",
        n, 100 * d / hz / w, (r > 0 ? 1e6 * d / hz / r : 0), (r > 0 ? cs / r : 0) }'
done
for name in ${CB_MEMBERS[$SERVER]}; do
  role=follower
  [ "$name" = "$leader" ] && role=leader
  # perf trace -s: "fdatasync  CALLS  ERRORS  TOTAL  MIN  AVG  MAX  STDDEV" (msec), per thread.
  awk -v n="$name" -v role="$role" -v w="$WINDOW_S" '
    $1 == "fdatasync" || $1 == "fsync" { c[$1] += $2; tot[$1] += $4; if ($7 > mx[$1]) mx[$1] = $7 }
    END {
      printf "%s (%s): fdatasync %.0f/s (avg %.3f ms, max %.1f ms), fsync %.0f/s\n", n, role,
        c["fdatasync"] / w, (c["fdatasync"] ? tot["fdatasync"] / c["fdatasync"] : 0),
        mx["fdatasync"], c["fsync"] / w }' "$WORK/trace.$name"
done
lsyncs=$(awk '$1 == "fdatasync" || $1 == "fsync" { c += $2 } END { print c + 0 }' "$WORK/trace.$leader")
awk -v r="$writes" -v s="$lsyncs" 'BEGIN { if (s > 0) printf "writes per leader sync: %.1f\n", r / s }'
echo "$profiled ($PROFILE) threads (% of the window on a CPU / runnable but waiting for a CPU; >= 1%):"
join <(sort "$WORK/sched0") <(sort "$WORK/sched1") | awk -v w="$WINDOW_S" '
  { run = ($4 - $2) / w / 1e7; wait = ($5 - $3) / w / 1e7; tr += run; tw += wait
    if (run >= 1 || wait >= 1) printf "%6.0f%% %6.0f%%  tid %s\n", run, wait, $1 }
  END { printf "%6.0f%% %6.0f%%  all threads\n", tr, tw }' | sort -rn | head -16

# A folded view of `perf script`: the share of samples by thread role, and the callees of a few
# frames (leaf-first stacks; a frame's share counts every sample with it on the stack).
fold_profile() { # FRAME...
  python3 -c '
import collections, re, sys
frames = sys.argv[1:]
stacks, tids, cur, tid = [], [], None, ""
for line in sys.stdin:
    if not line.strip():
        if cur is not None: stacks.append(cur); tids.append(tid)
        cur = None
    elif not line.startswith("\t"):  # "TID" (space-padded); frames are tab-indented
        cur, tid = [], line.split()[0]
    elif cur is not None:
        parts = line.split(None, 1)
        if len(parts) == 2: cur.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1].strip()))
if cur is not None: stacks.append(cur); tids.append(tid)
n = len(stacks) or 1
roles = {"node_main": "node thread (raft loop + apply)", "cq_thread": "gRPC completion-queue threads",
         "notifier_main": "watch hub notifier", "reader_main": "linearizable read runners",
         "sender_main": "peer senders", "expiry_main": "lease expiry"}
by_role, tid_roles = collections.Counter(), collections.defaultdict(collections.Counter)
for st, t in zip(stacks, tids):
    r = next((roles[f] for f in st if f in roles), None)
    if r is None: r = "rocksdb background" if any("rocksdb::" in f and "Background" in f for f in st) else "other"
    by_role[r] += 1
    tid_roles[t][r] += 1
print("samples: %d; by thread role:" % len(stacks))
for r, c in by_role.most_common(): print("  %5.1f%%  %s" % (100.0 * c / n, r))
print("threads: " + ", ".join("%s %s" % (t, c.most_common(1)[0][0].split(" (")[0])
                              for t, c in sorted(tid_roles.items(), key=lambda x: -sum(x[1].values()))[:12]))
for fr in frames:
    sub, tot = collections.Counter(), 0
    for st in stacks:
        if fr in st:
            i = st.index(fr); tot += 1
            sub[st[i - 1] if i > 0 else "(self)"] += 1
    if not tot: continue
    print("%s: %.1f%% of samples; its callees:" % (fr, 100.0 * tot / n))
    for k, c in sub.most_common(10): print("  %5.1f%%  %s" % (100.0 * c / n, k[:100]))
' "$@"
}

# Window 2: where the profiled member's CPU goes.
if [ "$PERF" = 1 ]; then
  perf record -q -F 999 -e cpu-clock --call-graph dwarf,16384 -p "$ppid_" -o "$WORK/perf.data" \
    -- sleep "$WINDOW_S" >/dev/null 2>&1 || fail "perf record failed"
  echo
  echo "$profiled ($PROFILE) profile, self time by symbol (top 20):"
  perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]' | head -20 | cut -c1-150
  echo
  perf script -i "$WORK/perf.data" -F tid,ip,sym 2>/dev/null >"$WORK/perf.script"
  fold_profile handle_ready apply_kv kv_exec_put mvcc_txn_put mvcc_txn_commit wait_trigger \
    hub_round cq_thread <"$WORK/perf.script"
  [ -n "${KEEP_WORK:-}" ] && echo "perf data: $WORK/perf.data"
fi

kill -TERM "$bench_pid" 2>/dev/null
wait "$bench_pid" 2>/dev/null
cb_cluster_stop "$SERVER"
uptime >&2
