"use strict";
// Reference implementation of the interop contract (INTEROP-SERVER.md, LEGACY-SERVER.md)
// on the stock Node servers (socket.io 4 with allowEIO3, engine.io 6). It exists only to
// check the suites themselves: `scripts/interop.sh --reference` runs every suite against
// it. Known differences from the sockio contract (so expected failures here):
//   - non-object auth is rejected by Node's parser as an invalid packet (the connection
//     is closed) instead of a CONNECT_ERROR "invalid token";
//   - v3 browser builds get text-only polling payloads as text (LEGACY-SERVER.md says
//     Node gets non-ASCII text wrong for 1.x browser builds);
//   - `socket.compress(false)` has no effect over WebSocket: engine.io 6.6's WebSocket
//     transport calls `ws.send(data, cb)` without the packet's `compress` option, so
//     node-deflate's "server compress(false) sent uncompressed" fails here (the
//     documented behaviour, which sockio follows, is an uncompressed frame).
//
// Usage: node reference/server.js --port N [--msgpack-port N] [--engine-port N] [--recovery-port N]
//        [--deflate-port N]

const http = require("node:http");
const { Server } = require("socket.io");
const engine = require("engine.io");

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
}

function contract(io) {
  const setup = (nsp) => {
    nsp.on("connection", (socket) => {
      socket.emit("welcome", { sid: socket.id, namespace: nsp.name });
      socket.on("echo", (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        if (ack) ack(...args);
      });
      socket.on("echo-emit", (...args) => socket.emit("echo-back", ...args));
      socket.on("echo-plain", (...args) => socket.compress(false).emit("echo-back", ...args));
      socket.on("join", (room, ack) => {
        socket.join(room);
        ack && ack(room);
      });
      socket.on("leave", (room, ack) => {
        socket.leave(room);
        ack && ack(room);
      });
      socket.on("to-room", (room, event, ...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        nsp.to(room).emit(event, ...args);
        ack && ack();
      });
      socket.on("request-ack", (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        socket.timeout(5000).emit("ack-request", ...args, (err, ...reply) => {
          if (!ack) return;
          if (err) ack("timeout");
          else ack(...reply);
        });
      });
      socket.on("disconnect-me", () => socket.disconnect());
    });
  };
  setup(io.of("/"));
  setup(io.of("/chat"));
  const priv = io.of("/private");
  priv.use((socket, next) => {
    const a = socket.handshake.auth;
    if (a && typeof a === "object" && !Array.isArray(a) && a.token === "secret") next();
    else next(new Error("invalid token"));
  });
  setup(priv);
}

const opts = { pingInterval: 1000, pingTimeout: 2000, maxHttpBufferSize: 1e6, cors: { origin: "*" } };

const port = arg("--port");
if (port) {
  const srv = http.createServer();
  contract(new Server(srv, { ...opts, allowEIO3: true }));
  srv.listen(port, "127.0.0.1");
}
const mport = arg("--msgpack-port");
if (mport) {
  const srv = http.createServer();
  contract(new Server(srv, { ...opts, parser: require("socket.io-msgpack-parser") }));
  srv.listen(mport, "127.0.0.1");
}
const rport = arg("--recovery-port");
if (rport) {
  const srv = http.createServer();
  contract(new Server(srv, { ...opts, connectionStateRecovery: {} }));
  srv.listen(rport, "127.0.0.1");
}
const dport = arg("--deflate-port");
if (dport) {
  const srv = http.createServer();
  contract(new Server(srv, { ...opts, perMessageDeflate: { threshold: 1024 } }));
  srv.listen(dport, "127.0.0.1");
}
const eport = arg("--engine-port");
if (eport) {
  const srv = http.createServer();
  const e = engine.attach(srv, { path: "/engine.io/", pingInterval: 300, pingTimeout: 200, maxHttpBufferSize: 1e6 });
  e.on("connection", (s) => s.on("message", (m) => s.send(m)));
  srv.listen(eport, "127.0.0.1");
}
