"use strict";
// Shared helpers for the Node suites: server addresses, bounded waits,
// byte-aware deep equality, and the results matrix (client x transport x check).

const fs = require("node:fs");
const path = require("node:path");
const { test, after } = require("node:test");

const env = {
  // main endpoint of the interop example server (INTEROP-SERVER.md + LEGACY-SERVER.md §1)
  url: process.env.SOCKIO_URL || "http://127.0.0.1:3001",
  // msgpack endpoint (LEGACY-SERVER.md §2)
  msgpackUrl: process.env.SOCKIO_MSGPACK_URL || "http://127.0.0.1:3002",
  // bare Engine.IO echo server (path /engine.io/)
  engineUrl: process.env.SOCKIO_ENGINE_URL || "http://127.0.0.1:3003",
  resultsDir: process.env.INTEROP_RESULTS_DIR || path.join(__dirname, "..", "..", "results"),
};

// The three transport setups every suite is parametrized over.
const TRANSPORTS = [
  { name: "websocket", transports: ["websocket"], upgrade: false },
  { name: "polling", transports: ["polling"], upgrade: false },
  { name: "polling+upgrade", transports: ["polling", "websocket"], upgrade: true },
];

const TEST_TIMEOUT = 20000; // hard cap per test (ms)
const WAIT = 5000; // default bound for one awaited event (ms)

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Resolve with `promise`, or reject after `ms` with a message saying what we waited for.
function within(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// Wait for the next `event` on an emitter (socket.io Socket or engine Socket), as an args array.
function once(emitter, event, ms = WAIT, what) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => resolve(args);
    emitter.once(event, handler);
  });
  return within(p, ms, what || `event "${event}"`).catch((e) => {
    emitter.off ? emitter.off(event, handler) : emitter.removeListener(event, handler);
    throw e;
  });
}

// Collect every `event` into an array, and wait until `n` arrived.
function collector(emitter, event) {
  const items = [];
  const waiters = [];
  emitter.on(event, (...args) => {
    items.push(args);
    for (const w of waiters.slice()) {
      if (items.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(items);
      }
    }
  });
  return {
    items,
    wait(n, ms = WAIT) {
      if (items.length >= n) return Promise.resolve(items);
      return within(new Promise((resolve) => waiters.push({ n, resolve })), ms,
        `${n} "${event}" events (got ${items.length})`);
    },
  };
}

// Emit with an ack callback (works for every client generation); resolves with the ack args.
function emitAck(socket, event, args, ms = WAIT) {
  return within(new Promise((resolve) => socket.emit(event, ...args, (...ack) => resolve(ack))),
    ms, `ack of "${event}"`);
}

function isBinary(x) {
  return Buffer.isBuffer(x) || x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}
function bytesOf(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

// Deep equality where binaries compare by bytes (Buffer / ArrayBuffer / typed array
// all count as "binary"), a binary must come back as a binary, and object keys must match.
// Throws an Error describing the first difference.
function assertSame(actual, expected, where = "$") {
  if (isBinary(expected)) {
    if (!isBinary(actual)) throw new Error(`${where}: expected a binary, got ${describe(actual)}`);
    const a = bytesOf(actual), e = bytesOf(expected);
    if (!a.equals(e)) throw new Error(`${where}: binary differs (got ${a.length} bytes, expected ${e.length})`);
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) throw new Error(`${where}: expected an array, got ${describe(actual)}`);
    if (actual.length !== expected.length)
      throw new Error(`${where}: array length ${actual.length}, expected ${expected.length}: ${describe(actual)}`);
    expected.forEach((v, i) => assertSame(actual[i], v, `${where}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual) || isBinary(actual))
      throw new Error(`${where}: expected an object, got ${describe(actual)}`);
    const ek = Object.keys(expected).sort(), ak = Object.keys(actual).sort();
    if (JSON.stringify(ek) !== JSON.stringify(ak))
      throw new Error(`${where}: keys ${JSON.stringify(ak)}, expected ${JSON.stringify(ek)}`);
    for (const k of ek) assertSame(actual[k], expected[k], `${where}[${JSON.stringify(k)}]`);
    return;
  }
  if (!Object.is(actual, expected))
    throw new Error(`${where}: got ${describe(actual)}, expected ${describe(expected)}`);
}

function describe(x) {
  if (isBinary(x)) return `<binary ${bytesOf(x).length} bytes>`;
  try {
    const s = JSON.stringify(x);
    return s === undefined ? String(x) : s.length > 200 ? s.slice(0, 200) + "…" : s;
  } catch {
    return String(x);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---------------------------------------------------------------- payloads
const ESC_KEY = 'k"ey\\with\u0001ctl\nnl\ttab';
const ESC_VAL = 'quote " backslash \\ slash / ctl \u0000\u0001\u001f nl \n cr \r tab \t';
const UTF8 = "héllo wörld ✓ 日本語 😀 𝄞 Ω";

function payloads() {
  const big = Buffer.alloc(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  return {
    json: [1, "two", { three: [true, false, null], four: 4.5 }, [], {}, -7, 0, "", null],
    // binaries at the top level, nested in objects and arrays, deep
    binary: [
      Buffer.from([1, 2, 3]),
      { a: Buffer.from([4, 5]), b: [Buffer.from([6]), { c: Buffer.from([0, 255, 128]) }], d: "x" },
      [Buffer.from("bytes"), 42, [Buffer.from([7, 8, 9])]],
    ],
    emptyBinary: [Buffer.alloc(0), { e: Buffer.alloc(0) }, [Buffer.alloc(0)]],
    big,
    utf8: [UTF8, { [UTF8]: UTF8, "ключ": ["значение", "é"] }],
    escapes: [ESC_VAL, { [ESC_KEY]: ESC_VAL, "\\": "\"", '"': "\\" }],
    // key order a user observes through Object.keys()
    keyOrder: { zeta: 1, alpha: 2, mu: 3, beta: { z: 1, a: 2 } },
  };
}

// ---------------------------------------------------------------- results matrix
const results = []; // {client, transport, check, ok, error}
let suiteName = "suite";

function setSuite(name) {
  suiteName = name;
}

// Register one node:test case recorded in the matrix.
function check(client, transport, name, fn, opts = {}) {
  const title = `${client} | ${transport} | ${name}`;
  test(title, { timeout: opts.timeout || TEST_TIMEOUT, skip: opts.skip }, async (t) => {
    const cleanups = [];
    const ctx = { t, defer: (f) => cleanups.push(f) };
    try {
      await fn(ctx);
      results.push({ client, transport, check: name, ok: true });
    } catch (e) {
      results.push({ client, transport, check: name, ok: false, error: String(e && e.message || e) });
      throw e;
    } finally {
      for (const f of cleanups.reverse()) {
        try {
          await f();
        } catch {}
      }
    }
  });
}

function writeResults() {
  fs.mkdirSync(env.resultsDir, { recursive: true });
  const cols = [];
  const rows = [];
  for (const r of results) {
    const c = `${r.client} / ${r.transport}`;
    if (!cols.includes(c)) cols.push(c);
    if (!rows.includes(r.check)) rows.push(r.check);
  }
  const cell = (row, col) => {
    const r = results.find((x) => x.check === row && `${x.client} / ${x.transport}` === col);
    return r ? (r.ok ? "pass" : "**FAIL**") : "–";
  };
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  let md = `## ${suiteName}\n\n${passed} passed, ${failed} failed\n\n`;
  md += `| check | ${cols.join(" | ")} |\n|---|${cols.map(() => "---").join("|")}|\n`;
  for (const row of rows) md += `| ${row} | ${cols.map((c) => cell(row, c)).join(" | ")} |\n`;
  const fails = results.filter((r) => !r.ok);
  if (fails.length) {
    md += `\nFailures:\n\n`;
    for (const f of fails) md += `- ${f.client} / ${f.transport} / ${f.check}: ${f.error.replace(/\n/g, " ")}\n`;
  }
  fs.writeFileSync(path.join(env.resultsDir, `${suiteName}.md`), md);
  fs.writeFileSync(path.join(env.resultsDir, `${suiteName}.json`),
    JSON.stringify({ suite: suiteName, passed, failed, results }, null, 1));
  process.stdout.write(`\n${md}\n`);
}

after(() => writeResults());

module.exports = {
  env, TRANSPORTS, TEST_TIMEOUT, WAIT, sleep, within, once, collector, emitAck,
  isBinary, bytesOf, assertSame, describe, assert, payloads, ESC_KEY, ESC_VAL, UTF8,
  check, setSuite,
};
