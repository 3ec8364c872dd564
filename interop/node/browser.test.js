"use strict";
// Browser builds of socket.io-client 2.5.0, 1.7.4 and 1.4.8 in Chromium (playwright-core,
// Debian's /usr/bin/chromium; playwright never downloads a browser here).
// The page is served on a tiny loopback front server started by the test (127.0.0.1:0):
// it answers /__interop__/* itself (page, client build, harness) and pipes every other
// TCP connection byte for byte to the real server, so the page and the Socket.IO traffic
// share one origin (no CORS involved) and both ends are loopback addresses (Chromium's
// local-network-access checks block a page fulfilled by playwright's route() from
// opening a WebSocket to 127.0.0.1). Browser builds send no b64=1: they get the binary
// polling payload.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { before, after } = require("node:test");
const { chromium } = require("playwright-core");
const C = require("./lib/common");
const { startFront } = require("./lib/front");
const { TRANSPORTS } = C;

C.setSuite("browser-legacy");

const NM = path.join(__dirname, "..", "node_modules");
const CLIENTS = [
  { label: "socket.io-client@2.5.0 (browser)", file: "socket.io-client-2.5/dist/socket.io.js", socketIdIsNspSid: true, query: true },
  { label: "socket.io-client@1.7.4 (browser)", file: "socket.io-client-1.7/dist/socket.io.js", socketIdIsNspSid: false, query: true },
  { label: "socket.io-client@1.4.8 (browser)", file: "socket.io-client-1.4.8/socket.io.js", socketIdIsNspSid: false, query: false },
];
const CHECKS = [
  "connect + welcome (sid = socket id)",
  "transport in use",
  "echo JSON args",
  "echo binary (nested, empty)",
  "echo non-ASCII (several packets per payload)",
  "echo-emit -> echo-back (binary + non-ASCII)",
  "request-ack with binary client ack",
  "namespace /chat multiplexed (id <nsp>#<sid>)",
  "/private with ?token=secret accepted",
  "/private with wrong token -> error \"invalid token\"",
  "unknown namespace -> error, connection stays usable",
  "disconnect-me -> 'io server disconnect', then reconnect",
  "heartbeat: alive after 3.5 s",
  "order: 20 echo-emit in order",
];
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const EXE = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

let context, userDataDir, front;
const pages = new Map(); // label -> {page, errors}
const target = new URL(C.env.url);
let origin; // the front server's origin, set in before()

before(async () => {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "interop-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: EXE,
    headless: true,
    args: ARGS,
    timeout: 30000,
  });
  const harness = fs.readFileSync(path.join(__dirname, "browser", "harness.js"), "utf8");
  const files = { "harness.js": ["application/javascript", harness] };
  for (const cl of CLIENTS) {
    files[`client/${slug(cl.label)}.js`] = ["application/javascript", fs.readFileSync(path.join(NM, cl.file), "utf8")];
    files[`${slug(cl.label)}.html`] = ["text/html; charset=utf-8",
      `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>${cl.label}</title>` +
      `<script src="/__interop__/client/${slug(cl.label)}.js"></script><script src="/__interop__/harness.js"></script>`];
  }
  front = await startFront(files, target);
  origin = front.origin;
  for (const cl of CLIENTS) {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${origin}/__interop__/${slug(cl.label)}.html`, { timeout: 15000 });
    await page.waitForFunction(() => typeof window.runCheck === "function" && typeof window.io === "function", null, { timeout: 10000 });
    pages.set(cl.label, { page, errors });
  }
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (front) front.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});


function slug(s) {
  return s.replace(/[^a-z0-9.]+/gi, "-");
}

for (const cl of CLIENTS) {
  for (const tr of TRANSPORTS) {
    for (const name of CHECKS) {
      if (name.startsWith("/private") && !cl.query) continue; // 1.4.x sends no CONNECT query
      C.check(cl.label, tr.name, name, async () => {
        const p = pages.get(cl.label);
        if (!p) throw new Error("page did not load");
        const before = p.errors.length;
        const r = await p.page.evaluate(([n, o]) => window.runCheck(n, o), [name, {
          url: origin,
          transports: tr.transports,
          upgrade: tr.upgrade,
          socketIdIsNspSid: cl.socketIdIsNspSid,
        }]);
        const errs = p.errors.slice(before);
        if (!r.ok) throw new Error(r.error + (errs.length ? ` (page errors: ${errs.join("; ")})` : ""));
        if (errs.length) throw new Error(`page errors: ${errs.join("; ")}`);
      });
    }
  }
}
