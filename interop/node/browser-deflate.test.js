"use strict";
// WebSocket permessage-deflate with Chromium (it always offers the extension)
// running the browser build of socket.io-client 4.x, against the interop
// server's endpoint with `per_message_deflate` on (`--deflate-port`).
// As in browser.test.js, the page comes from a loopback front server that
// pipes every other connection byte for byte to the server under test; here
// it also counts those bytes, so the test sees what crossed the wire.
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { before, after } = require("node:test");
const { chromium } = require("playwright-core");
const C = require("./lib/common");
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
  });
  page = await context.newPage();
  await page.goto(`${front.origin}/__interop__/page.html`, { timeout: 15000 });
  await page.waitForFunction(() => typeof window.io === "function", null, { timeout: 10000 });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (front) front.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

// Loopback front server: /__interop__/* from memory, anything else piped to
// the server under test (and counted).
function startFront(files) {
  const sockets = new Set();
  const srv = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf("\r\n");
      if (nl < 0 && head.length < 8192) return;
      sock.off("data", onData);
      sock.pause();
      const line = head.subarray(0, nl < 0 ? head.length : nl).toString("latin1");
      const m = /^GET \/__interop__\/([^ ?]*)/.exec(line);
      if (m) {
        const f = files[m[1]];
        const body = Buffer.from(f ? f[1] : "not found");
        sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${f ? "200 OK" : "404 Not Found"}\r\n` +
          `Content-Type: ${f ? f[0] : "text/plain"}\r\nContent-Length: ${body.length}\r\n` +
          `Cache-Control: no-store\r\nConnection: close\r\n\r\n`), body]));
        return;
      }
      const up = net.connect(Number(target.port), target.hostname);
      sockets.add(up);
      up.on("close", () => { sockets.delete(up); sock.destroy(); });
      up.on("error", () => sock.destroy());
      sock.on("close", () => up.destroy());
      up.write(head);
      sock.on("data", (d) => { counted.up += d.length; });
      up.on("data", (d) => { counted.down += d.length; });
      sock.pipe(up);
      up.pipe(sock);
      sock.resume();
    };
    sock.on("data", onData);
  });
  return new Promise((resolve) => {
    srv.listen(0, "127.0.0.1", () => resolve({
      origin: `http://127.0.0.1:${srv.address().port}`,
      close: () => { srv.close(); for (const s of sockets) s.destroy(); },
    }));
  });
}

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
