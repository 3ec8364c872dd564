#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/seeds/<target>/.

Real packets as the official clients and servers send them (handshakes,
events with binary attachments, legacy Engine.IO v3 payloads, msgpack
packets), each a small file. Deterministic: running it again rewrites the
same files. `python3 fuzz/make_seeds.py`
"""
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")

HANDSHAKE = ('{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
             '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
HANDSHAKE_V3 = ('{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
                '"pingInterval":25000,"pingTimeout":5000}')


def write(target, items):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for data in items:
        if isinstance(data, str):
            data = data.encode()
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def v3rec(s):
    """A v3 text record: its length in UTF-16 code units, `:`, the packet."""
    return "%d:%s" % (len(s.encode("utf-16-le")) // 2, s)


def ph(n):
    return '{"_placeholder":true,"num":%d}' % n


SIO_TEXT = [
    "0",
    '0{"token":"abc"}',
    "0/chat,",
    '0/private,{"token":"secret"}',
    '0{"sid":"oSO0OpakMV_3jnilAAAA"}',
    "1",
    "1/chat,",
    '2["chat","hi"]',
    '21["echo",1,{"a":[1,2.5,null,true,false]},"x"]',
    '2/chat,["to-room","r1","msg",{"from":"c1","seq":41}]',
    '2["join","room-7"]',
    '3/chat,5["x"]',
    "31[]",
    '4{"message":"Invalid namespace"}',
    '4/private,{"message":"invalid token","data":{"code":7}}',
    '51-["message",' + ph(0) + "]",
    '52-["upload",{"file":' + ph(0) + ',"thumb":[' + ph(1) + "]}]",
    "61-3[" + ph(0) + "]",
    '62-/chat,7[' + ph(0) + "," + ph(1) + "]",
    '2["u","\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\n"]',
    '2["n",1e21,-0,12345678901234567890,-9223372036854775808,0.1,1.5e-7]',
    '2["d",[[[[[[[[[[{"a":{"b":{"c":[1]}}}]]]]]]]]]]]',
    '2["k",{"a":1,"a":2,"":3,"é":4}]',
]
SIO_TEXT_V4 = [
    "0/private?token=secret,",
    "0/chat?a=1&a=2&b=x+y&c=%E2%82%AC,",
    '4"Invalid namespace"',
    '4/chat,"not authorized"',
    '2["message","hello"]',
    '51-["message",' + ph(0) + "]",
]


# -- a small msgpack writer (what notepack.io writes) -----------------------
def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 0x10000:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, (bytes, bytearray)):
        return b"\xc4" + bytes([len(v)]) + bytes(v)
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    if isinstance(v, Raw):
        return v.b
    raise TypeError(v)


class Raw:
    def __init__(self, b):
        self.b = b


MSGPACK = [
    {"type": 0, "nsp": "/"},
    {"type": 0, "nsp": "/private", "data": {"token": "secret"}},
    {"type": 0, "nsp": "/", "data": {"sid": "oSO0OpakMV_3jnilAAAA"}},
    {"type": 1, "nsp": "/chat"},
    {"type": 2, "nsp": "/", "data": ["chat", "hi"], "id": 1},
    {"type": 2, "nsp": "/", "data": ["file", b"\x01\x02\x03", {"nested": [b"\xff"]}]},
    {"type": 2, "nsp": "/chat", "data": ["to-room", "r1", "msg", {"seq": 70000, "t": 1.5}]},
    {"type": 3, "nsp": "/", "data": [None, True, -5, 2**40], "id": 4294967296},
    {"type": 4, "nsp": "/x", "data": {"message": "Invalid namespace"}},
    {"type": 2, "nsp": "/", "data": ["u", Raw(b"\xd4\x00\x00"), Raw(b"\xd6\x05abcd")], "id": Raw(b"\xcb" + struct.pack(">d", 7.0))},
    {"data": ["reordered"], "nsp": "/", "type": 2, "extra": [1, 2]},
]

SEEDS = {
    "eio_packet": [
        "0" + HANDSHAKE, "1", "2", "2probe", "3", "3probe", "4hello", "4", "5", "6",
        "40", '42["chat","hi"]', "451-[\"up\"," + ph(0) + "]", "4héllo 😀",
    ],
    "eio_v4_payload": [
        "0" + HANDSHAKE,
        "4hello\x1ebAQID",
        "2\x1e3\x1e6",
        '40\x1e42["join","r"]\x1e42["to-room","r","m",{"seq":1}]',
        '451-["message",' + ph(0) + ']\x1ebAQIDBA==',
        "bAA",
        "3probe\x1e5",
        "1",
    ],
    "eio_v3_text_payload": [
        "%d:0%s2:40" % (len(HANDSHAKE_V3) + 1, HANDSHAKE_V3),
        "2:4é3:4😀4:4abc1:3",
        "6:b4AQID",
        '0:1:2',
        # socket.io-client 1.x: the record UTF-8-encoded once more
        "3:4" + "é".encode().decode("latin-1"),
        v3rec('42["message","héllo"]'),
        v3rec('451-["m",' + ph(0) + ']') + "6:b4AQID",
    ],
    "eio_v3_binary_payload": [
        bytes([0, 7, 0xFF]) + "4héllo".encode() + bytes([1, 4, 0xFF, 4, 1, 2, 3]),
        bytes([0, 1, 0xFF]) + b"2" + bytes([0, 1, 0xFF]) + b"3",
        bytes([0] + [int(c) for c in str(len(HANDSHAKE_V3) + 1)] + [0xFF]) + b"0" + HANDSHAKE_V3.encode(),
        bytes([0, 3, 0, 0xFF]) + ('451-["u",' + ph(0) + ']').encode()[:30],
        bytes([1, 1, 0, 0xFF, 4]) + bytes(range(9)),
    ],
    "sio_json": [b"\x00" + t.encode() for t in SIO_TEXT] + [b"\x01" + t.encode() for t in SIO_TEXT_V4],
    "sio_msgpack": [mp(p) for p in MSGPACK],
    "query": [
        b"\x00EIO=4&transport=polling&t=N8hyd6w",
        b"\x00EIO=3&transport=websocket&sid=lv_VI97HAXpY6yYWAAAC&b64=1&token=abc%20def",
        b"\x00a=1&b=x%20y+z&c&d=%E2%82%AC&e=%zz&=&&f=%4",
        b"\x01token\x00secret\x00name\x00J\xc3\xb6rg & co\x00token\x00again",
        b"\x03a b\x00c+d\x00\x00",
    ],
}


def attachments_seed(rev, max_att, text, atts):
    """Raw mode of the sio_attachments target: text then attachments."""
    t = text.encode()
    out = bytes([rev, max_att, 1]) + struct.pack("<H", len(t)) + t + bytes([len(atts)])
    for n, fill in atts:
        out += struct.pack("<H", n) + bytes([fill])
    return out


SEEDS["sio_attachments"] = [
    attachments_seed(0, 10, '51-["message",' + ph(0) + "]", [(3, 1)]),
    attachments_seed(0, 10, '52-["upload",{"f":' + ph(0) + ',"t":[' + ph(1) + "]}]", [(1000, 7), (5, 9)]),
    attachments_seed(1, 10, "62-/chat,7[" + ph(1) + "," + ph(0) + "]", [(0, 0), (2, 2), (4, 4)]),
    attachments_seed(0, 10, '53-["lie",' + ph(0) + "]", [(10, 1), (10, 2)]),
    attachments_seed(0, 10, '52-["twice",' + ph(0) + "," + ph(0) + "]", [(100, 1), (1, 2)]),
    # structured mode: lying counts, generated placeholders
    bytes([0, 10, 0, 0, 3, 5, 1, 1, 0, 1, 0, 4, 0] + [3, 7, 0, 3, 7, 1, 0, 7, 2] + [3, 16, 0, 1, 32, 0, 2]),
    bytes([1, 3, 0, 1, 1] + [0xFF] * 8 + [1, 1, 0, 0, 2, 0, 3, 0, 0, 3, 0, 1]),
]

if __name__ == "__main__":
    for target, items in SEEDS.items():
        write(target, items)
        print(f"{target}: {len(items)} seeds", file=sys.stderr)
