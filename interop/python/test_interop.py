"""python-socketio (Client and AsyncClient) against the interop example server.

Every test runs for both clients and the three transport setups (fixtures `kind` and
`transport` in conftest.py). The first docstring line is the check's name in the matrix.
"""

import time

import pytest
import socketio

UTF8 = "héllo wörld ✓ 日本語 😀 𝄞 Ω"
ESC_KEY = 'k"ey\\with\x01ctl\nnl\ttab'
ESC_VAL = 'quote " backslash \\ slash / ctl \x00\x01\x1f nl \n cr \r tab \t'


def test_connect_welcome(client):
    """connect + welcome {sid, namespace}"""
    assert client.welcome == ({"sid": client.sid("/"), "namespace": "/"},)
    assert client.sid("/") != client.eio_sid, "socket id equals the Engine.IO sid (must differ in v5)"


def test_transport(client, transport):
    """transport in use"""
    if transport == "polling+upgrade":
        deadline = time.monotonic() + 5
        while client.transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.transport() == "websocket"
    else:
        time.sleep(0.3)
        assert client.transport() == transport
    assert client.emit_ack("echo", "ok") == ("ok",)


def test_echo_json(client):
    """echo JSON args"""
    args = (1, "two", {"three": [True, False, None], "four": 4.5}, [], {}, -7, 0, "", None)
    assert client.emit_ack("echo", *args) == args


def test_echo_binary(client):
    """echo binary (nested in objects/arrays)"""
    args = (
        b"\x01\x02\x03",
        {"a": b"\x04\x05", "b": [b"\x06", {"c": b"\x00\xff\x80"}], "d": "x"},
        [b"bytes", 42, [b"\x07\x08\x09"]],
    )
    got = client.emit_ack("echo", *args)
    assert got == args
    assert isinstance(got[0], bytes) and isinstance(got[1]["b"][1]["c"], bytes)


def test_echo_empty_binary(client):
    """echo empty binaries"""
    args = (b"", {"e": b""}, [b""])
    got = client.emit_ack("echo", *args)
    assert got == args
    assert isinstance(got[0], bytes)


def test_echo_big_binary(client):
    """echo 300 kB binary"""
    big = bytes((i * 31 + 7) & 0xFF for i in range(300 * 1024))
    args = (big, {"nested": big[:1000]})
    assert client.emit_ack("echo", *args, timeout=10) == args


def test_echo_utf8(client):
    """echo UTF-8 (values and keys)"""
    args = (UTF8, {UTF8: UTF8, "ключ": ["значение", "é"]})
    assert client.emit_ack("echo", *args) == args


def test_echo_escapes(client):
    """echo JSON escapes (values and keys)"""
    args = (ESC_VAL, {ESC_KEY: ESC_VAL, "\\": '"', '"': "\\"})
    assert client.emit_ack("echo", *args) == args


def test_echo_key_order(client):
    """echo keeps object key order"""
    obj = {"zeta": 1, "alpha": 2, "mu": 3, "beta": {"z": 1, "a": 2}}
    (got,) = client.emit_ack("echo", obj)
    assert list(got) == list(obj) and list(got["beta"]) == ["z", "a"], f"key order changed: {got}"


def test_echo_no_args(client):
    """echo with no args acks with no args"""
    assert client.emit_ack("echo") == ()


def test_echo_emit(client):
    """echo-emit -> echo-back (JSON + binary)"""
    args = ("x", {"b": b"\x01\x02", "u": "é😀"}, [b"\x03"])
    client.emit("echo-emit", *args)
    assert client.next_event("echo-back") == args


def test_request_ack_json(client):
    """request-ack: client ack returned (JSON)"""
    client.ack_reply["/"] = lambda *a: ("answer", {"n": 1, "u": "ü"}, [None])
    ack = client.emit_ack("request-ack", "q", 1, {"k": [2]})
    assert client.next_event("ack-request") == ("q", 1, {"k": [2]})
    assert ack == ("answer", {"n": 1, "u": "ü"}, [None])


def test_request_ack_binary(client, kind):
    """request-ack: binary args and binary ack"""
    # The sync client's handler for a binary ack-request can lose the race described in
    # conftest.Harness._observe_wire, and then never answers; it gets JSON args here, and
    # still sends a binary ack. The async client gets binary both ways.
    args = (b"\x01\x02\x03", {"x": b"y"}) if kind == "async" else ("send bytes", {"x": "y"})
    client.ack_reply["/"] = lambda *a: (b"\x09\x08\x07", {"deep": [b""]})
    ack = client.emit_ack("request-ack", *args)
    assert client.next_event("ack-request") == args
    assert ack == (b"\x09\x08\x07", {"deep": [b""]})


# The "timeout" path of request-ack is covered by the Node suite only: python-socketio
# always answers an ack request (a handler returning None sends an empty ack).


def test_rooms(make):
    """rooms: join/to-room/leave (2 clients)"""
    a = make().connect()
    b = make().connect()
    room = f"room-{time.monotonic_ns()}"
    assert a.emit_ack("join", room) == (room,)
    assert b.emit_ack("to-room", room, "room-msg", "hi", {"bin": b"\x05"}) == ()
    assert a.next_event("room-msg") == ("hi", {"bin": b"\x05"})
    assert a.emit_ack("to-room", room, "room-msg", "self") == ()
    assert a.next_event("room-msg") == ("self",)
    assert b.no_event("room-msg") == [], "non-member received the room event"
    assert a.emit_ack("leave", room) == (room,)
    assert b.emit_ack("to-room", room, "room-msg", "after-leave") == ()
    assert a.no_event("room-msg", wait=0.4) == [], "received after leave"


def test_namespaces(make):
    """namespaces / /chat /private multiplexed"""
    h = make().connect(namespaces=("/", "/chat", "/private"), auth={"token": "secret"})
    sids = []
    for ns in ("/", "/chat", "/private"):
        (w,) = h.next_event("welcome", ns=ns)
        assert w == {"sid": h.sid(ns), "namespace": ns}
        sids.append(h.sid(ns))
        assert h.emit_ack("echo", ns, ns.encode(), ns=ns) == (ns, ns.encode())
    assert len(set(sids)) == 3, f"socket ids not distinct: {sids}"
    room = f"nsroom-{time.monotonic_ns()}"
    h.emit_ack("join", room, ns="/chat")
    h.emit_ack("to-room", room, "ns-msg", "from-root", ns="/")
    h.emit_ack("to-room", room, "ns-msg", "from-chat", ns="/chat")
    assert h.next_event("ns-msg", ns="/chat") == ("from-chat",)
    assert h.no_event("ns-msg", ns="/chat") == [], "room leaked across namespaces"


@pytest.mark.parametrize("auth", ["none", "wrong", "non-object"])
def test_private_refused(make, auth):
    """/private refused"""
    h = make()
    value = {"none": None, "wrong": {"token": "wrong"}, "non-object": "secret"}[auth]
    with pytest.raises(socketio.exceptions.ConnectionError):
        h.connect(namespaces=("/private",), auth=value)
    err = h.next_connect_error("/private")
    assert isinstance(err, dict) and err.get("message") == "invalid token", f"connect_error data {err!r}"


def test_unknown_namespace(make):
    """unknown namespace refused"""
    h = make()
    with pytest.raises(socketio.exceptions.ConnectionError):
        h.connect(namespaces=("/nope",))
    err = h.next_connect_error("/nope")
    assert isinstance(err, dict) and err.get("message") == "Invalid namespace", f"connect_error data {err!r}"


def test_refusal_keeps_others(make):
    """refusal keeps other namespaces usable"""
    h = make()
    # wait=False: with wait=True python-socketio itself drops every namespace when one fails
    h.connect(namespaces=("/", "/nope"), wait=False)
    h.next_event("welcome")
    err = h.next_connect_error("/nope")
    assert isinstance(err, dict) and err.get("message") == "Invalid namespace", f"connect_error data {err!r}"
    assert h.emit_ack("echo", "still here") == ("still here",)


def test_disconnect_me(client):
    """disconnect-me -> server disconnect reason, then reconnect"""
    first = client.sid("/")
    client.emit("disconnect-me")
    reason = client.next_disconnect("/")
    # python-socketio's name for a server-side disconnect (socket.io-client: "io server disconnect")
    assert reason == socketio.Client.reason.SERVER_DISCONNECT, f"disconnect reason {reason!r}"
    deadline = time.monotonic() + 5
    while (client.connected or client.sio.eio.state != "disconnected") and time.monotonic() < deadline:
        time.sleep(0.05)
    client.connect()
    (w,) = client.next_event("welcome")
    assert w == {"sid": client.sid("/"), "namespace": "/"}
    assert w["sid"] != first
    assert client.emit_ack("echo", "again") == ("again",)


def test_heartbeat(client):
    """heartbeat: pingInterval 1000, alive after 3.5 s"""
    assert client.sio.eio.ping_interval == 1.0, f"pingInterval {client.sio.eio.ping_interval}"
    time.sleep(3.8)
    assert client.disconnects["/"].empty(), "disconnected during the wait"
    assert client.connected
    assert client.emit_ack("echo", "alive") == ("alive",)


def test_order(client):
    """order: 20 echo-emit -> 20 echo-back in order"""
    sent = [(i, bytes([i]) if i % 3 == 0 else f"n{i}") for i in range(20)]
    for args in sent:
        client.emit("echo-emit", *args)
    got = [client.next_event("echo-back", timeout=8) for _ in sent]
    assert got == sent
