"use strict";
// Connection state recovery with socket.io-client 4.x (its own recovery logic,
// unmodified) against the interop server's recovery endpoint
// (`--recovery-port`): the connection drops, an event is sent meanwhile, the
// client comes back with the same id, rooms and the missed event.
const C = require("./lib/common");
const { io } = require("socket.io-client");
const { TRANSPORTS, once, emitAck, assert, sleep } = C;

C.setSuite("node-recovery");
const url = process.env.SOCKIO_RECOVERY_URL || "http://127.0.0.1:3004";
const client = "socket.io-client@4";

function open(tr, opts = {}) {
  return io(url, {
    transports: tr.transports,
    upgrade: tr.upgrade,
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    ...opts,
  });
}

// Resolves when the socket is connected again after a drop.
function reconnected(s) {
  return once(s, "connect", 10000, "the reconnection");
}

for (const tr of TRANSPORTS) {
  C.check(client, tr.name, "recovered: same id, socket.recovered", async (ctx) => {
    const s = open(tr);
    ctx.defer(() => s.close());
    const welcome = once(s, "welcome"); // one event, so the client holds an offset
    await once(s, "connect");
    assert(s.recovered === false, "a first connection is not recovered");
    const id = s.id;
    await welcome;
    s.io.engine.close(); // the transport drops (not a deliberate disconnect)
    await reconnected(s);
    assert(s.recovered === true, `recovered: ${s.recovered}`);
    assert(s.id === id, `id ${s.id}, was ${id}`);
  });

  C.check(client, tr.name, "event sent while away is delivered, rooms kept", async (ctx) => {
    const a = open(tr);
    const b = open(tr);
    ctx.defer(() => a.close());
    ctx.defer(() => b.close());
    await Promise.all([once(a, "welcome"), once(b, "welcome")]);
    await emitAck(a, "join", ["r"]);
    const got = [];
    a.on("news", (text) => got.push(text));
    // Hold A's reconnection until the event was sent.
    a.io.reconnectionDelay(2000);
    a.io.reconnectionDelayMax(2000);
    const dropped = once(a, "disconnect");
    a.io.engine.close();
    await dropped;
    await sleep(100); // the server has seen the transport close
    await emitAck(b, "to-room", ["r", "news", "while away"]);
    await reconnected(a);
    assert(a.recovered === true, "recovered");
    for (let i = 0; i < 50 && !got.includes("while away"); i++) await sleep(20);
    assert(got.includes("while away"), `missed event delivered: ${JSON.stringify(got)}`);
    // Still in room r.
    await emitAck(b, "to-room", ["r", "news", "after"]);
    for (let i = 0; i < 50 && !got.includes("after"); i++) await sleep(20);
    assert(got.includes("after"), `room kept: ${JSON.stringify(got)}`);
    assert(got.filter((t) => t === "while away").length === 1, "delivered once");
  });

  C.check(client, tr.name, "deliberate disconnect: a new socket", async (ctx) => {
    const s = open(tr);
    ctx.defer(() => s.close());
    await once(s, "welcome");
    const id = s.id;
    s.disconnect();
    s.connect();
    await once(s, "connect");
    assert(s.recovered === false, "not recovered after disconnect()");
    assert(s.id !== id, "a new id");
  });
}


