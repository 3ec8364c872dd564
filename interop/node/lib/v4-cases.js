"use strict";
// socket.io-client 4.x (Node build) against the interop example server (INTEROP-SERVER.md).
// Also used for the msgpack endpoint (LEGACY-SERVER.md §2) through msgpack.test.js.

const { io, Manager } = require("socket.io-client");
const C = require("./common");
const { TRANSPORTS, once, collector, emitAck, assertSame, assert, describe, sleep, payloads } = C;

/**
 * Register the whole v4 matrix.
 * @param {object} o
 * @param {string} o.client   client label in the matrix
 * @param {string} o.url      server URL
 * @param {object} [o.extra]  extra Manager options (e.g. {parser})
 * @param {string[]} [o.only] restrict to these check names (msgpack suite)
 * @param {boolean} [o.msgpack] add the msgpack-only checks
 */
function register(o) {
  const base = (tr) => ({
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    transports: tr.transports,
    upgrade: tr.upgrade,
    ...(o.extra || {}),
  });
  const P = payloads();

  for (const tr of TRANSPORTS) {
    const want = (name) => !o.only || o.only.includes(name);
    const reg = (name, fn, opts) => {
      if (want(name)) C.check(o.client, tr.name, name, fn, opts);
    };

    // Connect to `nsp` and wait for both `connect` and `welcome`.
    async function connect(ctx, nsp = "/", opts = {}) {
      const s = io(o.url + (nsp === "/" ? "" : nsp), { ...base(tr), ...opts });
      ctx.defer(() => s.disconnect());
      const welcome = once(s, "welcome", 5000, `welcome on ${nsp}`);
      await once(s, "connect", 5000, `connect to ${nsp}`);
      const [w] = await welcome;
      return { s, w };
    }

    reg("connect + welcome {sid, namespace}", async (ctx) => {
      const { s, w } = await connect(ctx);
      assertSame(w, { sid: s.id, namespace: "/" });
      assert(typeof s.id === "string" && s.id.length > 0, "socket.id empty");
      assert(s.id !== s.io.engine.id, `socket id ${s.id} equals the Engine.IO sid (must differ in v5)`);
    });

    reg("transport in use", async (ctx) => {
      const { s } = await connect(ctx);
      const eng = s.io.engine;
      if (tr.upgrade) {
        if (eng.transport.name !== "websocket") await once(eng, "upgrade", 5000, "engine upgrade");
        assert(eng.transport.name === "websocket", `transport ${eng.transport.name}, expected websocket after upgrade`);
      } else {
        await sleep(300);
        assert(eng.transport.name === tr.transports[0], `transport ${eng.transport.name}, expected ${tr.transports[0]}`);
      }
      const [v] = await emitAck(s, "echo", ["after-transport-check"]);
      assertSame(v, "after-transport-check");
    });

    reg("echo JSON args", async (ctx) => {
      const { s } = await connect(ctx);
      assertSame(await emitAck(s, "echo", P.json), P.json);
    });

    reg("echo binary (nested in objects/arrays)", async (ctx) => {
      const { s } = await connect(ctx);
      assertSame(await emitAck(s, "echo", P.binary), P.binary);
    });

    reg("echo empty binaries", async (ctx) => {
      const { s } = await connect(ctx);
      assertSame(await emitAck(s, "echo", P.emptyBinary), P.emptyBinary);
    });

    reg("echo 300 kB binary", async (ctx) => {
      const { s } = await connect(ctx);
      const args = [P.big, { nested: P.big.subarray(0, 1000) }];
      assertSame(await emitAck(s, "echo", args, 10000), args);
    });

    reg("echo UTF-8 (values and keys)", async (ctx) => {
      const { s } = await connect(ctx);
      assertSame(await emitAck(s, "echo", P.utf8), P.utf8);
    });

    reg("echo JSON escapes (values and keys)", async (ctx) => {
      const { s } = await connect(ctx);
      assertSame(await emitAck(s, "echo", P.escapes), P.escapes);
    });

    reg("echo keeps object key order", async (ctx) => {
      const { s } = await connect(ctx);
      const [v] = await emitAck(s, "echo", [P.keyOrder]);
      assert(JSON.stringify(v) === JSON.stringify(P.keyOrder),
        `key order changed: sent ${JSON.stringify(P.keyOrder)}, got ${JSON.stringify(v)}`);
    });

    reg("echo with no args acks with no args", async (ctx) => {
      const { s } = await connect(ctx);
      const ack = await emitAck(s, "echo", []);
      assert(ack.length === 0, `ack args ${describe(ack)}, expected none`);
    });

    reg("echo-emit -> echo-back (JSON + binary)", async (ctx) => {
      const { s } = await connect(ctx);
      const args = ["x", { b: Buffer.from([1, 2]), u: "é😀" }, [Buffer.from([3])]];
      const back = once(s, "echo-back");
      s.emit("echo-emit", ...args);
      assertSame(await back, args);
    });

    reg("request-ack: client ack returned (JSON)", async (ctx) => {
      const { s } = await connect(ctx);
      let got;
      s.on("ack-request", (...args) => {
        const cb = args.pop();
        got = args;
        cb("answer", { n: 1, u: "ü" }, [null]);
      });
      const ack = await emitAck(s, "request-ack", ["q", 1, { k: [2] }]);
      assertSame(got, ["q", 1, { k: [2] }]);
      assertSame(ack, ["answer", { n: 1, u: "ü" }, [null]]);
    });

    reg("request-ack: binary args and binary ack", async (ctx) => {
      const { s } = await connect(ctx);
      let got;
      s.on("ack-request", (...args) => {
        const cb = args.pop();
        got = args;
        cb(Buffer.from([9, 8, 7]), { deep: [Buffer.from([])] });
      });
      const ack = await emitAck(s, "request-ack", [Buffer.from([1, 2, 3]), { x: Buffer.from("y") }]);
      assertSame(got, [Buffer.from([1, 2, 3]), { x: Buffer.from("y") }]);
      assertSame(ack, [Buffer.from([9, 8, 7]), { deep: [Buffer.from([])] }]);
    });

    reg("request-ack: no client ack -> \"timeout\"", async (ctx) => {
      const { s } = await connect(ctx);
      let asked = false;
      s.on("ack-request", () => (asked = true)); // never calls the ack
      const ack = await emitAck(s, "request-ack", ["t"], 9000);
      assert(asked, "ack-request never arrived");
      assertSame(ack, ["timeout"]);
    }, { timeout: 15000 });

    reg("rooms: join/to-room/leave (2 clients)", async (ctx) => {
      const a = (await connect(ctx)).s;
      const b = (await connect(ctx)).s;
      const ga = collector(a, "room-msg");
      const gb = collector(b, "room-msg");
      const room = `room-${tr.name}-${Date.now()}`;
      assertSame(await emitAck(a, "join", [room]), [room]);
      // non-member sender: member receives, sender does not
      assertSame(await emitAck(b, "to-room", [room, "room-msg", "hi", { bin: Buffer.from([5]) }]), []);
      await ga.wait(1);
      assertSame(ga.items[0], ["hi", { bin: Buffer.from([5]) }]);
      // member sender receives too
      assertSame(await emitAck(a, "to-room", [room, "room-msg", "self"]), []);
      await ga.wait(2);
      assertSame(ga.items[1], ["self"]);
      await sleep(300);
      assert(gb.items.length === 0, `non-member received ${describe(gb.items)}`);
      // after leave: nothing
      assertSame(await emitAck(a, "leave", [room]), [room]);
      assertSame(await emitAck(b, "to-room", [room, "room-msg", "after-leave"]), []);
      await sleep(400);
      assert(ga.items.length === 2, `received after leave: ${describe(ga.items.slice(2))}`);
    });

    reg("namespaces / /chat /private multiplexed", async (ctx) => {
      const m = new Manager(o.url, base(tr));
      const socks = {
        "/": m.socket("/"),
        "/chat": m.socket("/chat"),
        "/private": m.socket("/private", { auth: { token: "secret" } }),
      };
      ctx.defer(() => Object.values(socks).forEach((s) => s.disconnect()));
      const ids = [];
      await Promise.all(Object.entries(socks).map(async ([nsp, s]) => {
        const w = once(s, "welcome", 5000, `welcome on ${nsp}`);
        s.connect();
        await once(s, "connect", 5000, `connect to ${nsp}`);
        const [wv] = await w;
        assertSame(wv, { sid: s.id, namespace: nsp });
        ids.push(s.id);
      }));
      assert(new Set(ids).size === 3, `socket ids not distinct: ${ids}`);
      // one Engine.IO connection carries all three
      assert(Object.values(socks).every((s) => s.io === m) && m.engine, "not multiplexed");
      for (const [nsp, s] of Object.entries(socks)) {
        assertSame(await emitAck(s, "echo", [nsp, Buffer.from(nsp)]), [nsp, Buffer.from(nsp)]);
      }
      // rooms are per namespace: a room joined on /chat does not receive to-room on /
      const room = `nsroom-${Date.now()}`;
      const gc = collector(socks["/chat"], "ns-msg");
      await emitAck(socks["/chat"], "join", [room]);
      await emitAck(socks["/"], "to-room", [room, "ns-msg", "from-root"]);
      await emitAck(socks["/private"], "to-room", [room, "ns-msg", "from-private"]);
      await emitAck(socks["/chat"], "to-room", [room, "ns-msg", "from-chat"]);
      await gc.wait(1);
      await sleep(200);
      assertSame(gc.items, [["from-chat"]]);
    });

    reg("/private accepted with auth {token: \"secret\"}", async (ctx) => {
      const { s, w } = await connect(ctx, "/private", { auth: { token: "secret" } });
      assertSame(w, { sid: s.id, namespace: "/private" });
      assertSame(await emitAck(s, "echo", ["in private"]), ["in private"]);
    });

    const refused = (label, nsp, auth, expected) =>
      reg(label, async (ctx) => {
        const s = io(o.url + nsp, { ...base(tr), ...(auth !== undefined ? { auth } : {}) });
        ctx.defer(() => s.disconnect());
        let connected = false;
        s.on("connect", () => (connected = true));
        const [err] = await once(s, "connect_error", 5000, "connect_error");
        assert(err && err.message === expected,
          `connect_error message ${describe(err && err.message)}, expected ${JSON.stringify(expected)}`);
        await sleep(100);
        assert(!connected && !s.connected, "socket connected anyway");
      });
    refused("/private refused: no auth", "/private", undefined, "invalid token");
    refused("/private refused: wrong token", "/private", { token: "wrong" }, "invalid token");
    refused("/private refused: non-object auth", "/private", "secret", "invalid token");
    refused("unknown namespace refused", "/nope", undefined, "Invalid namespace");

    reg("refusal keeps other namespaces usable", async (ctx) => {
      const m = new Manager(o.url, base(tr));
      const root = m.socket("/");
      const bad = m.socket("/nope");
      const priv = m.socket("/private", { auth: { token: "bad" } });
      ctx.defer(() => [root, bad, priv].forEach((s) => s.disconnect()));
      const c = once(root, "connect", 5000, "connect to /");
      const e1 = once(bad, "connect_error", 5000, "connect_error on /nope");
      const e2 = once(priv, "connect_error", 5000, "connect_error on /private");
      root.connect(); bad.connect(); priv.connect();
      await c;
      assert((await e1)[0].message === "Invalid namespace", "unknown namespace message");
      assert((await e2)[0].message === "invalid token", "/private message");
      assertSame(await emitAck(root, "echo", ["still here"]), ["still here"]);
    });

    reg("disconnect-me -> 'io server disconnect', then reconnect", async (ctx) => {
      const { s, w } = await connect(ctx);
      const firstSid = w.sid;
      const d = once(s, "disconnect", 5000, "disconnect");
      s.emit("disconnect-me");
      const [reason] = await d;
      assert(reason === "io server disconnect", `disconnect reason ${describe(reason)}`);
      assert(!s.connected, "still connected");
      // the application reconnects: a new connect + welcome
      const w2p = once(s, "welcome", 5000, "welcome after reconnect");
      s.connect();
      await once(s, "connect", 5000, "reconnect");
      const [w2] = await w2p;
      assertSame(w2, { sid: s.id, namespace: "/" });
      assert(w2.sid !== firstSid, "same socket id after reconnect");
      assertSame(await emitAck(s, "echo", ["again"]), ["again"]);
    });

    reg("disconnect-me on /chat leaves / connected", async (ctx) => {
      const m = new Manager(o.url, base(tr));
      const root = m.socket("/");
      const chat = m.socket("/chat");
      ctx.defer(() => [root, chat].forEach((s) => s.disconnect()));
      const c1 = once(root, "connect"), c2 = once(chat, "connect");
      root.connect(); chat.connect();
      await c1; await c2;
      const d = once(chat, "disconnect");
      let rootGone = null;
      root.on("disconnect", (r) => (rootGone = r));
      chat.emit("disconnect-me");
      assert((await d)[0] === "io server disconnect", "chat disconnect reason");
      assertSame(await emitAck(root, "echo", ["root ok"]), ["root ok"]);
      assert(rootGone === null, `/ disconnected too: ${rootGone}`);
    });

    reg("heartbeat: pingInterval 1000, alive after 3.5 s", async (ctx) => {
      const { s } = await connect(ctx);
      const eng = s.io.engine;
      assert(eng._pingInterval === 1000 || eng.pingInterval === 1000,
        `handshake pingInterval ${eng._pingInterval ?? eng.pingInterval}, expected 1000`);
      let pings = 0;
      eng.on("ping", () => pings++);
      let gone = null;
      s.on("disconnect", (r) => (gone = r));
      await sleep(3800);
      assert(gone === null, `disconnected during the wait: ${gone}`);
      assert(pings >= 3, `only ${pings} pings in 3.8 s`);
      assertSame(await emitAck(s, "echo", ["alive"]), ["alive"]);
    }, { timeout: 15000 });

    reg("order: 20 echo-emit -> 20 echo-back in order", async (ctx) => {
      const { s } = await connect(ctx);
      const g = collector(s, "echo-back");
      for (let i = 0; i < 20; i++) s.emit("echo-emit", i, i % 3 === 0 ? Buffer.from([i]) : `n${i}`);
      await g.wait(20, 8000);
      const got = g.items.map((a) => a[0]);
      assertSame(got, [...Array(20).keys()]);
      g.items.forEach((a, i) => assertSame(a, [i, i % 3 === 0 ? Buffer.from([i]) : `n${i}`]));
    });

    if (o.msgpack) {
      reg("undefined argument survives", async (ctx) => {
        const { s } = await connect(ctx);
        const ack = await emitAck(s, "echo", [undefined, 1, { u: undefined, v: 2 }]);
        assert(ack.length === 3, `ack ${describe(ack)}`);
        assert(ack[0] === undefined || ack[0] === null, `first arg ${describe(ack[0])}`);
        assert(ack[1] === 1, `second arg ${describe(ack[1])}`);
        assert(ack[2] && ack[2].v === 2 && (ack[2].u === undefined || ack[2].u === null), `third ${describe(ack[2])}`);
        assert(s.connected, "disconnected");
        assertSame(await emitAck(s, "echo", ["still connected"]), ["still connected"]);
      });
    }
  }
}

module.exports = { register };
