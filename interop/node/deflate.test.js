"use strict";
// WebSocket permessage-deflate with socket.io-client 4.x (Node build: its `ws`
// transport offers the extension, and compresses messages of 1 KiB and more)
// against the interop server's endpoint with `per_message_deflate` on
// (`--deflate-port`). What goes over the wire is read from the TCP socket
// under the client's `ws`: a large message costs a fraction of its size,
// one emitted with `compress(false)` its full size. (Against the Node reference
// server, `--reference`, "server compress(false) sent uncompressed" fails:
// engine.io 6.6 drops the packet's compress option on WebSocket.)
const C = require("./lib/common");
const { io } = require("socket.io-client");
const { TRANSPORTS, once, emitAck, assert, assertSame } = C;

C.setSuite("node-deflate");
const url = process.env.SOCKIO_DEFLATE_URL || "http://127.0.0.1:3005";
const client = "socket.io-client@4";
// ~200 KB of text that deflates well (a chat log, not random bytes).
const BIG = Array.from({ length: 4000 }, (_, i) => `line ${i}: hello from the interop suite`).join("\n");
const WEBSOCKET = TRANSPORTS.filter((t) => t.transports.includes("websocket"));

async function connect(ctx, tr) {
  const s = io(url, { transports: tr.transports, upgrade: tr.upgrade, forceNew: true, reconnection: false });
  ctx.defer(() => s.disconnect());
  const welcome = once(s, "welcome");
  await once(s, "connect");
  await welcome;
  const eng = s.io.engine;
  if (eng.transport.name !== "websocket") await once(eng, "upgrade", 5000, "engine upgrade");
  const ws = eng.transport.ws;
  assert(ws && ws._socket, "the websocket transport's ws (and its TCP socket) are reachable");
  return { s, ws, tcp: ws._socket };
}

// Bytes read and written on the TCP socket while `fn` runs.
async function wire(tcp, fn) {
  const r = tcp.bytesRead, w = tcp.bytesWritten;
  const out = await fn();
  return { read: tcp.bytesRead - r, written: tcp.bytesWritten - w, out };
}

for (const tr of WEBSOCKET) {
  C.check(client, tr.name, "permessage-deflate negotiated", async (ctx) => {
    const { ws } = await connect(ctx, tr);
    assert(/permessage-deflate/.test(ws.extensions), `extensions: ${JSON.stringify(ws.extensions)}`);
  });

  C.check(client, tr.name, "large message both ways, compressed on the wire", async (ctx) => {
    const { s, tcp } = await connect(ctx, tr);
    const { read, written, out } = await wire(tcp, () => emitAck(s, "echo", [BIG, { n: 1 }]));
    assertSame(out, [BIG, { n: 1 }]);
    assert(written < BIG.length / 4, `client sent ${written} bytes for ${BIG.length}`);
    assert(read < BIG.length / 4, `server sent ${read} bytes for ${BIG.length}`);
  });

  C.check(client, tr.name, "server compress(false) sent uncompressed", async (ctx) => {
    const { s, tcp } = await connect(ctx, tr);
    const { read, out } = await wire(tcp, async () => {
      const back = once(s, "echo-back");
      s.emit("echo-plain", BIG);
      return back;
    });
    assertSame(out, [BIG]);
    assert(read >= BIG.length, `server sent ${read} bytes for ${BIG.length}: compressed`);
  });

  C.check(client, tr.name, "client compress(false) accepted", async (ctx) => {
    const { s, tcp } = await connect(ctx, tr);
    const { written, out } = await wire(tcp, () =>
      new Promise((resolve) => s.compress(false).emit("echo", BIG, (...a) => resolve(a))));
    assertSame(out, [BIG]);
    assert(written >= BIG.length, `client sent ${written} bytes for ${BIG.length}: compressed`);
  });

  C.check(client, tr.name, "small messages (below 1 KiB) in order", async (ctx) => {
    const { s } = await connect(ctx, tr);
    for (let i = 0; i < 20; i++) {
      const [x] = await emitAck(s, "echo", [`m${i}`]);
      assert(x === `m${i}`, `got ${x}, expected m${i}`);
    }
  });
}
