"use strict";
// The Socket.IO admin UI against sockio (crates/sockio/examples/admin_ui.rs on
// SOCKIO_ADMIN_URL, user admin / password ADMIN_PASSWORD): the admin namespace
// driven with socket.io-client as the UI's own code drives it (auth, config,
// all_sockets, server_stats, the join action), then once the real UI (the npm
// package's ui/dist, served by sockio at /admin-ui/) in Chromium, connected
// to the server, showing the connected socket. /metrics is scraped as well.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { io } = require("socket.io-client");
const C = require("./lib/common");

C.setSuite("admin-ui");

const URL_ = process.env.SOCKIO_ADMIN_URL;
const PASSWORD = process.env.ADMIN_PASSWORD || "admin";
const EXE = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CLIENT = "socket.io-client@4 (as the admin UI)";

function admin(auth) {
  return io(URL_ + "/admin", { forceNew: true, reconnection: false, transports: ["websocket"], auth });
}

function chat() {
  return io(URL_ + "/chat", { forceNew: true, reconnection: false });
}

async function connected(s) {
  await C.once(s, "connect", C.WAIT, "connect");
  return s;
}

C.check(CLIENT, "websocket", "bad password refused with 'invalid credentials'", async ({ defer }) => {
  const a = admin({ username: "admin", password: "wrong" });
  defer(() => a.close());
  const [err] = await C.once(a, "connect_error", C.WAIT, "connect_error");
  C.assert(err.message === "invalid credentials", err.message);
});

C.check(CLIENT, "websocket", "config, all_sockets and server_stats list a /chat socket", async ({ defer }) => {
  const c = await connected(chat());
  defer(() => c.close());
  const a = admin({ username: "admin", password: PASSWORD });
  defer(() => a.close());
  const session = C.once(a, "session", C.WAIT, "session");
  const config = C.once(a, "config", C.WAIT, "config");
  const all = C.once(a, "all_sockets", C.WAIT, "all_sockets");
  const stats = C.once(a, "server_stats", C.WAIT, "server_stats");
  await connected(a);
  C.assert(typeof (await session)[0] === "string", "session id");
  const features = (await config)[0].supportedFeatures;
  for (const f of ["JOIN", "LEAVE", "DISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"]) C.assert(features.includes(f), f);
  const mine = (await all)[0].find((s) => s.id === c.id);
  C.assert(mine && mine.nsp === "/chat" && mine.rooms.includes(c.id), JSON.stringify(mine));
  const st = (await stats)[0];
  C.assert(st.clientsCount >= 2 && st.namespaces.some((n) => n.name === "/chat" && n.socketsCount >= 1), JSON.stringify(st));
});

C.check(CLIENT, "websocket", "join action makes the socket join (room_joined)", async ({ defer }) => {
  const c = await connected(chat());
  defer(() => c.close());
  const a = admin({ username: "admin", password: PASSWORD });
  defer(() => a.close());
  await connected(a);
  const joined = new Promise((resolve) => a.on("room_joined", (nsp, room, id) => {
    if (room === "vip" && id === c.id) resolve(nsp);
  }));
  a.emit("join", "/chat", "vip", c.id);
  C.assert((await C.within(joined, C.WAIT, "room_joined")) === "/chat", "nsp");
  // The socket is really in the room: a message to "vip" reaches it.
  const got = C.once(c, "message", C.WAIT, "message to vip");
  c.emit("message", ["vip", "hello"]);
  C.assert((await got)[0] === "hello", "message");
});

C.check("prometheus", "http", "/metrics during traffic", async () => {
  const res = await fetch(URL_ + "/metrics");
  const text = await res.text();
  C.assert(res.status === 200 && /^sockio_packets_received_total \d+$/m.test(text), text.slice(0, 300));
});

C.check("admin UI (Chromium)", "websocket", "the served UI connects and lists the socket", async ({ defer }) => {
  const { chromium } = require("playwright-core");
  const c = await connected(chat());
  defer(() => c.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "admin-ui-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: EXE, headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  defer(async () => { await ctx.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  // Offline: the page's web fonts and icon CSS are not fetched.
  await ctx.route((u) => !u.href.startsWith(URL_), (r) => r.abort());
  const page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(URL_ + "/admin-ui/");
  await page.getByLabel("Server URL").fill(URL_);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: /connect/i }).click();
  await page.goto(URL_ + "/admin-ui/#/sockets");
  try {
    // The namespace selector shows the first one (/admin): pick /chat.
    await page.getByText("/admin", { exact: true }).first().click({ timeout: C.WAIT });
    await page.getByRole("option", { name: "/chat" }).click({ timeout: C.WAIT });
    await page.getByText(c.id).first().waitFor({ timeout: C.WAIT });
  } finally {
    if (process.env.ADMIN_UI_SCREENSHOT) await page.screenshot({ path: process.env.ADMIN_UI_SCREENSHOT });
  }
});
