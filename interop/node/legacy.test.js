"use strict";
// Node builds of socket.io-client 2.5.0, 1.7.4 and 1.4.8 (Engine.IO v3, Socket.IO protocol v4)
// against the main port of the interop example server (LEGACY-SERVER.md §1).
const v4 = require("socket.io-client");
const C = require("./lib/common");
const { TRANSPORTS, once, collector, emitAck, assertSame, assert, sleep, describe, UTF8 } = C;

C.setSuite("node-legacy");

const CLIENTS = [
  { label: "socket.io-client@2.5.0", lib: require("socket.io-client-2.5"), socketIdIsNspSid: true, query: true },
  { label: "socket.io-client@1.7.4", lib: require("socket.io-client-1.7"), socketIdIsNspSid: false, query: true },
  { label: "socket.io-client@1.4.8", lib: require("socket.io-client-1.4.8"), socketIdIsNspSid: false, query: false },
];

// socket id a v3 session must have on `nsp` (LEGACY-SERVER.md: sid on "/", "<nsp>#<sid>" elsewhere)
const expectedId = (engineId, nsp) => (nsp === "/" ? engineId : `${nsp}#${engineId}`);

for (const cl of CLIENTS) {
  for (const tr of TRANSPORTS) {
    const reg = (name, fn, opts) => C.check(cl.label, tr.name, name, fn, opts);
    const mopts = () => ({ forceNew: true, reconnection: false, transports: tr.transports, upgrade: tr.upgrade, timeout: 5000 });

    function manager(ctx) {
      const m = cl.lib.Manager(C.env.url, mopts());
      ctx.defer(() => {
        for (const s of Object.values(m.nsps)) s.disconnect();
        m.close ? m.close() : m.disconnect();
      });
      return m;
    }
    // connect `nsp` on manager `m`, wait for connect + welcome
    async function join(m, nsp = "/", sopts) {
      const s = sopts ? m.socket(nsp, sopts) : m.socket(nsp);
      const w = once(s, "welcome", 5000, `welcome on ${nsp}`);
      if (!s.connected) await once(s, "connect", 5000, `connect to ${nsp}`);
      const [welcome] = await w;
      return { s, w: welcome };
    }
    async function connect(ctx, nsp = "/") {
      return join(manager(ctx), nsp);
    }

    reg("connect + welcome (sid = socket id)", async (ctx) => {
      const { s, w } = await connect(ctx);
      const eid = s.io.engine.id;
      assertSame(w, { sid: expectedId(eid, "/"), namespace: "/" });
      assert(s.id === w.sid, `socket.id ${s.id} != welcome.sid ${w.sid}`);
    });

    reg("transport in use", async (ctx) => {
      const { s } = await connect(ctx);
      const eng = s.io.engine;
      if (tr.upgrade) {
        if (eng.transport.name !== "websocket") await once(eng, "upgrade", 5000, "engine upgrade");
        assert(eng.transport.name === "websocket", `transport ${eng.transport.name}`);
      } else {
        await sleep(300);
        assert(eng.transport.name === tr.transports[0], `transport ${eng.transport.name}`);
      }
      assertSame(await emitAck(s, "echo", ["ok"]), ["ok"]);
    });

    reg("echo JSON args", async (ctx) => {
      const { s } = await connect(ctx);
      const args = [1, "two", { three: [true, false, null], four: 4.5 }, [], {}];
      assertSame(await emitAck(s, "echo", args), args);
    });

    reg("echo binary (nested, empty)", async (ctx) => {
      const { s } = await connect(ctx);
      const args = [Buffer.from([1, 2, 3]), { a: Buffer.from([0, 255]), b: [Buffer.alloc(0), { c: Buffer.from("é") }] }, "txt"];
      assertSame(await emitAck(s, "echo", args), args);
    });

    reg("echo non-ASCII (several packets per payload)", async (ctx) => {
      const { s } = await connect(ctx);
      const vals = [UTF8, { "é😀": "😀é" }, "ü", "𝄞𝄞", "日本語テキスト"];
      // back to back: over polling these share payloads in both directions
      const acks = await Promise.all(vals.map((v) => emitAck(s, "echo", [v, "é"])));
      acks.forEach((a, i) => assertSame(a, [vals[i], "é"], `echo ${i}`));
    });

    reg("echo JSON escapes (values and keys)", async (ctx) => {
      const { s } = await connect(ctx);
      const args = [C.ESC_VAL, { [C.ESC_KEY]: C.ESC_VAL }];
      assertSame(await emitAck(s, "echo", args), args);
    });

    reg("echo-emit -> echo-back", async (ctx) => {
      const { s } = await connect(ctx);
      const args = ["x", { b: Buffer.from([1, 2]) }, "é😀"];
      const back = once(s, "echo-back");
      s.emit("echo-emit", ...args);
      assertSame(await back, args);
    });

    reg("request-ack with binary client ack", async (ctx) => {
      const { s } = await connect(ctx);
      let got;
      s.on("ack-request", (...args) => {
        const cb = args.pop();
        got = args;
        cb("re", Buffer.from([7, 7]), { n: "ñ" });
      });
      const ack = await emitAck(s, "request-ack", ["q", Buffer.from([1])]);
      assertSame(got, ["q", Buffer.from([1])]);
      assertSame(ack, ["re", Buffer.from([7, 7]), { n: "ñ" }]);
    });

    reg("rooms mixing v3 and v4 clients", async (ctx) => {
      const a = (await connect(ctx)).s; // v3 member
      const c = (await connect(ctx)).s; // v3 non-member
      const b = v4.io(C.env.url, { forceNew: true, reconnection: false, transports: tr.transports, upgrade: tr.upgrade });
      ctx.defer(() => b.disconnect());
      await once(b, "connect", 5000, "v4 connect");
      const room = `mix-${cl.label}-${tr.name}-${Date.now()}`;
      assertSame(await emitAck(a, "join", [room]), [room]);
      assertSame(await emitAck(b, "join", [room]), [room]);
      const ga = collector(a, "mix"), gb = collector(b, "mix"), gc = collector(c, "mix");
      const payload = ["from v4", { bin: Buffer.from([1, 2, 3]) }, "ascii"];
      assertSame(await emitAck(b, "to-room", [room, "mix", ...payload]), []);
      await ga.wait(1);
      await gb.wait(1);
      assertSame(ga.items[0], payload);
      assertSame(gb.items[0], payload);
      const p2 = ["from v3", Buffer.from([9])];
      assertSame(await emitAck(a, "to-room", [room, "mix", ...p2]), []);
      await ga.wait(2);
      await gb.wait(2);
      assertSame(gb.items[1], p2);
      assertSame(ga.items[1], p2);
      await sleep(300);
      assert(gc.items.length === 0, `non-member got ${describe(gc.items)}`);
      assertSame(await emitAck(a, "leave", [room]), [room]);
      await emitAck(b, "to-room", [room, "mix", "after leave"]);
      await gb.wait(3);
      await sleep(300);
      assert(ga.items.length === 2, `received after leave: ${describe(ga.items.slice(2))}`);
    });

    reg("non-ASCII from a v4 peer (to-room)", async (ctx) => {
      // text that this client did not send itself: it must arrive intact in the
      // framing of this client's own session
      const a = (await connect(ctx)).s;
      const b = v4.io(C.env.url, { forceNew: true, reconnection: false, transports: tr.transports, upgrade: tr.upgrade });
      ctx.defer(() => b.disconnect());
      await once(b, "connect", 5000, "v4 connect");
      const room = `utf8-${cl.label}-${tr.name}-${Date.now()}`;
      assertSame(await emitAck(a, "join", [room]), [room]);
      const ga = collector(a, "mix");
      const payload = ["é😀", { "clé": "日本語" }, UTF8];
      assertSame(await emitAck(b, "to-room", [room, "mix", ...payload]), []);
      await ga.wait(1);
      assertSame(ga.items[0], payload);
      assertSame(await emitAck(a, "echo", ["still connected"]), ["still connected"]);
    });

    reg("namespace /chat multiplexed (id <nsp>#<sid>)", async (ctx) => {
      const m = manager(ctx);
      const root = await join(m, "/");
      const chat = await join(m, "/chat");
      const eid = m.engine.id;
      assertSame(root.w, { sid: expectedId(eid, "/"), namespace: "/" });
      assertSame(chat.w, { sid: expectedId(eid, "/chat"), namespace: "/chat" });
      if (cl.socketIdIsNspSid) assert(chat.s.id === chat.w.sid, `socket.id ${chat.s.id} != ${chat.w.sid}`);
      assertSame(await emitAck(chat.s, "echo", ["on chat", Buffer.from([1])]), ["on chat", Buffer.from([1])]);
      assertSame(await emitAck(root.s, "echo", ["on root"]), ["on root"]);
    });

    if (cl.query) {
      reg("/private with ?token=secret accepted", async (ctx) => {
        const m = manager(ctx);
        await join(m, "/");
        const p = await join(m, "/private", { query: "token=secret" });
        assertSame(p.w, { sid: expectedId(m.engine.id, "/private"), namespace: "/private" });
        assertSame(await emitAck(p.s, "echo", ["secret ok"]), ["secret ok"]);
      });
      reg("/private with wrong token -> error \"invalid token\"", async (ctx) => {
        const m = manager(ctx);
        const root = await join(m, "/");
        const p = m.socket("/private", { query: "token=nope" });
        let connected = false;
        p.on("connect", () => (connected = true));
        const [err] = await once(p, "error", 5000, "error event");
        assert(err === "invalid token", `error ${describe(err)}, expected "invalid token"`);
        assert(!connected, "connected anyway");
        assertSame(await emitAck(root.s, "echo", ["root ok"]), ["root ok"]);
      });
    }

    reg("unknown namespace -> error, connection stays usable", async (ctx) => {
      const m = manager(ctx);
      const root = await join(m, "/");
      const x = m.socket("/nope");
      const [err] = await once(x, "error", 5000, "error event");
      const msg = typeof err === "string" ? err : err && err.message;
      assert(msg === "Invalid namespace", `error ${describe(err)}`);
      assertSame(await emitAck(root.s, "echo", ["root ok"]), ["root ok"]);
    });

    reg("disconnect-me -> 'io server disconnect', then reconnect", async (ctx) => {
      const { s, w } = await connect(ctx);
      const d = once(s, "disconnect", 5000, "disconnect");
      s.emit("disconnect-me");
      const [reason] = await d;
      assert(reason === "io server disconnect", `reason ${describe(reason)}`);
      // 1.x/2.x clients do not reconnect by themselves; the application calls connect().
      // Let the old Engine.IO session finish closing first (the old Manager mixes up
      // the close of the previous engine with the open of the next one otherwise).
      const oldEngine = s.io.engine;
      for (let i = 0; i < 50 && oldEngine.readyState !== "closed"; i++) await sleep(50);
      await sleep(100);
      const w2p = once(s, "welcome", 5000, "welcome after reconnect");
      const cp = once(s, "connect", 5000, "reconnect");
      s.connect();
      await cp;
      const [w2] = await w2p;
      assert(w2.sid !== w.sid, "same sid after a new session");
      assertSame(w2, { sid: expectedId(s.io.engine.id, "/"), namespace: "/" });
      assertSame(await emitAck(s, "echo", ["again"]), ["again"]);
    });

    reg("heartbeat: alive after 3.5 s", async (ctx) => {
      const { s } = await connect(ctx);
      const eng = s.io.engine;
      assert(eng.pingInterval === 1000, `pingInterval ${eng.pingInterval}`);
      let pongs = 0;
      eng.on("pong", () => pongs++);
      let gone = null;
      s.on("disconnect", (r) => (gone = r));
      await sleep(3800);
      assert(gone === null, `disconnected: ${gone}`);
      assert(pongs >= 3, `only ${pongs} pongs in 3.8 s`);
      assertSame(await emitAck(s, "echo", ["alive"]), ["alive"]);
    }, { timeout: 15000 });

    reg("order: 20 echo-emit in order", async (ctx) => {
      const { s } = await connect(ctx);
      const g = collector(s, "echo-back");
      for (let i = 0; i < 20; i++) s.emit("echo-emit", i, `é${i}`);
      await g.wait(20, 8000);
      g.items.forEach((a, i) => assertSame(a, [i, `é${i}`], `echo-back ${i}`));
    });
  }
}
