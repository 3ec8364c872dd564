"""Fixtures for the python-socketio suite.

`Harness` gives socketio.Client (sync) and socketio.AsyncClient (run on a private event
loop thread) one blocking API, so every test runs against both clients unchanged. Every
wait is bounded. Results are collected into interop/results/python.md (client x transport x
check) at the end of the session.
"""

import asyncio
import json
import os
import queue
import threading
import time
from pathlib import Path

import engineio
import pytest
import socketio

URL = os.environ.get("SOCKIO_URL", "http://127.0.0.1:3001")
RESULTS_DIR = Path(os.environ.get("INTEROP_RESULTS_DIR", Path(__file__).resolve().parent.parent / "results"))
WAIT = 5.0

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "polling+upgrade": ["polling", "websocket"],
}
KINDS = {"sync": "python-socketio Client", "async": "python-socketio AsyncClient"}
NAMESPACES = ["/", "/chat", "/private", "/nope"]



class Queues(dict):
    """A queue per key, made on first use by whichever thread comes first.

    A defaultdict is not enough here: the client's thread (putting an event)
    and the test's (waiting for it) can both miss the key at once, each build a
    queue, and the one stored last wins, so the other thread's put or get goes
    to a queue nobody else sees. setdefault stores once, atomically.
    """

    def __missing__(self, key):
        return self.setdefault(key, queue.Queue())

class Harness:
    """One python-socketio client (sync or async) with bounded, blocking helpers."""

    def __init__(self, kind, transport):
        self.kind = kind
        self.transports = TRANSPORTS[transport]
        self.events = Queues()  # (namespace, event) -> queue of arg tuples
        self.disconnects = Queues()  # namespace -> queue of reasons
        self.connect_errors = Queues()  # namespace -> queue of data
        self.ack_reply = {}  # namespace -> callable(*args) returning the ack for ack-request
        self.loop = None
        if kind == "async":
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
            self.thread.start()
            self.sio = self._run(self._make_async())
        else:
            self.sio = socketio.Client(reconnection=False, logger=True, engineio_logger=True)
        for ns in NAMESPACES:
            self._register(ns)
        self.wire = kind == "sync"
        if self.wire:
            self._observe_wire()

    # -- sync client: what arrived on the wire, in arrival order ---------------------
    # socketio.Client hands every Engine.IO message to a new thread, so its handlers may
    # run out of order, and a binary attachment can be parsed before its BINARY_EVENT /
    # BINARY_ACK header (known python-socketio client race: the event or ack is then
    # lost). That is the client's own threading, not the server's behaviour, so for the
    # sync client events and acks are read where the client's transport delivers them:
    # Engine.IO messages in arrival order, decoded with python-socketio's own Packet
    # class. The client itself is not changed: the observers call the original methods.
    def _observe_wire(self):
        self.wire_events = Queues()  # (namespace, event) -> arg tuples
        self.wire_acks = Queues()  # (namespace, id) -> arg tuples
        self.wire_errors = []
        self._wire_bin = None
        self._ack_ids = {}
        eio = self.sio.eio
        receive = eio._receive_packet
        gen_ack_id = self.sio._generate_ack_id

        def observed_receive(pkt):
            if pkt.packet_type == engineio.packet.MESSAGE:
                try:
                    self._wire_feed(pkt.data)
                except Exception as e:  # noqa: BLE001 - recorded, reported by the test
                    self.wire_errors.append(repr(e))
            return receive(pkt)

        def observed_gen_ack_id(namespace, callback):
            ack_id = gen_ack_id(namespace, callback)
            self._ack_ids[threading.get_ident()] = (namespace or "/", ack_id)
            return ack_id

        eio._receive_packet = observed_receive
        self.sio._generate_ack_id = observed_gen_ack_id

    def _wire_feed(self, data):
        if self._wire_bin is not None:
            if self._wire_bin.add_attachment(data):
                pkt, self._wire_bin = self._wire_bin, None
                self._wire_deliver(pkt)
            return
        if isinstance(data, bytes):
            self.wire_errors.append(f"binary message without a BINARY packet header: {data[:20]!r}")
            return
        pkt = self.sio.packet_class(encoded_packet=data)
        if pkt.packet_type in (socketio.packet.BINARY_EVENT, socketio.packet.BINARY_ACK) and pkt.attachment_count:
            self._wire_bin = pkt
            return
        self._wire_deliver(pkt)

    def _wire_deliver(self, pkt):
        ns = pkt.namespace or "/"
        if pkt.packet_type in (socketio.packet.EVENT, socketio.packet.BINARY_EVENT):
            self.wire_events[(ns, pkt.data[0])].put(tuple(pkt.data[1:]))
        elif pkt.packet_type in (socketio.packet.ACK, socketio.packet.BINARY_ACK):
            self.wire_acks[(ns, pkt.id)].put(tuple(pkt.data))

    async def _make_async(self):
        return socketio.AsyncClient(reconnection=False, logger=True, engineio_logger=True)

    def _run(self, coro, timeout=WAIT + 5):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _register(self, ns):
        def on_any(event, *args):
            if event == "ack-request":
                self.events[(ns, event)].put(args)
                reply = self.ack_reply.get(ns)
                if reply is None:
                    return None
                return reply(*args)
            self.events[(ns, event)].put(args)
            return None

        def on_disconnect(*args):
            self.disconnects[ns].put(args[0] if args else None)

        def on_connect_error(*args):
            self.connect_errors[ns].put(args[0] if len(args) == 1 else args)

        self.sio.on("*", on_any, namespace=ns)
        self.sio.on("disconnect", on_disconnect, namespace=ns)
        self.sio.on("connect_error", on_connect_error, namespace=ns)

    # -- blocking API -------------------------------------------------------------
    def connect(self, namespaces=("/",), auth=None, wait=True):
        kw = dict(namespaces=list(namespaces), transports=self.transports, wait=wait, wait_timeout=WAIT)
        if auth is not None:
            kw["auth"] = auth
        if self.loop:
            self._run(self.sio.connect(URL, **kw))
        else:
            self.sio.connect(URL, **kw)
        return self

    def emit(self, event, *args, ns="/"):
        if self.loop:
            self._run(self.sio.emit(event, data=tuple(args), namespace=ns))
        else:
            self.sio.emit(event, data=tuple(args), namespace=ns)

    def emit_ack(self, event, *args, ns="/", timeout=WAIT):
        if self.wire:
            self.sio.emit(event, data=tuple(args), namespace=ns, callback=lambda *a: None)
            key = self._ack_ids.pop(threading.get_ident())
            try:
                return self.wire_acks[key].get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no ack for {event!r} on {ns} within {timeout} s"
                                     f"{self._wire_note()}") from None
        got = queue.Queue()

        def cb(*ack):
            got.put(ack)

        if self.loop:
            self._run(self.sio.emit(event, data=tuple(args), namespace=ns, callback=cb))
        else:
            self.sio.emit(event, data=tuple(args), namespace=ns, callback=cb)
        try:
            return got.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no ack for {event!r} on {ns} within {timeout} s") from None

    def _events(self):
        return self.wire_events if self.wire else self.events

    def _wire_note(self):
        return f" (wire decode errors: {self.wire_errors})" if self.wire and self.wire_errors else ""

    def next_event(self, event, ns="/", timeout=WAIT):
        try:
            return self._events()[(ns, event)].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {event!r} event on {ns} within {timeout} s{self._wire_note()}") from None

    def no_event(self, event, ns="/", wait=0.3):
        time.sleep(wait)
        q = self._events()[(ns, event)]
        items = []
        while not q.empty():
            items.append(q.get_nowait())
        return items

    def next_disconnect(self, ns="/", timeout=WAIT):
        try:
            return self.disconnects[ns].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no disconnect on {ns} within {timeout} s") from None

    def next_connect_error(self, ns, timeout=WAIT):
        try:
            return self.connect_errors[ns].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no connect_error on {ns} within {timeout} s") from None

    def sid(self, ns="/"):
        return self.sio.get_sid(ns)

    def transport(self):
        return self.sio.transport()

    @property
    def eio_sid(self):
        return self.sio.eio.sid

    @property
    def connected(self):
        return self.sio.connected

    def close(self):
        try:
            if self.loop:
                self._run(self.sio.disconnect())
            else:
                self.sio.disconnect()
        except Exception:
            pass
        if self.loop:
            try:
                self._run(self._shutdown())
            except Exception:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    async def _shutdown(self):
        # let aiohttp close its sessions
        await asyncio.sleep(0.05)


@pytest.fixture(params=list(KINDS), ids=list(KINDS))
def kind(request):
    return request.param


@pytest.fixture(params=list(TRANSPORTS), ids=list(TRANSPORTS))
def transport(request):
    return request.param


@pytest.fixture
def make(kind, transport):
    """make() -> a new, unconnected Harness for this kind/transport; closed after the test."""
    made = []

    def _make():
        h = Harness(kind, transport)
        made.append(h)
        return h

    yield _make
    for h in made:
        h.close()


@pytest.fixture
def client(make):
    """A Harness connected to "/", with its welcome already received."""
    h = make().connect()
    h.welcome = h.next_event("welcome")
    return h


# ---------------------------------------------------------------- results matrix
_results = []


def pytest_runtest_logreport(report):
    item_params = getattr(report, "_interop", None)
    if item_params is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if report.outcome == "skipped":
            return
        client, tr, check = item_params
        _results.append({"client": client, "transport": tr, "check": check, "ok": report.outcome == "passed",
                         "error": "" if report.outcome == "passed" else _short(report)})


def _short(report):
    text = str(report.longrepr) if report.longrepr else "failed"
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    return " ".join(ln[1:].strip() for ln in lines[:3]) or text.splitlines()[-1]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    cs = getattr(item, "callspec", None)
    if cs and "kind" in cs.params and "transport" in cs.params:
        doc = (item.function.__doc__ or item.originalname).strip().splitlines()[0]
        extra = [f"{k}={v}" for k, v in cs.params.items() if k not in ("kind", "transport")]
        check = doc + (f" [{', '.join(extra)}]" if extra else "")
        rep._interop = (KINDS[cs.params["kind"]], cs.params["transport"], check)


def pytest_sessionfinish(session, exitstatus):
    if not _results:
        return
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    cols, rows = [], []
    for r in _results:
        c = f"{r['client']} / {r['transport']}"
        if c not in cols:
            cols.append(c)
        if r["check"] not in rows:
            rows.append(r["check"])
    cell = {(r["check"], f"{r['client']} / {r['transport']}"): ("pass" if r["ok"] else "**FAIL**") for r in _results}
    passed = sum(1 for r in _results if r["ok"])
    failed = len(_results) - passed
    md = f"## python\n\n{passed} passed, {failed} failed\n\n"
    md += "| check | " + " | ".join(cols) + " |\n|---|" + "|".join("---" for _ in cols) + "|\n"
    for row in rows:
        md += f"| {row} | " + " | ".join(cell.get((row, c), "–") for c in cols) + " |\n"
    fails = [r for r in _results if not r["ok"]]
    if fails:
        md += "\nFailures:\n\n" + "".join(f"- {r['client']} / {r['transport']} / {r['check']}: {r['error']}\n" for r in fails)
    (RESULTS_DIR / "python.md").write_text(md)
    (RESULTS_DIR / "python.json").write_text(json.dumps({"suite": "python", "passed": passed, "failed": failed,
                                                         "results": _results}, indent=1))
    print("\n" + md)
