#!/usr/bin/env bash
# Rule (coord only; etcd would try to join): --initial-cluster-state existing is refused with a
# clear error and a non-zero exit until members can be added to a running cluster.
. "$(dirname "$0")/lib.sh"
coord_only

c=$(free_port)
p=$(free_port)
expect_server_refuses --name s1 --data-dir "$WORK/s1.data" \
  --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
  --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
  --initial-cluster "s1=http://127.0.0.1:$p" --initial-cluster-state existing
note "exit $REFUSE_RC: $(printf '%s' "$REFUSE_OUT" | head -3)"
assert_contains "$REFUSE_OUT" "initial-cluster-state" "message for --initial-cluster-state existing"
pass
