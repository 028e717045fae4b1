#!/usr/bin/env bash
# compare_with_etcdctl.sh SERVER_BIN COORDCTL TRANSCRIPT
#
# coordctl must answer like etcdctl. Two fresh one-member servers are started: a reference
# etcd driven by Debian's etcdctl, and SERVER_BIN (coord, or etcd itself) driven by COORDCTL.
# Each line of TRANSCRIPT is a shell command in which $CTL stands for the client with its
# --endpoints; it runs once per side, and stdout, stderr and the exit code must match after
# the differences that are not the client's are masked (the endpoint's port, durations, the
# database size, raft log indexes (etcd writes four entries of its own at bootstrap), the
# name of the program, etcdctl's own log lines). Both servers are started
# with the same name, token and advertised URLs, so their member and cluster ids agree.
# Lines starting with '#' and empty lines are skipped.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
COORDCTL=$(readlink -f "$2")
TRANSCRIPT=$3
# shellcheck source=../integration/lib.sh
source "$HERE/../integration/lib.sh" "$1"
ETCD_REF=${ETCD_REF:-$(command -v etcd || true)}
[ -n "$ETCD_REF" ] || { echo "SKIP: $TEST_NAME: no etcd binary for the reference"; exit 77; }
[ -x "$COORDCTL" ] || fail "coordctl '$2' is not executable"

start_twin() { # BIN NAME: a server whose ids and advertised URLs do not depend on its ports
  local name=$2 c p
  SRV_BIN[$name]=$(readlink -f "$1")
  c=$(free_port)
  p=$(free_port)
  while [ "$p" = "$c" ]; do p=$(free_port); done
  SRV_EP[$name]="127.0.0.1:$c"
  SRV_ARGS[$name]="--name cli --data-dir $WORK/$name.data \
--listen-client-urls http://127.0.0.1:$c --advertise-client-urls http://127.0.0.1:2379 \
--listen-peer-urls http://127.0.0.1:$p --initial-advertise-peer-urls http://localhost:2380 \
--initial-cluster cli=http://localhost:2380 --initial-cluster-state new \
--initial-cluster-token etcd-cluster"
  server_spawn "$name"
}

normalize() { # ENDPOINT < output: masks what legitimately differs between the two sides
  grep -v '^{"level":' |
    sed -e "s/$1/ENDPOINT/g" \
        -e 's/took = [^ ]*/took = T/' -e 's/"took":"[^"]*"/"took":"T"/g' \
        -e 's/"\(dbSize\|dbSizeInUse\)":[0-9]*/"\1":N/g' \
        -e 's/"DBSize" : [0-9]*/"DBSize" : N/' -e 's/"Took" : .*/"Took" : T/' \
        -e 's/"\(raftIndex\|raftAppliedIndex\)":[0-9]*/"\1":I/g' \
        -e 's/"\(RaftIndex\|RaftAppliedIndex\)" : [0-9]*/"\1" : I/' \
        -e 's/^\(ENDPOINT, [0-9a-f]*, [^,]*\), [0-9.]* [kMG]\?B, \([a-z]*, [a-z]*, [0-9]*\), [0-9]*, [0-9]*, /\1, SIZE, \2, I, I, /' \
        -e 's/\betcdctl\b/CTL/g' -e 's/\bcoordctl\b/CTL/g'
}

run_side() { # NAME CLIENT... : runs the transcript, one block of output per line
  local name=$1 line n=0
  shift
  local CTL="$* --endpoints=${SRV_EP[$name]} --dial-timeout=2s --command-timeout=5s"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case "$line" in '' | '#'*) continue ;; esac
    echo "### $n: $line"
    CTL="$CTL" timeout 20 bash -c "$line" >"$WORK/out" 2>"$WORK/err" </dev/null
    echo "rc=$?"
    normalize "${SRV_EP[$name]}" <"$WORK/out"
    echo "--- stderr"
    normalize "${SRV_EP[$name]}" <"$WORK/err"
  done <"$TRANSCRIPT"
}

start_twin "$ETCD_REF" ref
start_twin "$SERVER_BIN" sut
run_side ref "$ETCDCTL" >"$WORK/ref.txt"
run_side sut "$COORDCTL" >"$WORK/sut.txt"
if ! diff -u --label "etcdctl against etcd" --label "coordctl against $(basename "$SERVER_BIN")" \
     "$WORK/ref.txt" "$WORK/sut.txt" >"$WORK/diff.txt"; then
  cat "$WORK/diff.txt" >&2
  fail "coordctl's answers differ from etcdctl's ($(basename "$TRANSCRIPT"))"
fi
pass "$(grep -c '^### ' "$WORK/ref.txt") commands answered alike"
