"use strict";
// WebSocket permessage-deflate with Chromium (it always offers the extension)
// running the browser build of socket.io-client 4.x, against the interop
// server's endpoint with `per_message_deflate` on (`--deflate-port`).
// As in browser.test.js, the page comes from a loopback front server that
// pipes every other connection byte for byte to the server under test; here
// it also counts those bytes, so the test sees what crossed the wire.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { before, after } = require("node:test");
const { chromium } = require("playwright-core");
const C = require("./lib/common");
const { startFront } = require("./lib/front");
const { assert } = C;

C.setSuite("browser-deflate");
const target = new URL(process.env.SOCKIO_DEFLATE_URL || "http://127.0.0.1:3005");
const client = "socket.io-client@4 (browser)";
const EXE = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const BUNDLE = path.join(__dirname, "..", "node_modules", "socket.io-client", "dist", "socket.io.min.js");

let context, userDataDir, front, page;
const counted = { up: 0, down: 0 }; // bytes browser -> server, server -> browser

before(async () => {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "interop-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: EXE, headless: true, args: ARGS, timeout: 30000,
  });
  front = await startFront({
    "io.js": ["application/javascript", fs.readFileSync(BUNDLE, "utf8")],
    "page.html": ["text/html; charset=utf-8",
      `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>deflate</title>` +
      `<script src="/__interop__/io.js"></script>`],
  }, target, counted);
  page = await context.newPage();
  await page.goto(`${front.origin}/__interop__/page.html`, { timeout: 15000 });
  await page.waitForFunction(() => typeof window.io === "function", null, { timeout: 10000 });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (front) front.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});


C.check(client, "websocket", "permessage-deflate negotiated, large message both ways compressed", async () => {
  // Connected and idle first, so the counts below are the echo's alone.
  const ext = await page.evaluate(() => new Promise((resolve, reject) => {
    const s = window.io({ transports: ["websocket"], forceNew: true, reconnection: false });
    window.sock = s;
    s.on("connect_error", (e) => reject(new Error(String(e && e.message))));
    s.on("welcome", () => resolve(s.io.engine.transport.ws.extensions));
  }));
  assert(/permessage-deflate/.test(ext), `extensions: ${JSON.stringify(ext)}`);
  const before = { ...counted };
  const size = await page.evaluate(() => new Promise((resolve, reject) => {
    const big = Array.from({ length: 4000 }, (_, i) => `line ${i}: hello from Chromium`).join("\n");
    const t = setTimeout(() => reject(new Error("no echo within 5 s")), 5000);
    window.sock.emit("echo", big, (back) => {
      clearTimeout(t);
      if (back !== big) reject(new Error(`echo differs (${back && back.length} chars)`));
      else resolve(big.length);
    });
  }));
  const up = counted.up - before.up, down = counted.down - before.down;
  assert(up < size / 4, `browser sent ${up} bytes for ${size}`);
  assert(down < size / 4, `server sent ${down} bytes for ${size}`);
  await page.evaluate(() => window.sock.disconnect());
});
