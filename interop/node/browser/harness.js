// Runs inside Chromium, next to an unmodified browser build of socket.io-client 1.x/2.x
// (global `io`). The Node side calls window.runCheck(name, options) and gets
// {ok: true} or {ok: false, error}. Binaries are ArrayBuffers, as a page would use.
/* global io */
(function () {
  "use strict";
  var WAIT = 5000;

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function within(p, ms, what) {
    var t;
    return Promise.race([p, new Promise(function (_, rej) {
      t = setTimeout(function () { rej(new Error("timed out after " + ms + " ms waiting for " + what)); }, ms);
    })]).finally(function () { clearTimeout(t); });
  }
  function once(em, ev, ms, what) {
    return within(new Promise(function (res) {
      em.once(ev, function () { res(Array.prototype.slice.call(arguments)); });
    }), ms || WAIT, what || ('event "' + ev + '"'));
  }
  function collector(em, ev) {
    var items = [], waiters = [];
    em.on(ev, function () {
      items.push(Array.prototype.slice.call(arguments));
      waiters = waiters.filter(function (w) { if (items.length >= w.n) { w.res(); return false; } return true; });
    });
    return {
      items: items,
      wait: function (n, ms) {
        if (items.length >= n) return Promise.resolve();
        return within(new Promise(function (res) { waiters.push({ n: n, res: res }); }), ms || WAIT,
          n + ' "' + ev + '" events (got ' + items.length + ")");
      },
    };
  }
  function emitAck(s, ev, args, ms) {
    return within(new Promise(function (res) {
      s.emit.apply(s, [ev].concat(args, [function () { res(Array.prototype.slice.call(arguments)); }]));
    }), ms || WAIT, 'ack of "' + ev + '"');
  }
  function bin(arr) { return new Uint8Array(arr).buffer; }
  function isBin(x) { return x instanceof ArrayBuffer || ArrayBuffer.isView(x) || (typeof Blob !== "undefined" && x instanceof Blob); }
  function desc(x) {
    if (x instanceof ArrayBuffer) return "<ArrayBuffer " + x.byteLength + ">";
    try { var s = JSON.stringify(x); return s === undefined ? String(x) : s.slice(0, 200); } catch (e) { return String(x); }
  }
  function same(a, e, where) {
    where = where || "$";
    if (isBin(e)) {
      if (!(a instanceof ArrayBuffer)) throw new Error(where + ": expected an ArrayBuffer, got " + desc(a));
      var x = new Uint8Array(a), y = new Uint8Array(e);
      if (x.length !== y.length) throw new Error(where + ": binary length " + x.length + ", expected " + y.length);
      for (var i = 0; i < x.length; i++) if (x[i] !== y[i]) throw new Error(where + ": binary differs at " + i);
      return;
    }
    if (Array.isArray(e)) {
      if (!Array.isArray(a) || a.length !== e.length) throw new Error(where + ": got " + desc(a) + ", expected " + desc(e));
      e.forEach(function (v, i) { same(a[i], v, where + "[" + i + "]"); });
      return;
    }
    if (e !== null && typeof e === "object") {
      if (a === null || typeof a !== "object" || Array.isArray(a)) throw new Error(where + ": expected object, got " + desc(a));
      var ek = Object.keys(e).sort(), ak = Object.keys(a).sort();
      if (JSON.stringify(ek) !== JSON.stringify(ak)) throw new Error(where + ": keys " + JSON.stringify(ak) + ", expected " + JSON.stringify(ek));
      ek.forEach(function (k) { same(a[k], e[k], where + "[" + JSON.stringify(k) + "]"); });
      return;
    }
    if (a !== e) throw new Error(where + ": got " + desc(a) + ", expected " + desc(e));
  }
  function assert(c, m) { if (!c) throw new Error(m); }
  function expectedId(eid, nsp) { return nsp === "/" ? eid : nsp + "#" + eid; }

  var UTF8 = "héllo wörld ✓ 日本語 😀 𝄞 Ω";

  // one run = one Manager, closed at the end
  function Run(o) {
    this.o = o;
    this.m = io.Manager(o.url, { forceNew: true, reconnection: false, transports: o.transports, upgrade: o.upgrade, timeout: 5000 });
  }
  Run.prototype.join = function (nsp, sopts) {
    var s = sopts ? this.m.socket(nsp, sopts) : this.m.socket(nsp);
    var w = once(s, "welcome", WAIT, "welcome on " + nsp);
    var c = s.connected ? Promise.resolve() : once(s, "connect", WAIT, "connect to " + nsp);
    w.catch(function () {}); // reported through the chain below, never as an unhandled rejection
    return c.then(function () { return w; }).then(function (wv) { return { s: s, w: wv[0] }; });
  };
  Run.prototype.close = function () {
    var m = this.m;
    Object.keys(m.nsps).forEach(function (k) { try { m.nsps[k].disconnect(); } catch (e) {} });
    try { m.close ? m.close() : m.disconnect(); } catch (e) {}
  };

  var checks = {
    "connect + welcome (sid = socket id)": async function (r) {
      var c = await r.join("/");
      assert(c.w && c.w.sid === expectedId(r.m.engine.id, "/") && c.w.namespace === "/",
        "welcome " + desc(c.w) + ", engine id " + r.m.engine.id);
      assert(c.s.id === c.w.sid, "socket.id " + c.s.id + " != welcome.sid " + c.w.sid);
    },
    "transport in use": async function (r, o) {
      var c = await r.join("/");
      var eng = r.m.engine;
      if (o.upgrade) {
        if (eng.transport.name !== "websocket") await once(eng, "upgrade", WAIT, "engine upgrade");
        assert(eng.transport.name === "websocket", "transport " + eng.transport.name);
      } else {
        await sleep(300);
        assert(eng.transport.name === o.transports[0], "transport " + eng.transport.name);
        // the premise of this suite: the browser build polls without b64=1 (XHR2 binary payloads)
        if (eng.transport.name === "polling")
          assert(eng.transport.supportsBinary === true, "browser build polls with b64=1 (supportsBinary false)");
      }
      same(await emitAck(c.s, "echo", ["ok"]), ["ok"]);
    },
    "echo JSON args": async function (r) {
      var c = await r.join("/");
      var a = [1, "two", { three: [true, false, null], four: 4.5 }, [], {}];
      same(await emitAck(c.s, "echo", a), a);
    },
    "echo binary (nested, empty)": async function (r) {
      var c = await r.join("/");
      var a = [bin([1, 2, 3]), { a: bin([0, 255]), b: [bin([]), { c: bin([195, 169]) }] }, "txt"];
      same(await emitAck(c.s, "echo", a), a);
    },
    "echo non-ASCII (several packets per payload)": async function (r) {
      var c = await r.join("/");
      var vals = [UTF8, { "é😀": "😀é" }, "ü", "𝄞𝄞", "日本語テキスト"];
      var acks = await Promise.all(vals.map(function (v) { return emitAck(c.s, "echo", [v, "é"]); }));
      acks.forEach(function (a, i) { same(a, [vals[i], "é"], "echo " + i); });
    },
    "echo-emit -> echo-back (binary + non-ASCII)": async function (r) {
      var c = await r.join("/");
      var a = ["x", { b: bin([1, 2]) }, "é😀"];
      var back = once(c.s, "echo-back");
      c.s.emit.apply(c.s, ["echo-emit"].concat(a));
      same(await back, a);
    },
    "request-ack with binary client ack": async function (r) {
      var c = await r.join("/");
      var got;
      c.s.on("ack-request", function () {
        var args = Array.prototype.slice.call(arguments);
        var cb = args.pop();
        got = args;
        cb("re", bin([7, 7]), { n: "ñ" });
      });
      var ack = await emitAck(c.s, "request-ack", ["q", bin([1])]);
      same(got, ["q", bin([1])]);
      same(ack, ["re", bin([7, 7]), { n: "ñ" }]);
    },
    "namespace /chat multiplexed (id <nsp>#<sid>)": async function (r, o) {
      var root = await r.join("/");
      var chat = await r.join("/chat");
      var eid = r.m.engine.id;
      same(root.w, { sid: expectedId(eid, "/"), namespace: "/" });
      same(chat.w, { sid: expectedId(eid, "/chat"), namespace: "/chat" });
      if (o.socketIdIsNspSid) assert(chat.s.id === chat.w.sid, "socket.id " + chat.s.id);
      same(await emitAck(chat.s, "echo", ["on chat", bin([1])]), ["on chat", bin([1])]);
    },
    "/private with ?token=secret accepted": async function (r) {
      await r.join("/");
      var p = await r.join("/private", { query: "token=secret" });
      same(p.w, { sid: expectedId(r.m.engine.id, "/private"), namespace: "/private" });
      same(await emitAck(p.s, "echo", ["secret ok"]), ["secret ok"]);
    },
    "/private with wrong token -> error \"invalid token\"": async function (r) {
      var root = await r.join("/");
      var p = r.m.socket("/private", { query: "token=nope" });
      var e = await once(p, "error", WAIT, "error event");
      assert(e[0] === "invalid token", "error " + desc(e[0]));
      same(await emitAck(root.s, "echo", ["root ok"]), ["root ok"]);
    },
    "unknown namespace -> error, connection stays usable": async function (r) {
      var root = await r.join("/");
      var x = r.m.socket("/nope");
      var e = (await once(x, "error", WAIT, "error event"))[0];
      var msg = typeof e === "string" ? e : e && e.message;
      assert(msg === "Invalid namespace", "error " + desc(e));
      same(await emitAck(root.s, "echo", ["root ok"]), ["root ok"]);
    },
    "disconnect-me -> 'io server disconnect', then reconnect": async function (r) {
      var c = await r.join("/");
      var d = once(c.s, "disconnect", WAIT, "disconnect");
      c.s.emit("disconnect-me");
      var reason = (await d)[0];
      assert(reason === "io server disconnect", "reason " + desc(reason));
      var old = r.m.engine;
      for (var i = 0; i < 50 && old.readyState !== "closed"; i++) await sleep(50);
      await sleep(100);
      var w2 = once(c.s, "welcome", WAIT, "welcome after reconnect");
      var cp = once(c.s, "connect", WAIT, "reconnect");
      c.s.connect();
      await cp;
      var w = (await w2)[0];
      assert(w.sid !== c.w.sid, "same sid after a new session");
      same(w, { sid: expectedId(r.m.engine.id, "/"), namespace: "/" });
      same(await emitAck(c.s, "echo", ["again"]), ["again"]);
    },
    "heartbeat: alive after 3.5 s": async function (r) {
      var c = await r.join("/");
      var eng = r.m.engine;
      assert(eng.pingInterval === 1000, "pingInterval " + eng.pingInterval);
      var gone = null;
      c.s.on("disconnect", function (x) { gone = x; });
      await sleep(3800);
      assert(gone === null, "disconnected: " + gone);
      same(await emitAck(c.s, "echo", ["alive"]), ["alive"]);
    },
    "order: 20 echo-emit in order": async function (r) {
      var c = await r.join("/");
      var g = collector(c.s, "echo-back");
      for (var i = 0; i < 20; i++) c.s.emit("echo-emit", i, "é" + i);
      await g.wait(20, 8000);
      g.items.forEach(function (a, i) { same(a, [i, "é" + i], "echo-back " + i); });
    },
  };

  window.checkNames = Object.keys(checks);
  window.runCheck = async function (name, o) {
    var r = new Run(o);
    try {
      await checks[name](r, o);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e && e.message || e) };
    } finally {
      r.close();
    }
  };
})();
