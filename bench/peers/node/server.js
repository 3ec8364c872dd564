// Node socket.io peer for the sockio benchmark: implements /work/shared BENCH-SERVER.md.
// Listens on 127.0.0.1:$PORT, path /socket.io/, default settings, no per-message logging.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);
const httpServer = http.createServer();
const io = new Server(httpServer, {
  path: "/socket.io/",
  serveClient: false,
  perMessageDeflate: false,
  cors: { origin: "*" },
});

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack("ok");
  });
  socket.on("bcast", (payload) => {
    io.to("bench").emit("msg", payload);
  });
});

// With REDIS_URL: one node of a cluster (@socket.io/redis-adapter), for bench/cluster.sh.
async function useRedis(url) {
  const { createAdapter } = require("@socket.io/redis-adapter");
  const { createClient } = require("redis");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

(process.env.REDIS_URL ? useRedis(process.env.REDIS_URL) : Promise.resolve()).then(() => httpServer.listen(port, "127.0.0.1", () => {
  console.error(`node socket.io peer listening on 127.0.0.1:${port}`);
}));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
