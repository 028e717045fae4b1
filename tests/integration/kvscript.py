#!/usr/bin/env python3
"""Runs a script of KV gRPC requests, written as readable dicts, against one server and prints a
transcript with the decoded answers; IDs that differ between any two servers (cluster_id,
member_id, raft_term) are shown as "set" or left out, so transcripts of two servers can be diffed.
It reaches what etcdctl 3.4 cannot send: compares over ranges and on leases, nested txns,
count_only, revision filters, ignore_* with values.

usage: kvscript.py EP FILE
FILE: one request per line, "METHOD {dict}", METHOD one of Range Put DeleteRange Txn Compact;
the dict is JSON with etcd's field names, enums by name, keys and values as strings (UTF-8) or
{"hex": "ff00"} for any bytes; lines starting with # are copied to the transcript. Example:
  Txn {"compare": [{"target": "VALUE", "key": "a", "range_end": "c", "value": "1"}],
       "success": [{"request_put": {"key": "x", "value": "y"}}]}
Needs python3-grpcio.
"""
import json
import sys

from wire import field_bytes, grpc_call, read_varint, varint

ENUMS = {
    "SortOrder": ["NONE", "ASCEND", "DESCEND"],
    "SortTarget": ["KEY", "VERSION", "CREATE", "MOD", "VALUE"],
    "CompareResult": ["EQUAL", "GREATER", "LESS", "NOT_EQUAL"],
    "CompareTarget": ["VERSION", "CREATE", "MOD", "VALUE", "LEASE"],
}

# message: {field number: (name, type)}; type is a scalar, "enum:Name", a message name, and a
# trailing "*" for repeated. Numbers are etcd 3.4's (etcdserverpb, mvccpb).
SCHEMA = {
    "ResponseHeader": {1: ("cluster_id", "u64"), 2: ("member_id", "u64"), 3: ("revision", "i64"),
                       4: ("raft_term", "u64")},
    "KeyValue": {1: ("key", "bytes"), 2: ("create_revision", "i64"), 3: ("mod_revision", "i64"),
                 4: ("version", "i64"), 5: ("value", "bytes"), 6: ("lease", "i64")},
    "RangeRequest": {1: ("key", "bytes"), 2: ("range_end", "bytes"), 3: ("limit", "i64"),
                     4: ("revision", "i64"), 5: ("sort_order", "enum:SortOrder"),
                     6: ("sort_target", "enum:SortTarget"), 7: ("serializable", "bool"),
                     8: ("keys_only", "bool"), 9: ("count_only", "bool"),
                     10: ("min_mod_revision", "i64"), 11: ("max_mod_revision", "i64"),
                     12: ("min_create_revision", "i64"), 13: ("max_create_revision", "i64")},
    "RangeResponse": {1: ("header", "ResponseHeader"), 2: ("kvs", "KeyValue*"), 3: ("more", "bool"),
                      4: ("count", "i64")},
    "PutRequest": {1: ("key", "bytes"), 2: ("value", "bytes"), 3: ("lease", "i64"),
                   4: ("prev_kv", "bool"), 5: ("ignore_value", "bool"), 6: ("ignore_lease", "bool")},
    "PutResponse": {1: ("header", "ResponseHeader"), 2: ("prev_kv", "KeyValue")},
    "DeleteRangeRequest": {1: ("key", "bytes"), 2: ("range_end", "bytes"), 3: ("prev_kv", "bool")},
    "DeleteRangeResponse": {1: ("header", "ResponseHeader"), 2: ("deleted", "i64"),
                            3: ("prev_kvs", "KeyValue*")},
    "RequestOp": {1: ("request_range", "RangeRequest"), 2: ("request_put", "PutRequest"),
                  3: ("request_delete_range", "DeleteRangeRequest"), 4: ("request_txn", "TxnRequest")},
    "ResponseOp": {1: ("response_range", "RangeResponse"), 2: ("response_put", "PutResponse"),
                   3: ("response_delete_range", "DeleteRangeResponse"),
                   4: ("response_txn", "TxnResponse")},
    "Compare": {1: ("result", "enum:CompareResult"), 2: ("target", "enum:CompareTarget"),
                3: ("key", "bytes"), 4: ("version", "i64"), 5: ("create_revision", "i64"),
                6: ("mod_revision", "i64"), 7: ("value", "bytes"), 8: ("lease", "i64"),
                64: ("range_end", "bytes")},
    "TxnRequest": {1: ("compare", "Compare*"), 2: ("success", "RequestOp*"), 3: ("failure", "RequestOp*")},
    "TxnResponse": {1: ("header", "ResponseHeader"), 2: ("succeeded", "bool"),
                    3: ("responses", "ResponseOp*")},
    "CompactionRequest": {1: ("revision", "i64"), 2: ("physical", "bool")},
    "CompactionResponse": {1: ("header", "ResponseHeader")},
}

METHODS = {
    "Range": ("RangeRequest", "RangeResponse"),
    "Put": ("PutRequest", "PutResponse"),
    "DeleteRange": ("DeleteRangeRequest", "DeleteRangeResponse"),
    "Txn": ("TxnRequest", "TxnResponse"),
    "Compact": ("CompactionRequest", "CompactionResponse"),
}

# Header fields whose values depend on the server's identity and history, not on the request.
IDENTITY = {"cluster_id", "member_id", "raft_term"}


def encode(msg, data):
    names = {name: (num, typ) for num, (name, typ) in SCHEMA[msg].items()}
    out = b""
    for name, value in data.items():
        if name not in names:
            raise KeyError("%s has no field %s" % (msg, name))
        num, typ = names[name]
        repeated = typ.endswith("*")
        for v in value if repeated else [value]:
            out += encode_field(num, typ.rstrip("*"), v)
    return out


def encode_field(num, typ, v):
    if typ == "bytes":
        return field_bytes(num, bytes.fromhex(v["hex"]) if isinstance(v, dict) else v.encode())
    if typ in ("i64", "u64"):
        return varint(num << 3) + varint(v & 0xFFFFFFFFFFFFFFFF)
    if typ == "bool":
        return varint(num << 3) + varint(1 if v else 0)
    if typ.startswith("enum:"):
        return varint(num << 3) + varint(ENUMS[typ[5:]].index(v) if isinstance(v, str) else v)
    return field_bytes(num, encode(typ, v))


def decode(msg, data):
    fields = SCHEMA[msg]
    out, i = {}, 0
    while i < len(data):
        tag, i = read_varint(data, i)
        num, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            raw, i = read_varint(data, i)
        elif wire_type == 2:
            n, i = read_varint(data, i)
            raw, i = data[i:i + n], i + n
        else:
            raise ValueError("%s: unexpected wire type %d for field %d" % (msg, wire_type, num))
        if num not in fields:
            out.setdefault("unknown_%d" % num, []).append(raw.hex() if isinstance(raw, bytes) else raw)
            continue
        name, typ = fields[num]
        value = decode_value(typ.rstrip("*"), raw)
        if typ.endswith("*"):
            out.setdefault(name, []).append(value)
        else:
            out[name] = value  # the last one wins, as in protobuf
    if msg == "ResponseHeader":
        for k in IDENTITY:
            if out.get(k):
                out[k] = "set"
    return out


def decode_value(typ, raw):
    if typ == "bytes":
        return raw.decode("utf-8", "backslashreplace")
    if typ == "i64":
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if typ == "u64":
        return raw
    if typ == "bool":
        return bool(raw)
    if typ.startswith("enum:"):
        names = ENUMS[typ[5:]]
        return names[raw] if raw < len(names) else raw
    return decode(typ, raw)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    ep = argv[1]
    with open(argv[2]) as f:
        lines = f.read().splitlines()
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("#"):
            print(line)
            continue
        method, _, body = line.partition(" ")
        req_type, resp_type = METHODS[method]
        request = json.loads(body) if body.strip() else {}
        print("> " + line)
        code, answer = grpc_call(ep, "/etcdserverpb.KV/" + method, encode(req_type, request))
        if code == "OK":
            print("OK " + json.dumps(decode(resp_type, answer), sort_keys=False))
        else:
            print(code + " " + answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
