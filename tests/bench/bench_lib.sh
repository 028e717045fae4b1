# bench_lib.sh: shared by the benchmark scripts here; source it, never run it.
#
# Benchmarks run etcd (Debian etcd-server, ETCD_BIN) and coord (COORD_BIN or the first argument,
# default build/coord) one after the other, each on fresh 127.0.0.1 ports and a fresh data dir
# with the same flags, through the integration harness (../integration/lib.sh), which also cleans
# up every process and file. A missing coord build is reported and only etcd is measured.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}
COORD_BIN=${1:-${COORD_BIN:-$REPO_DIR/build/coord}}
if [ ! -f "$COORD_BIN" ] || [ ! -x "$COORD_BIN" ]; then
  echo "note: no coord binary at $COORD_BIN (build it, or pass its path); measuring etcd only" >&2
  COORD_BIN=""
fi
# The harness takes the server binary as its first argument; both are started by name below.
set -- "$ETCD_BIN"
# shellcheck source=../integration/lib.sh
. "$BENCH_DIR/../integration/lib.sh"

servers_to_measure() { # prints "etcd" and, when built, "coord"
  echo etcd
  [ -z "$COORD_BIN" ] || echo coord
}

bench_start() { # etcd|coord: start that server as NAME etcd|coord
  case $1 in
    etcd) server_start_bin "$ETCD_BIN" etcd ;;
    coord) server_start_bin "$COORD_BIN" coord ;;
  esac
}

proc_kib() { # PID FIELD: a /proc/PID/status field in KiB (VmRSS, VmHWM, RssAnon, ...)
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

reset_peak_rss() { # PID: restart VmHWM from the current RSS (Linux clear_refs 5)
  echo 5 >"/proc/$1/clear_refs" 2>/dev/null
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

start_rss_sampler() { # PID OUTFILE: sample VmRSS and RssAnon every 20 ms until stop_rss_sampler
  local pid=$1 out=$2
  (
    max_rss=0 max_anon=0
    while [ -d "/proc/$pid" ] && [ ! -e "$out.stop" ]; do
      r=$(proc_kib "$pid" VmRSS)
      a=$(proc_kib "$pid" RssAnon)
      [ "${r:-0}" -gt "$max_rss" ] && max_rss=$r
      [ "${a:-0}" -gt "$max_anon" ] && max_anon=$a
      echo "$max_rss $max_anon" >"$out"
      sleep 0.02
    done
  ) &
  SAMPLER_PID=$!
  OUR_PIDS+=("$SAMPLER_PID")
}

stop_rss_sampler() { # OUTFILE: stop the sampler; prints "MAX_VMRSS_KIB MAX_RSSANON_KIB"
  touch "$1.stop"
  wait "$SAMPLER_PID" 2>/dev/null
  cat "$1"
}

load_keys() { # NAME PREFIX COUNT VALUE_SIZE: write the keys fast; prints how long it took
  local name=$1 prefix=$2 count=$3 size=$4
  if /usr/bin/python3 "$WIRE" has-grpc 2>/dev/null; then
    /usr/bin/python3 "$WIRE" load "$(server_ep "$name")" "$prefix" "$count" "$size" 100 4 \
      || fail "loading $count keys into $name failed"
  else
    load_keys_with_etcdctl "$@"
  fi
}

load_keys_with_etcdctl() { # NAME PREFIX COUNT VALUE_SIZE: the same through etcdctl txn, 100 puts a txn
  local name=$1 prefix=$2 count=$3 size=$4 i=0 began=$SECONDS value
  value=$(head -c "$size" /dev/zero | tr '\0' v)
  while [ $i -lt "$count" ]; do
    {
      echo
      for j in $(seq "$i" $((i + 99 < count - 1 ? i + 99 : count - 1))); do
        printf 'put %s%09d %s\n' "$prefix" "$j" "$value"
      done
      echo
      echo
    } | ctl "$name" txn >/dev/null || fail "etcdctl txn load into $name failed at key $i"
    i=$((i + 100))
  done
  echo "loaded $count keys of $size-byte values with etcdctl txn in $((SECONDS - began)) s"
}
