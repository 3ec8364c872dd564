"use strict";
// engine.io-client 6 against the bare Engine.IO echo example (path /engine.io/).
const { Socket } = require("engine.io-client");
const C = require("./lib/common");
const { TRANSPORTS, once, collector, assertSame, assert, sleep, describe } = C;

C.setSuite(process.env.INTEROP_SUITE || "node-engine");
const CLIENT = "engine.io-client@6";

for (const tr of TRANSPORTS) {
  async function open(ctx) {
    const s = new Socket(C.env.engineUrl, {
      path: "/engine.io/",
      transports: tr.transports,
      upgrade: tr.upgrade,
    });
    ctx.defer(() => s.close());
    await once(s, "open", 5000, "open");
    return s;
  }
  const reg = (name, fn, opts) => C.check(CLIENT, tr.name, name, fn, opts);

  reg("open (handshake)", async (ctx) => {
    const s = await open(ctx);
    assert(typeof s.id === "string" && s.id.length > 0, `sid ${describe(s.id)}`);
    if (tr.upgrade) {
      if (s.transport.name !== "websocket") await once(s, "upgrade", 5000, "upgrade");
      assert(s.transport.name === "websocket", `transport ${s.transport.name} after upgrade`);
    } else {
      await sleep(200);
      assert(s.transport.name === tr.transports[0], `transport ${s.transport.name}`);
    }
  });

  reg("text echo (ASCII, UTF-8)", async (ctx) => {
    const s = await open(ctx);
    const g = collector(s, "message");
    const msgs = ["hello", "héllo 😀 日本", '{"json":"\\"quoted\\""}'];
    for (const m of msgs) s.send(m);
    await g.wait(msgs.length);
    assertSame(g.items.map((a) => a[0]), msgs);
  });

  reg("binary echo (incl. empty, 100 kB)", async (ctx) => {
    const s = await open(ctx);
    const g = collector(s, "message");
    const big = Buffer.alloc(100 * 1024, 0xab);
    const msgs = [Buffer.from([1, 2, 3, 4]), Buffer.alloc(0), big, Buffer.from([0, 255])];
    for (const m of msgs) s.send(m);
    await g.wait(msgs.length, 8000);
    g.items.forEach((a, i) => assertSame(a[0], msgs[i], `message ${i}`));
  });

  reg("text and binary interleaved, in order", async (ctx) => {
    const s = await open(ctx);
    const g = collector(s, "message");
    const msgs = [];
    for (let i = 0; i < 20; i++) msgs.push(i % 2 ? Buffer.from([i]) : `m${i}`);
    for (const m of msgs) s.send(m);
    await g.wait(msgs.length, 8000);
    g.items.forEach((a, i) => assertSame(a[0], msgs[i], `message ${i}`));
  });

  reg("client close", async (ctx) => {
    const s = await open(ctx);
    const c = once(s, "close", 5000, "close");
    s.close();
    const [reason] = await c;
    assert(reason === "forced close", `close reason ${describe(reason)}`);
    // the server still accepts new sessions afterwards
    const s2 = await open(ctx);
    const m = once(s2, "message");
    s2.send("after close");
    assertSame((await m)[0], "after close");
  });
}
