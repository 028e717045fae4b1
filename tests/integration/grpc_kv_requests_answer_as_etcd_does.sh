#!/usr/bin/env bash
# Rule: KV requests that etcdctl 3.4 cannot send (compares over ranges and on leases, nested txns,
# count_only, revision filters, ignore_* with values, the txn ops budget) get the same decoded
# answers from the server under test as from a fresh etcd 3.4 given the same requests; server
# identity (cluster_id, member_id, raft_term) only has to be set.
#   grpc_kv_requests_answer_as_etcd_does.sh SERVER_BIN [kvscripts/NAME.txt ...]  (default: all)
. "$(dirname "$0")/lib.sh"
need_grpc_python
ETCD_REF=${ETCD_BIN:-$(command -v etcd || true)}
[ -n "$ETCD_REF" ] || fail "etcd (Debian etcd-server) is needed as the reference"

here=$(cd "$(dirname "$0")" && pwd)
shift
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/kvscripts/*.txt)
differ=0
for f in "${files[@]}"; do
  name=$(basename "$f" .txt)
  server_start_bin "$ETCD_REF" "etcd-$name"
  server_start "test-$name"
  "$PY_GRPC" "$here/kvscript.py" "$(server_ep "etcd-$name")" "$f" >"$WORK/$name.etcd" 2>&1 \
    || fail "$name: kvscript.py failed against etcd: $(tail -n 3 "$WORK/$name.etcd")"
  "$PY_GRPC" "$here/kvscript.py" "$(server_ep "test-$name")" "$f" >"$WORK/$name.test" 2>&1 \
    || fail "$name: kvscript.py failed against the server under test: $(tail -n 3 "$WORK/$name.test")"
  server_stop "etcd-$name"
  server_stop "test-$name"
  if diff -u --label "etcd: $name" --label "$(basename "$SERVER_BIN"): $name" \
       "$WORK/$name.etcd" "$WORK/$name.test"; then
    note "$name: same answers for $(grep -c '^> ' "$WORK/$name.etcd") requests"
  else
    differ=1
  fi
done
# shellcheck disable=SC2034  # read by fail() in lib.sh
FAIL_SHOW_LOGS=0
[ $differ -eq 0 ] || fail "answers differ from etcd's (diff above)"
pass
