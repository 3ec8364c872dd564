// A Node.js cluster node: socket.io 4.8 with @socket.io/redis-adapter 8.x (classic
// createAdapter), serving the interop contract (shared/INTEROP-SERVER.md) and the
// cluster events (shared/CLUSTER-SERVER.md) on /, /chat and /private. The cluster
// suite mixes it with sockio's interop example (--redis-url) in one cluster.
//
//   node node-server.js --port 3001 --redis-url redis://127.0.0.1:6379 --name A [--key socket.io] [--adapter streams] [--recovery]
"use strict";

const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function arg(name, env, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (env && process.env[env]) return process.env[env];
  return dflt;
}

const port = Number(arg("port", "PORT", "3001"));
const redisUrl = arg("redis-url", "REDIS_URL", "redis://127.0.0.1:6379");
const name = arg("name", "NAME", `node-${port}`);
const key = arg("key", null, "socket.io");
// "classic" (@socket.io/redis-adapter) or "streams" (@socket.io/redis-streams-adapter)
const adapterKind = arg("adapter", null, "classic");
// connection state recovery (across nodes with the streams adapter)
const recovery = process.argv.includes("--recovery");

// @socket.io/redis-adapter 8.x calls `pubClient.publish()` without awaiting or catching it
// (every broadcast, request and response), and @socket.io/redis-streams-adapter 0.3 does the
// same with `publish()` and `set()` (sessions). node-redis 4 rejects the commands waiting for
// their reply when the connection to Redis closes (a Redis restart: "Socket closed
// unexpectedly"): unhandled, that rejection ends the process (Node >= 15). As a deployment
// would, log those failures and keep serving: the adapter goes on locally, and the client
// reconnects and resubscribes by itself. (The client's "error" listener below is the other
// half: without it the first connection error ends the process too.)
function logFireAndForget(client, what) {
  for (const method of ["publish", "sPublish", "set"]) {
    const orig = client[method];
    if (typeof orig !== "function") continue;
    client[method] = function (...args) {
      const p = orig.apply(this, args);
      if (p && typeof p.catch === "function") {
        p.catch((e) => console.error(`[${name}] redis ${what} ${method} failed: ${e.message}`));
      }
      return p; // still rejects for a caller that awaits it
    };
  }
}

async function main() {
  const reconnectStrategy = (retries) => Math.min(50 * (retries + 1), 500);
  const pub = createClient({ url: redisUrl, socket: { reconnectStrategy } });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (e) => console.error(`[${name}] redis: ${e.message}`));
  logFireAndForget(pub, "pub");
  await Promise.all([pub.connect(), sub.connect()]);

  const io = new Server({
    pingInterval: 1000,
    pingTimeout: 2000,
    maxHttpBufferSize: 2e6,
    cors: { origin: "*" },
    connectionStateRecovery: recovery ? { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true } : undefined,
    adapter: adapterKind === "streams"
      ? require("@socket.io/redis-streams-adapter").createAdapter(pub, { streamName: key, channelPrefix: key })
      : createAdapter(pub, sub, { key }),
  });

  io.on("ping-servers", (_payload, cb) => cb(name));

  for (const nsp of ["/", "/chat", "/private"]) {
    const ns = io.of(nsp);
    if (nsp === "/private") {
      ns.use((socket, next) => {
        const auth = socket.handshake.auth;
        if (auth && typeof auth === "object" && auth.token === "secret") return next();
        next(new Error("invalid token"));
      });
    }
    ns.on("connection", (socket) => {
      socket.emit("welcome", { sid: socket.id, namespace: nsp });
      const withAck = (fn) => (...args) => {
        const cb = typeof args[args.length - 1] === "function" ? args.pop() : () => {};
        fn(cb, ...args);
      };
      socket.on("echo", withAck((cb, ...args) => cb(...args)));
      socket.on("echo-emit", (...args) => socket.emit("echo-back", ...args));
      socket.on("join", withAck((cb, room) => { socket.join(room); cb(room); }));
      socket.on("leave", withAck((cb, room) => { socket.leave(room); cb(room); }));
      socket.on("to-room", withAck((cb, room, event, ...args) => { ns.to(room).emit(event, ...args); cb(); }));
      socket.on("disconnect-me", () => socket.disconnect());
      // cluster events
      socket.on("broadcast", withAck((cb, event, ...args) => { ns.emit(event, ...args); cb(); }));
      socket.on("broadcast-except", withAck((cb, room, event, ...args) => { ns.except(room).emit(event, ...args); cb(); }));
      socket.on("count-sockets", withAck(async (cb, room) => {
        try {
          const sockets = room == null ? await ns.fetchSockets() : await ns.in(room).fetchSockets();
          cb(sockets.length);
        } catch (e) {
          cb({ error: e.message });
        }
      }));
      socket.on("remote-join", withAck((cb, id, room) => { ns.in(id).socketsJoin(room); cb(); }));
      socket.on("remote-disconnect", withAck((cb, id) => { ns.in(id).disconnectSockets(); cb(); }));
      socket.on("server-side-emit", withAck((cb, payload) => {
        let done = false;
        const finish = (names, timedOut) => {
          if (done) return;
          done = true;
          cb([name, ...names].sort(), timedOut);
        };
        const timer = setTimeout(() => finish([], true), 2000);
        io.serverSideEmit("ping-servers", payload, (err, responses) => {
          clearTimeout(timer);
          finish((responses || []).filter((r) => typeof r === "string"), !!err);
        });
      }));
      socket.on("bcast-ack", withAck((cb, event, payload) => {
        ns.timeout(2000).emit(event, payload, (err, responses) => {
          cb(responses.length, responses, !!err);
        });
      }));
    });
  }

  io.listen(port);
  console.error(`node cluster node ${name} on http://127.0.0.1:${port}, Redis ${redisUrl}`);
  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
