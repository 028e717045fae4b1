#!/usr/bin/env bash
# Rule: on one LeaseKeepAlive stream every request gets one answer, in order: a live lease its
# full TTL, an unknown or revoked lease TTL 0 — and the stream stays open for the requests after
# it (etcd's behaviour; etcdctl stops at the first TTL 0, so the stream is driven by hand).
. "$(dirname "$0")/lib.sh"
need_grpc_python

server_start s
lease_id() { printf '%s\n' "$CTL_OUT" | awk '/granted/ {print $2}'; }
run_ctl s lease grant 60
live=$(lease_id)
run_ctl s lease grant 60
revoked=$(lease_id)
assert_ctl_ok s lease revoke "$revoked"

out=$("$PY_GRPC" - "$(server_ep s)" "$live" 999 "$revoked" "$live" <<'PY'
import sys
import grpc

def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | 0x80 if n else b])
        if not n:
            return out

def fields(buf):
    i, got = 0, {}
    while i < len(buf):
        key = 0; shift = 0
        while True:
            b = buf[i]; i += 1; key |= (b & 0x7F) << shift; shift += 7
            if b < 0x80: break
        num, wt = key >> 3, key & 7
        if wt == 0:
            v = 0; shift = 0
            while True:
                b = buf[i]; i += 1; v |= (b & 0x7F) << shift; shift += 7
                if b < 0x80: break
            got[num] = v
        elif wt == 2:
            n = 0; shift = 0
            while True:
                b = buf[i]; i += 1; n |= (b & 0x7F) << shift; shift += 7
                if b < 0x80: break
            i += n
    return got

ep, ids = sys.argv[1], [int(x, 16) for x in sys.argv[2:]]
ch = grpc.insecure_channel(ep)
call = ch.stream_stream("/etcdserverpb.Lease/LeaseKeepAlive",
                        request_serializer=lambda b: b, response_deserializer=lambda b: b)
for resp in call(iter([b"\x08" + varint(i) for i in ids]), timeout=10):
    f = fields(resp)
    print("%x %d" % (f.get(2, 0), f.get(3, 0)))
PY
) || fail "the keep-alive stream failed: $out"
expected=$(printf '%s 60\n999 0\n%s 0\n%s 60' "${live#0*}" "${revoked#0*}" "${live#0*}" | sed -E 's/^0+//')
got=$(sed -E 's/^0+//' <<<"$out")
assert_eq "$expected" "$got" "answers on one keep-alive stream (ID TTL)"
pass "four requests, four answers in order: 60, 0, 0, 60"
