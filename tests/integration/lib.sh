# lib.sh: shared harness for the integration scenarios; source it, never run it.
#
# A scenario script is run as `SCRIPT SERVER_BIN` (or with COORD_BIN set) where SERVER_BIN is any
# binary that takes etcd 3.4's flags: build/coord, or /usr/bin/etcd to check the scenario itself.
# The harness starts servers on free 127.0.0.1 ports with data in a private temp dir, drives them
# with Debian's etcdctl (API v3), and on exit kills exactly the processes it started and removes
# the temp dir. Nothing waits by sleeping for a fixed time: every wait polls a condition until a
# deadline.
#
# Exit codes: 0 pass, 1 fail (with "FAIL: ..." and the end of the server log on stderr),
# 77 skipped (ctest's SKIP_RETURN_CODE), for example a coord-only rule run against etcd.

set -u
set -o pipefail

SERVER_BIN=${1:-${COORD_BIN:-}}
TEST_NAME=$(basename "$0" .sh)
if [ -z "$SERVER_BIN" ]; then
  echo "usage: $0 SERVER_BIN   (or COORD_BIN=... $0): a binary with etcd's flags" >&2
  exit 2
fi
if [ ! -x "$SERVER_BIN" ]; then
  echo "FAIL: $TEST_NAME: server binary '$SERVER_BIN' is not executable" >&2
  exit 1
fi
SERVER_BIN=$(readlink -f "$SERVER_BIN")
ETCDCTL=${ETCDCTL:-$(command -v etcdctl || true)}
if [ -z "$ETCDCTL" ]; then
  echo "FAIL: $TEST_NAME: etcdctl not found (apt-get install etcd-client)" >&2
  exit 1
fi
export ETCDCTL_API=3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coord-it.XXXXXX")
# Every process this harness started, by PID; cleanup ends these and no others.
declare -a OUR_PIDS=()
# Per server NAME: its binary, PID, client endpoint, and the argument list it was started with.
declare -A SRV_BIN=() SRV_PID=() SRV_EP=() SRV_ARGS=()

# Poll helpers' granularity; every wait has its own deadline on top of this.
POLL_S=0.05

is_etcd() { # true when the server under test is etcd itself
  # No pipe: under pipefail, `| head -1` could end etcd with SIGPIPE and make this false.
  case "$("$SERVER_BIN" --version 2>/dev/null)" in "etcd Version"*) return 0 ;; esac
  return 1
}

coord_only() { # skip the scenario when run against etcd (the rule is coord's, not etcd's)
  if is_etcd; then
    echo "SKIP: $TEST_NAME: coord-only rule, server under test is etcd"
    exit 77
  fi
}

_pid_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

_end_pid() { # PID: SIGTERM, wait up to 5 s, then SIGKILL; reaps it if it is our child
  local pid=$1 deadline
  _pid_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  deadline=$((SECONDS + 5))
  while _pid_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep "$POLL_S"; done
  _pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local pid
  for pid in "${OUR_PIDS[@]}"; do _end_pid "$pid"; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # prints a TCP port on 127.0.0.1 that nobody listens on right now
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Set to 0 where the failure message says all there is (a diff), to leave out the server logs.
FAIL_SHOW_LOGS=1

fail() { # MESSAGE...: report the failure with every server's log tail and exit 1
  local name
  echo "FAIL: $TEST_NAME: $*" >&2
  [ "$FAIL_SHOW_LOGS" = 1 ] || exit 1
  for name in "${!SRV_PID[@]}"; do
    if [ -s "$WORK/$name.log" ]; then
      echo "--- last lines of server '$name' log (${SRV_BIN[$name]}) ---" >&2
      tail -n 15 "$WORK/$name.log" >&2
    fi
  done
  exit 1
}

note() { echo "  $TEST_NAME: $*"; }

pass() { echo "PASS: $TEST_NAME${1:+: $1}"; exit 0; }

server_start() { # NAME [EXTRA_FLAG...]: start a one-member server on fresh ports, data in $WORK/NAME.data
  server_start_bin "$SERVER_BIN" "$@"
}

server_start_bin() { # BIN NAME [EXTRA_FLAG...]: as server_start, with another server binary
  local name=$2 c p
  SRV_BIN[$name]=$(readlink -f "$1")
  shift 2
  c=$(free_port)
  p=$(free_port)
  while [ "$p" = "$c" ]; do p=$(free_port); done
  SRV_EP[$name]="127.0.0.1:$c"
  SRV_ARGS[$name]="--name $name --data-dir $WORK/$name.data \
--listen-client-urls http://127.0.0.1:$c --advertise-client-urls http://127.0.0.1:$c \
--listen-peer-urls http://127.0.0.1:$p --initial-advertise-peer-urls http://127.0.0.1:$p \
--initial-cluster $name=http://127.0.0.1:$p --initial-cluster-state new \
--initial-cluster-token it-$name $*"
  server_spawn "$name"
}

server_spawn() { # NAME: (re)start NAME with the arguments it was first started with
  local name=$1
  # shellcheck disable=SC2086  # the stored argument list is split on purpose
  setsid "${SRV_BIN[$name]}" ${SRV_ARGS[$name]} >>"$WORK/$name.log" 2>&1 &
  SRV_PID[$name]=$!
  OUR_PIDS+=("$!")
  server_wait_ready "$name" 30
}

server_wait_ready() { # NAME DEADLINE_S: poll a linearizable get until it answers
  local name=$1 deadline=$((SECONDS + $2)) pid=${SRV_PID[$1]}
  while [ $SECONDS -lt $deadline ]; do
    _pid_alive "$pid" || fail "server '$name' exited before it was ready (args: ${SRV_ARGS[$name]})"
    if "$ETCDCTL" --endpoints="${SRV_EP[$name]}" --dial-timeout=1s --command-timeout=1s \
         get __ready_probe__ >/dev/null 2>&1; then
      # setsid must have exec'd the server in place, so the PID we hold is the server's.
      [ "$(readlink -f "/proc/$pid/exe")" = "${SRV_BIN[$name]}" ] \
        || fail "PID $pid is not ${SRV_BIN[$name]} (setsid forked?)"
      return 0
    fi
    sleep "$POLL_S"
  done
  fail "server '$name' not ready within $2 s at ${SRV_EP[$name]}"
}

server_kill9() { # NAME: SIGKILL the server and wait until it is gone
  local name=$1 pid=${SRV_PID[$1]}
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  _pid_alive "$pid" && fail "server '$name' (PID $pid) survived SIGKILL"
  return 0
}

server_stop() { # NAME: SIGTERM, then SIGKILL after 5 s
  _end_pid "${SRV_PID[$1]}"
}

server_restart() { # NAME: start again on the same ports and data dir
  server_spawn "$1"
}

server_alive() { _pid_alive "${SRV_PID[$1]}"; }

server_pid() { echo "${SRV_PID[$1]}"; }

server_ep() { echo "${SRV_EP[$1]}"; }

server_log() { echo "$WORK/$1.log"; }

ctl() { # NAME ETCDCTL_ARGS...: etcdctl against server NAME; output and exit code are etcdctl's
  local name=$1
  shift
  timeout 20 "$ETCDCTL" --endpoints="${SRV_EP[$name]}" --dial-timeout=2s --command-timeout=5s "$@"
}

# CTL_OUT / CTL_RC hold the combined output and exit code of the last `run_ctl`.
CTL_OUT=""
CTL_RC=0
run_ctl() { # NAME ETCDCTL_ARGS...: run etcdctl, capture stdout+stderr (warn lines dropped) and exit code
  ctl "$@" >"$WORK/ctl.out" 2>&1
  CTL_RC=$?
  CTL_OUT=$(grep -v '"level":"warn"' "$WORK/ctl.out")
  return 0
}

# --- assertions: each names what was expected and what came instead ---

assert_eq() { # EXPECTED ACTUAL WHAT
  [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_contains() { # HAYSTACK NEEDLE WHAT
  case "$1" in *"$2"*) return 0 ;; esac
  fail "$3: expected output containing '$2', got: $(printf '%s' "$1" | head -c 600)"
}

assert_not_contains() { # HAYSTACK NEEDLE WHAT
  case "$1" in *"$2"*) fail "$3: output should not contain '$2', got: $(printf '%s' "$1" | head -c 600)" ;; esac
  return 0
}

assert_ctl_ok() { # NAME ETCDCTL_ARGS...: etcdctl must exit 0
  run_ctl "$@"
  [ "$CTL_RC" -eq 0 ] || fail "etcdctl ${*:2} exited $CTL_RC: $CTL_OUT"
}

assert_ctl_fails_with() { # NAME MESSAGE ETCDCTL_ARGS...: etcdctl must exit non-zero and print MESSAGE
  local name=$1 msg=$2
  shift 2
  run_ctl "$name" "$@"
  [ "$CTL_RC" -ne 0 ] || fail "etcdctl $* should have failed with '$msg' but exited 0: $CTL_OUT"
  assert_contains "$CTL_OUT" "$msg" "etcdctl $*"
}

assert_get_value() { # NAME KEY VALUE: the key holds exactly VALUE
  run_ctl "$1" get "$2" --print-value-only
  [ "$CTL_RC" -eq 0 ] || fail "get $2 exited $CTL_RC: $CTL_OUT"
  assert_eq "$3" "$CTL_OUT" "value of key '$2'"
}

assert_still_serving() { # NAME: the server is alive and a fresh put/get round-trips
  local name=$1 key="still-serving-$RANDOM$RANDOM"
  server_alive "$name" || fail "server '$name' died"
  assert_ctl_ok "$name" put "$key" ok
  assert_get_value "$name" "$key" ok
}

wait_until() { # DEADLINE_S WHAT COMMAND...: poll COMMAND until it succeeds
  local limit=$1 deadline=$((SECONDS + $1)) what=$2
  shift 2
  while ! "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${limit} s waiting for: $what"
    sleep "$POLL_S"
  done
}

# --- below etcdctl: raw bytes and hand-built gRPC calls (wire.py) ---

WIRE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/wire.py"
PY_GRPC=""

wire() { # wire.py ARGS... with any python3 (raw-socket commands)
  python3 "$WIRE" "$@"
}

need_grpc_python() { # find a python3 with grpcio (Debian python3-grpcio) or skip the scenario
  local py
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" "$WIRE" has-grpc 2>/dev/null; then
      PY_GRPC=$py
      return 0
    fi
  done
  echo "SKIP: $TEST_NAME: needs python3-grpcio (apt-get install python3-grpcio)"
  exit 77
}

wire_grpc() { # wire.py ARGS... with the python3 that has grpcio
  "$PY_GRPC" "$WIRE" "$@"
}

# REFUSE_OUT / REFUSE_RC: output and exit code of the last `expect_server_refuses`.
REFUSE_OUT=""
REFUSE_RC=0
expect_server_refuses() { # FLAG...: the server, given these flags, must exit non-zero within 10 s
  timeout -s KILL 10 "$SERVER_BIN" "$@" >"$WORK/refuse.out" 2>&1 </dev/null
  REFUSE_RC=$?
  REFUSE_OUT=$(cat "$WORK/refuse.out")
  [ "$REFUSE_RC" -ne 137 ] || fail "server given '$*' was still running after 10 s (expected a refusal)"
  [ "$REFUSE_RC" -ne 0 ] || fail "server given '$*' exited 0 (expected a non-zero exit); output: $REFUSE_OUT"
  [ -n "$REFUSE_OUT" ] || fail "server given '$*' exited $REFUSE_RC without saying why"
}

isolated_flags() { # NAME: prints flags for a one-member server NAME on free ports in $WORK
  local c p
  c=$(free_port)
  p=$(free_port)
  echo "--name $1 --data-dir $WORK/$1.data --listen-client-urls http://127.0.0.1:$c" \
    "--advertise-client-urls http://127.0.0.1:$c --listen-peer-urls http://127.0.0.1:$p" \
    "--initial-advertise-peer-urls http://127.0.0.1:$p --initial-cluster $1=http://127.0.0.1:$p"
}
