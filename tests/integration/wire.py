#!/usr/bin/env python3
"""Talks to a server's client port below etcdctl: raw TCP bytes, and gRPC calls with hand-built
protobuf payloads (so malformed and oversized requests can be sent on purpose).

usage:
  wire.py junk EP KIND          send one kind of junk on a fresh connection; prints how it ended:
                                "<first HTTP line | N bytes>, then <closed|reset|open>"
                                (open: neither closed nor reset within 3 s). KIND: garbage | http1 | http1-version | preface-cut |
                                preface-then-garbage | huge-frame
  wire.py hold EP N -- CMD...   open N connections that each sent a truncated HTTP/2 preface,
                                keep them open while CMD runs, then close them; exits with CMD's code
  wire.py call EP METHOD HEX    gRPC unary call with the payload bytes given in hex; prints
                                "OK <hex of response>" or "<STATUS_CODE> <details>"
  wire.py put EP KEY SIZE       gRPC KV/Put of KEY with a SIZE-byte value; prints as `call`
  wire.py range EP KEY [LIMIT [REV]]   gRPC KV/Range; prints "OK count=<n> kvs=<n> more=<0|1>"
                                or "<STATUS_CODE> <details>"
  wire.py load EP PREFIX COUNT VALSIZE [BATCH [THREADS]]   write COUNT keys PREFIX<9-digit index>
                                with random printable VALSIZE-byte values, BATCH puts per Txn (default 100)
                                from THREADS threads (default 4); prints "loaded N keys ... in S s"
The gRPC commands need python3-grpcio; `wire.py has-grpc` exits 0 when it is importable.
"""
import socket
import subprocess
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def hostport(ep):
    host, port = ep.rsplit(":", 1)
    return host, int(port)


def read_until_end(sock, seconds):
    """How the connection went after we sent our bytes: "<first answer line or byte count>, then
    <closed|reset|open>", where open means it was neither closed nor reset within SECONDS."""
    sock.settimeout(seconds)
    got, end = b"", "open"
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                end = "closed"
                break
            got += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        end = "reset"
    if got.startswith(b"HTTP/"):
        answer = got.split(b"\r\n", 1)[0][:80].decode("latin-1")
    else:
        answer = "%d bytes" % len(got)
    return "%s, then %s" % (answer, end)


def junk(ep, kind):
    frames = {
        "garbage": bytes((i * 37 + 11) % 256 for i in range(4096)),
        "http1": b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        "http1-version": b"GET /version HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        "preface-cut": PREFACE[:10],
        # A valid preface and SETTINGS, then a frame of an unknown type on stream 0 claiming
        # more payload than follows, then bytes that are no frame at all.
        "preface-then-garbage": PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        + b"\x00\x10\x00\xee\x00\x00\x00\x00\x00" + b"\xde\xad\xbe\xef" * 64,
        # A HEADERS frame announcing 16 MiB - 1 of payload, far above the default frame size.
        "huge-frame": PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        + b"\xff\xff\xff\x01\x04\x00\x00\x00\x01" + b"\x00" * 1024,
    }
    if kind not in frames:
        sys.exit("unknown junk kind " + kind)
    sock = socket.create_connection(hostport(ep), timeout=5)
    try:
        sock.sendall(frames[kind])
        if kind == "preface-cut":
            sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        print("0 bytes, then reset")
        return
    print(read_until_end(sock, 3.0))
    sock.close()


def hold(ep, n, cmd):
    socks = []
    for _ in range(n):
        s = socket.create_connection(hostport(ep), timeout=5)
        s.sendall(PREFACE[:10])
        socks.append(s)
    rc = subprocess.call(cmd)
    for s in socks:
        s.close()
    return rc


def varint(n):
    out = b""
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out += bytes([low | 0x80])
        else:
            return out + bytes([low])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_int(num, value):
    return varint(num << 3) + varint(value & 0xFFFFFFFFFFFFFFFF)


def parse(data):
    """Top-level fields of a protobuf message: {number: [values]} (bytes or int)."""
    fields, i = {}, 0
    while i < len(data):
        tag, i = read_varint(data, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, i = read_varint(data, i)
        elif wt == 2:
            ln, i = read_varint(data, i)
            val, i = data[i:i + ln], i + ln
        elif wt == 1:
            val, i = data[i:i + 8], i + 8
        elif wt == 5:
            val, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        fields.setdefault(num, []).append(val)
    return fields


def read_varint(data, i):
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def grpc_call(ep, method, payload):
    import grpc  # only the gRPC commands need it

    opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(ep, options=opts) as ch:
        fn = ch.unary_unary(method)
        try:
            return "OK", fn(payload, timeout=10)
        except grpc.RpcError as e:
            return e.code().name, e.details()


def load(ep, prefix, count, valsize, batch, threads):
    import base64
    import os
    import threading
    import time

    import grpc

    opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    failures = []

    def worker(first_batch, stride):
        with grpc.insecure_channel(ep, options=opts) as ch:
            txn = ch.unary_unary("/etcdserverpb.KV/Txn")
            for start in range(first_batch * batch, count, stride * batch):
                ops = b""
                for i in range(start, min(start + batch, count)):
                    # Printable (base64) but incompressible values, one line each in etcdctl output.
                    value = base64.b64encode(os.urandom(valsize))[:valsize]
                    put = field_bytes(1, b"%s%09d" % (prefix, i)) + field_bytes(2, value)
                    ops += field_bytes(2, field_bytes(2, put))
                try:
                    txn(ops, timeout=60)
                except grpc.RpcError as e:
                    failures.append("%s %s" % (e.code().name, e.details()))
                    return

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(t, threads)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.monotonic() - began
    if failures:
        print("load failed: " + failures[0])
        return 1
    print("loaded %d keys of %d-byte values in %.1f s" % (count, valsize, took))
    return 0


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "has-grpc":
        try:
            import grpc  # noqa: F401
        except ImportError:
            return 1
        return 0
    ep = argv[2]
    if cmd == "junk":
        junk(ep, argv[3])
    elif cmd == "hold":
        n = int(argv[3])
        rest = argv[4:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        return hold(ep, n, rest)
    elif cmd == "call":
        code, out = grpc_call(ep, argv[3], bytes.fromhex(argv[4]))
        print(code, out.hex() if code == "OK" else out)
    elif cmd == "put":
        req = field_bytes(1, argv[3].encode()) + field_bytes(2, b"x" * int(argv[4]))
        code, out = grpc_call(ep, "/etcdserverpb.KV/Put", req)
        print(code, out.hex() if code == "OK" else out)
    elif cmd == "range":
        req = field_bytes(1, argv[3].encode())
        if len(argv) > 4:
            req += field_int(3, int(argv[4]))
        if len(argv) > 5:
            req += field_int(4, int(argv[5]))
        code, out = grpc_call(ep, "/etcdserverpb.KV/Range", req)
        if code == "OK":
            f = parse(out)
            print("OK count=%d kvs=%d more=%d" % (f.get(4, [0])[0], len(f.get(2, [])), f.get(3, [0])[0]))
        else:
            print(code, out)
    elif cmd == "load":
        batch = int(argv[6]) if len(argv) > 6 else 100
        threads = int(argv[7]) if len(argv) > 7 else 4
        return load(ep, argv[3].encode(), int(argv[4]), int(argv[5]), batch, threads)
    else:
        sys.exit("unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
