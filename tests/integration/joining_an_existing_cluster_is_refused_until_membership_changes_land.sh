#!/usr/bin/env bash
# Rule (coord only; etcd would try to form the cluster): --initial-cluster naming two members is
# refused with a clear error and a non-zero exit while coord serves single-member clusters only.
. "$(dirname "$0")/lib.sh"
coord_only

c=$(free_port)
p=$(free_port)
p2=$(free_port)
expect_server_refuses --name s1 --data-dir "$WORK/s1.data" \
  --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
  --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
  --initial-cluster "s1=http://127.0.0.1:$p,s2=http://127.0.0.1:$p2"
note "exit $REFUSE_RC: $(printf '%s' "$REFUSE_OUT" | head -3)"
assert_contains "$REFUSE_OUT" "initial-cluster" "message for a two-member --initial-cluster"
pass
