#!/usr/bin/env bash
# Rule: LeaseGrant with an ID the client chose is granted under that ID; asking for the same ID
# again fails with etcd's FAILED_PRECONDITION "etcdserver: lease already exists" (and a TTL too
# large is refused before that, as etcd checks it first). etcdctl cannot choose IDs: the
# requests are built by hand (wire.py).
. "$(dirname "$0")/lib.sh"
need_grpc_python

server_start s
EP=$(server_ep s)
# LeaseGrantRequest{TTL: 60, ID: 0x1234}: field 1 varint 60, field 2 varint 4660.
grant_1234=083c10b424
out=$(wire_grpc call "$EP" /etcdserverpb.Lease/LeaseGrant "$grant_1234")
case "$out" in OK*) ;; *) fail "first grant of ID 0x1234: $out" ;; esac
run_ctl s lease timetolive 1234
assert_contains "$CTL_OUT" "lease 0000000000001234 granted with TTL(60s)" "timetolive of the chosen ID"
out=$(wire_grpc call "$EP" /etcdserverpb.Lease/LeaseGrant "$grant_1234")
assert_contains "$out" "FAILED_PRECONDITION" "second grant of ID 0x1234"
assert_contains "$out" "etcdserver: lease already exists" "second grant of ID 0x1234"
# TTL 9,000,000,001 with the same ID: the TTL bound is checked before existence.
out=$(wire_grpc call "$EP" /etcdserverpb.Lease/LeaseGrant 0881b4c4c32110b424)
assert_contains "$out" "etcdserver: too large lease TTL" "grant of an existing ID with a huge TTL"
run_ctl s lease list
assert_contains "$CTL_OUT" "found 1 leases" "leases after the refused grants"
pass "a chosen ID is granted once; again: lease already exists"
