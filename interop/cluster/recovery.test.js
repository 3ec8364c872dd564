// Connection state recovery across the nodes of a cluster on Redis Streams, with the
// official socket.io-client 4.x (its own recovery logic, unmodified): the client
// reaches the cluster through a small TCP load balancer that drops its connection
// (a transport close, not a deliberate disconnect) and sends it back to another node.
// The session kept by the first node and the events sent while it was away (from the
// second node, through the stream) must come back: same socket id, `recovered`, its
// rooms, each missed event once. Nodes: sockio (the interop example with
// `--adapter streams --recovery`) and Node (socket.io 4.8 + @socket.io/redis-streams-adapter
// 0.3, node-server.js), in every direction.
//
// Environment: SOCKIO_NODE_BIN (the interop example binary, required), REDIS_SERVER
// (default redis-server), RECOVERY_PAIRS (default "SS SN NS"; first letter: the node the
// client leaves, second: the node it comes back to; S = sockio, N = Node).
"use strict";

const { describe, it, before, after, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const net = require("node:net");
const { io: ioc } = require("socket.io-client");
const { createClient } = require("redis");
const { sleep, freePort, startRedis, startNode, reportOnFailure, withReports } = require("./procs");

const SOCKIO = process.env.SOCKIO_NODE_BIN;
const PAIRS = (process.env.RECOVERY_PAIRS || "SS SN NS").split(/\s+/).filter(Boolean);
const WAIT = 10000;

if (!SOCKIO) throw new Error("set SOCKIO_NODE_BIN to the interop example binary");

// Polls `pred` (async) until true, within `ms`.
async function until(pred, what, ms = WAIT) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await sleep(20);
  }
}

// The processes (procs.js: each one's output kept, an unexpected exit reported with the tail of it).
async function startRedisServer() {
  const port = await freePort();
  return { proc: await startRedis(port), url: `redis://127.0.0.1:${port}` };
}

// A cluster node: sockio ("S") or Node ("N"), Redis Streams adapter, recovery on.
async function startClusterNode(kind, name, redisUrl, key) {
  const port = await freePort();
  const proc = await startNode(kind, name, port, ["--port", String(port), "--redis-url", redisUrl, "--name", name,
    "--key", key, "--adapter", "streams", "--recovery"]);
  return { kind, name, port, proc, url: `http://127.0.0.1:${port}`, label: `${name}(${kind === "S" ? "sockio" : "node"})` };
}

// The load balancer: forwards each TCP connection to the current target. `cut()` drops
// every connection and holds new ones; `release(port)` sends them to that port.
class Balancer {
  constructor(target) { Object.assign(this, { target, holding: false, held: [], live: new Set() }); }
  async start() {
    this.server = net.createServer((c) => {
      c.on("error", () => {});
      if (this.holding) this.held.push(c);
      else this.forward(c);
    });
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }
  forward(c) {
    if (c.destroyed) return;
    const up = net.connect(this.target, "127.0.0.1");
    up.on("error", () => c.destroy());
    c.on("close", () => up.destroy());
    up.on("close", () => c.destroy());
    c.pipe(up);
    up.pipe(c);
    this.live.add(c);
    c.on("close", () => this.live.delete(c));
  }
  cut() {
    this.holding = true;
    for (const c of this.live) c.destroy();
  }
  release(target) {
    this.target = target;
    this.holding = false;
    for (const c of this.held.splice(0)) this.forward(c);
  }
  close() {
    for (const c of [...this.live, ...this.held]) c.destroy();
    this.server.close();
  }
}

// A socket.io-client 4.x socket that records the events it gets.
function client(url, transports) {
  const socket = ioc(url, { forceNew: true, transports, reconnectionDelay: 50, reconnectionDelayMax: 100 });
  const c = { socket, got: [] };
  socket.onAny((event, ...args) => c.got.push([event, ...args]));
  c.events = (name) => c.got.filter((e) => e[0] === name).map((e) => e.slice(1));
  c.call = (event, ...args) => socket.timeout(6000).emitWithAck(event, ...args);
  return c;
}

const once = (socket, event) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ${event} within ${WAIT} ms`)), WAIT);
  socket.once(event, (...a) => { clearTimeout(t); resolve(a); });
});

const CASES = [];
for (const pair of PAIRS) {
  CASES.push({ pair, transports: ["websocket"] });
  if (pair === "SS") CASES.push({ pair, transports: ["polling"] });
}

describe("connection state recovery across nodes on Redis Streams", () => {
  let redis;
  let admin;
  const nodes = {}; // "SS" -> [from, to]
  const open = [];

  const procs = () => [redis?.proc, ...Object.values(nodes).flat().map((n) => n.proc)];

  before(withReports(procs, async () => {
    redis = await startRedisServer();
    admin = createClient({ url: redis.url });
    admin.on("error", () => {});
    await admin.connect();
    // one cluster (one stream) per pair, so that each pair's nodes are those two
    await Promise.all(PAIRS.map(async (pair) => {
      const key = `siorec${pair.toLowerCase()}`;
      nodes[pair] = await Promise.all([...pair].map((k, i) => startClusterNode(k, `${pair}${i}`, redis.url, key)));
    }));
    // every node reads the stream and is subscribed (2 per cluster)
    for (const pair of PAIRS) {
      const channel = `siorec${pair.toLowerCase()}#/#`;
      await until(async () => Number((await admin.sendCommand(["PUBSUB", "NUMSUB", channel]))[1]) === 2,
        `both nodes of ${pair} on ${channel}`, 20000);
    }
  }));

  afterEach((t) => reportOnFailure(t, procs()));

  after(async () => {
    for (const x of open) try { x.close(); } catch {}
    await Promise.all(Object.values(nodes).flat().map((n) => n.proc.stop()));
    await admin?.quit().catch(() => {});
    await redis?.proc.stop();
  });

  for (const { pair, transports } of CASES) {
    const name = () => `${nodes[pair][0].label} -> ${nodes[pair][1].label}`;
    it(`${pair} (${transports[0]}): a client recovers on the other node with its id, rooms and missed events`, async () => {
      const [from, to] = nodes[pair];
      const lb = new Balancer(from.port);
      await lb.start();
      open.push(lb);
      const c = client(lb.url, transports);
      const other = client(to.url, ["websocket"]); // a client on the node it comes back to
      open.push(c.socket, other.socket);
      await Promise.all([once(c.socket, "welcome"), once(other.socket, "welcome")]);
      assert.equal(c.socket.recovered, false);
      const id = c.socket.id;
      assert.deepEqual(await c.call("join", "r"), "r");
      // from the other node, through the stream: delivered with its offset
      await other.call("to-room", "r", "news", "before");
      await until(() => c.events("news").length === 1, "the first room emit");
      const pid = c.socket._pid;
      assert.ok(pid, "the client holds a private id (recovery is on)");

      // the balancer drops the connection and holds the reconnection
      const dropped = once(c.socket, "disconnect");
      lb.cut();
      const [reason] = await dropped;
      assert.ok(["transport close", "transport error"].includes(reason), reason);
      // the node it left keeps its session in Redis
      await until(async () => (await admin.exists(`sio:session:${pid}`)) === 1, `the session of ${name()} in Redis`);
      // sent from the other node while it is away
      await other.call("to-room", "r", "news", "while away");
      await other.call("to-room", "elsewhere", "news", "not for it");

      const back = once(c.socket, "connect");
      lb.release(to.port);
      await back;
      assert.equal(c.socket.recovered, true, `${name()}: recovered`);
      assert.equal(c.socket.id, id, `${name()}: the same socket id`);
      // still in room r: an emit after the recovery reaches it, after the missed one
      await other.call("to-room", "r", "news", "after");
      await until(() => c.events("news").some((a) => a[0] === "after"), "the emit after the recovery");
      const news = c.events("news").map((a) => a[0]);
      assert.deepEqual(news, ["before", "while away", "after"], `${name()}: ${JSON.stringify(c.got)}`);
      // the session was taken: it is gone from Redis
      assert.equal(await admin.exists(`sio:session:${pid}`), 0);
      c.socket.close();
      other.socket.close();
      lb.close();
    });
  }

  it("every node is still up", () => {
    for (const n of Object.values(nodes).flat()) assert.ok(n.proc.alive(), `${n.proc.summary()} (its output is above)`);
  });
});
