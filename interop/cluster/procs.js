// The processes the cluster suite spawns (redis-server, the sockio interop example, the
// Node reference server node-server.js), shared by cluster.test.js and recovery.test.js.
// Each process keeps its stdout and stderr (the last 256 KiB); an exit the suite did not
// ask for (`stop()`) is reported at once on stderr: role, pid, exit code or signal, the
// tail of its output. `reportOnFailure` prints the same for every process of a suite when
// one of its tests fails.
"use strict";

const { spawn } = require("node:child_process");
const net = require("node:net");
const path = require("node:path");

const KEEP = 256 * 1024;
const TAIL_LINES = 60;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

// Every process still running: killed when the test process ends, whatever happened.
const running = new Set();
process.on("exit", () => { for (const p of running) try { p.child.kill("SIGKILL"); } catch {} });

class Proc {
  // role: what the reports call it ("B(node)", "redis-server"); cmd, args, opts: spawn's.
  constructor(role, cmd, args, opts = {}) {
    this.role = role;
    this.cmdline = [path.basename(cmd), ...args].join(" ");
    this.output = "";
    this.stopping = false; // set by stop(): the exit that follows is expected
    this.child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    this.pid = this.child.pid;
    running.add(this);
    const keep = (d) => {
      this.output += d;
      if (this.output.length > 2 * KEEP) this.output = this.output.slice(-KEEP);
    };
    this.child.stdout.on("data", keep);
    this.child.stderr.on("data", keep);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", () => { running.delete(this); resolve(); });
      this.child.once("error", (e) => { // could not be spawned at all
        this.spawnError = e;
        running.delete(this);
        resolve();
      });
    });
    // "close": after the exit *and* the end of its output (a crash's stack trace included)
    this.child.once("close", () => {
      if (!this.stopping) console.error(`\n!! ${this.role} exited unexpectedly\n${this.report()}\n`);
    });
  }

  alive() { return !this.spawnError && this.child.exitCode === null && this.child.signalCode === null; }

  status() {
    if (this.spawnError) return `could not be spawned: ${this.spawnError.message}`;
    if (this.child.signalCode !== null) return `killed by ${this.child.signalCode}`;
    if (this.child.exitCode !== null) return `exited with code ${this.child.exitCode}`;
    return "running";
  }

  tail(lines = TAIL_LINES) {
    const all = this.output.replace(/\n$/, "").split("\n");
    const cut = all.length > lines ? `[... ${all.length - lines} earlier lines]\n` : "";
    return cut + all.slice(-lines).join("\n");
  }

  // one line: role, pid, state
  summary() {
    return `${this.role} pid ${this.pid}: ${this.status()}${this.stopping ? " (stop asked by the test)" : ""}`;
  }

  // the summary, the command line and the tail of the output
  report() {
    const out = this.output ? this.tail().replace(/\x1b\[[0-9;]*m/g, "") : "(no output)";
    return `${this.summary()}\n  command: ${this.cmdline}\n  --- its output (tail) ---\n${out.replace(/^/gm, "  | ")}`;
  }

  // SIGTERM, then SIGKILL after graceMs; resolves once it exited.
  async stop(graceMs = 3000) {
    this.stopping = true;
    if (!this.alive()) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => { if (this.alive()) this.child.kill("SIGKILL"); }, graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

// Resolves once `proc` accepts connections on `port`; fails (with its report) if it exits.
async function waitPort(port, proc, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!proc.alive()) {
      await new Promise((r) => { // its last words
        const t = setTimeout(r, 500);
        proc.child.once("close", () => { clearTimeout(t); r(); });
      });
      throw new Error(`${proc.role} exited before listening on ${port}\n${proc.report()}`);
    }
    const ok = await new Promise((r) => {
      const c = net.connect(port, "127.0.0.1", () => { c.end(); r(true); });
      c.on("error", () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${proc.role} not listening on ${port} after ${ms} ms\n${proc.report()}`);
}

// A private redis-server on `port`, listening.
async function startRedis(port, redisServer = process.env.REDIS_SERVER || "redis-server") {
  const proc = new Proc(`redis-server :${port}`, redisServer, ["--port", String(port), "--bind", "127.0.0.1",
    "--save", "", "--appendonly", "no", "--protected-mode", "no"]);
  await waitPort(port, proc);
  return proc;
}

// A cluster node, listening: the sockio interop example ("S", SOCKIO_NODE_BIN) or the Node
// reference server ("N"), with `args` (which include --port `port`).
async function startNode(kind, name, port, args) {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" };
  const role = `${name}(${kind === "S" ? "sockio" : "node"}) :${port}`;
  const proc = kind === "S"
    ? new Proc(role, process.env.SOCKIO_NODE_BIN, args, { env })
    : new Proc(role, process.execPath, [path.join(__dirname, "node-server.js"), ...args], { env });
  await waitPort(port, proc);
  return proc;
}

// For afterEach((t) => ...): when the test failed, every process's state and output.
function reportOnFailure(t, procs) {
  if (t.passed !== false) return;
  const list = procs.filter(Boolean);
  if (!list.length) return;
  console.error(`\n!! "${t.name}" failed; the suite's processes:\n${list.map((p) => p.report()).join("\n")}\n`);
}

// For before(withReports(procs, async () => ...)): a setup that fails prints every process's
// state and output too (afterEach does not run then).
function withReports(procs, fn) {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (e) {
      const list = procs().filter(Boolean);
      if (list.length) console.error(`\n!! setup failed (${e.message.split("\n")[0]}); the suite's processes:\n${list.map((p) => p.report()).join("\n")}\n`);
      throw e;
    }
  };
}

module.exports = { sleep, freePort, waitPort, Proc, startRedis, startNode, reportOnFailure, withReports };
