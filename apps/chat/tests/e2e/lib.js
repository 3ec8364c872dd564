// Helpers for the end-to-end suites: start the sockio-chat binary on a free
// port and a fresh SQLite file, stop and restart it, talk to it with the
// official clients.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../../../..');
const BIN = process.env.CHAT_BIN || path.join(ROOT, 'target/debug/sockio-chat');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function waitPort(port, child, ms = 30000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`sockio-chat exited with ${child.exitCode}`));
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); resolve(); });
      c.on('error', () => {
        c.destroy();
        if (Date.now() > deadline) reject(new Error(`sockio-chat not listening on ${port}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** A server process (sockio-chat by default) in a fresh temporary directory. */
class Server {
  constructor(bin = BIN) {
    this.bin = bin;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockio-chat-e2e-'));
    this.log = '';
    this.child = null;
  }
  get url() { return `http://127.0.0.1:${this.port}`; }
  async start(extraEnv = {}) {
    if (!this.port) this.port = await freePort();
    this.child = spawn(this.bin, [], {
      cwd: this.dir,
      env: { ...process.env, PORT: String(this.port), RUST_LOG: 'warn', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout.on('data', (d) => { this.log += d; });
    this.child.stderr.on('data', (d) => { this.log += d; });
    await waitPort(this.port, this.child);
    return this;
  }
  /** SIGTERM, then wait for the exit (SIGKILL after 10 s). */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
  }
  async restart() {
    await this.stop();
    await this.start();
  }
  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves with the next `event` (its arguments), rejects after `ms`. */
function once(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    socket.once(event, (...args) => { clearTimeout(t); resolve(args); });
  });
}

/** Emits with an acknowledgement callback (works with 1.4 and 4.x clients). */
function call(socket, event, data, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for '${event}' within ${ms} ms`)), ms);
    socket.emit(event, data, (res) => { clearTimeout(t); resolve(res); });
  });
}

/** Collects every `event` received until `stop()`. */
function collect(socket, event) {
  const got = [];
  const h = (...args) => got.push(args.length === 1 ? args[0] : args);
  socket.on(event, h);
  Object.defineProperty(got, 'stop', { enumerable: false, value: () => (socket.off ? socket.off(event, h) : socket.removeListener(event, h)) });
  return got;
}

async function until(pred, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

module.exports = { ROOT, BIN, Server, freePort, once, call, collect, until };
