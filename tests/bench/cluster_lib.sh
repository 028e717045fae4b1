# shellcheck shell=bash
# cluster_lib.sh: N-member clusters of etcd or coord for the cluster benchmarks; source it after
# bench_lib.sh, never run it.
#
# cb_cluster_start SERVER N starts members SERVER1..SERVERN (SERVER is etcd or coord) on fresh
# 127.0.0.1 ports with one --initial-cluster, data in $WORK/SERVERi.data, registered in lib.sh's
# tables (SRV_PID, SRV_EP, ...) so ctl, server_pid and server_ep work on each member by name.
# cb_cluster_stop ends exactly those processes, forgets their PIDs (so the exit cleanup never
# signals a PID the system has since reused) and removes their data dirs, so the next cluster
# finds the disk as the last one did.

declare -A CB_MEMBERS=() # SERVER -> "SERVER1 SERVER2 ..."

cb_cluster_start() { # SERVER N [EXTRA_FLAG...]: start the cluster, wait until every member answers
  local s=$1 n=$2 bin i c p ic="" name
  shift 2
  case $s in
    etcd) bin=$ETCD_BIN ;;
    coord) bin=$COORD_BIN ;;
    *) fail "cb_cluster_start: unknown server '$s'" ;;
  esac
  declare -A peer=()
  CB_MEMBERS[$s]=""
  for i in $(seq 1 "$n"); do
    name=$s$i
    c=$(free_port)
    p=$(free_port)
    while [ "$p" = "$c" ]; do p=$(free_port); done
    SRV_EP[$name]="127.0.0.1:$c"
    peer[$name]="http://127.0.0.1:$p"
    ic+="${ic:+,}$name=${peer[$name]}"
    CB_MEMBERS[$s]+="${CB_MEMBERS[$s]:+ }$name"
  done
  for name in ${CB_MEMBERS[$s]}; do
    SRV_BIN[$name]=$(readlink -f "$bin")
    SRV_ARGS[$name]="--name $name --data-dir $WORK/$name.data \
--listen-client-urls http://${SRV_EP[$name]} --advertise-client-urls http://${SRV_EP[$name]} \
--listen-peer-urls ${peer[$name]} --initial-advertise-peer-urls ${peer[$name]} \
--initial-cluster $ic --initial-cluster-state new --initial-cluster-token bench-$s-$$ $*"
    rm -rf "$WORK/$name.data" "$WORK/$name.log"
    # shellcheck disable=SC2086  # the stored argument list is split on purpose
    setsid "${SRV_BIN[$name]}" ${SRV_ARGS[$name]} >>"$WORK/$name.log" 2>&1 &
    SRV_PID[$name]=$!
    OUR_PIDS+=("$!")
  done
  for name in ${CB_MEMBERS[$s]}; do server_wait_ready "$name" 30; done
}

cb_cluster_stop() { # SERVER: end its members, forget their PIDs, remove their data
  local s=$1 name pid keep=()
  for name in ${CB_MEMBERS[$s]}; do server_stop "$name"; done
  for pid in "${OUR_PIDS[@]}"; do
    for name in ${CB_MEMBERS[$s]}; do [ "$pid" = "${SRV_PID[$name]}" ] && continue 2; done
    keep+=("$pid")
  done
  OUR_PIDS=("${keep[@]}")
  for name in ${CB_MEMBERS[$s]}; do rm -rf "$WORK/$name.data"; done
}

cb_status_json() { # NAME: etcdctl endpoint status -w json of that member
  ctl "$1" endpoint status -w json 2>/dev/null
}

cb_leader() { # SERVER: prints the member of SERVER's cluster that says it leads; fails if none
  local name
  for name in ${CB_MEMBERS[$1]}; do
    # "leader" equals the member's own ID in the header when it leads.
    if cb_status_json "$name" | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; sys.exit(0 if s["leader"]==s["header"]["member_id"] else 1)' 2>/dev/null; then
      echo "$name"
      return 0
    fi
  done
  return 1
}

cb_wait_leader() { # SERVER: prints the leader once there is one (30 s deadline)
  local deadline=$((SECONDS + 30)) l
  until l=$(cb_leader "$1"); do
    [ $SECONDS -lt $deadline ] || fail "$1 cluster: no leader within 30 s"
    sleep "$POLL_S"
  done
  echo "$l"
}

cb_revision() { # NAME: the store revision that member has applied (a serializable read)
  ctl "$1" get cb-probe --consistency=s -w json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])' 2>/dev/null
}

cb_same_revision() { # SERVER: true when every member has applied the same revision
  local name r first=""
  for name in ${CB_MEMBERS[$1]}; do
    r=$(cb_revision "$name") || return 1
    [ -n "$r" ] || return 1
    [ -z "$first" ] && first=$r
    [ "$r" = "$first" ] || return 1
  done
}

cb_wait_caught_up() { # SERVER: poll until every member has applied the same revision (120 s)
  wait_until 120 "every $1 member at the same revision" cb_same_revision "$1"
}

cb_rss_kib() { # SERVER: prints "SUM m1 m2 ..." VmRSS of each member in KiB
  local name sum=0 each="" r
  for name in ${CB_MEMBERS[$1]}; do
    r=$(proc_kib "$(server_pid "$name")" VmRSS)
    sum=$((sum + ${r:-0}))
    each+=" ${r:-0}"
  done
  echo "$sum$each"
}

bench_field() { # FILE NAME: the number after "NAME:" in coordctl bench's summary, or "-"
  local v
  v=$(sed -nE "s|^[[:space:]]*$2:[[:space:]]*([0-9.]+).*|\\1|p" "$1" | head -1)
  echo "${v:--}"
}

median_spread() { # VALUES...: "median (min-max)" of the numbers given ("-" entries skipped)
  printf '%s\n' "$@" | grep -v '^-$' | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { printf "-"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      if (NR == 1) printf "%g", m; else printf "%g (%g-%g)", m, v[1], v[NR]
    }'
}

median_of() { # VALUES...: the median alone, or "-"
  printf '%s\n' "$@" | grep -v '^-$' | sort -g | awk '
    { v[NR] = $1 }
    END { if (NR == 0) printf "-"; else printf "%g", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
