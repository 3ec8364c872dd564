// Each tutorial's page in Debian's Chromium (playwright-core), against its
// example, with the socket.io build the tutorial loaded (1.4.4 or 4.0.1),
// served by the example. Screenshots: examples/tutorials/tests/artifacts/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { ROOT, Server } = require('../../../apps/chat/tests/e2e/lib');

const EXE = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const ART = path.join(__dirname, 'artifacts');
const T = 10000;
let ctx, profile;
const errors = [];

test.before(async () => {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sockio-tutorials-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, { executablePath: EXE, headless: true, args: ARGS, timeout: 30000 });
});
test.after(async () => {
  await ctx.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
});

async function withServer(name, f) {
  const s = new Server(path.join(ROOT, 'target', 'debug', `tutorial-${name}`));
  await s.start({ RUST_LOG: 'warn' });
  try { await f(s); } finally { await s.stop(); s.cleanup(); }
}
async function page(url) {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.goto(url);
  return p;
}
async function shot(p, name) {
  fs.mkdirSync(ART, { recursive: true });
  await p.waitForTimeout(350);
  await p.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
}
const text = (p, sel, want) => p.waitForFunction(([s, w]) => {
  const e = document.querySelector(s);
  return e && e.textContent === w;
}, [sel, want], { timeout: T });

test('iss page (socket.io 1.4.4): connected, identify, join, populate', async () => {
  await withServer('iss', async (srv) => {
    const a = await page(srv.url + '/');
    await text(a, '#status', 'Connected');
    assert.equal(await a.evaluate(() => io.protocol), 4, 'the 1.x client');
    await a.fill('#name', 'alice');
    await a.click('#identify');
    await a.click('#join');
    await text(a, '#current', 'in General');
    await a.fill('#text', 'hi <b>all</b>');
    await a.click('#send');
    await text(a, '#messages li', 'alice: hi <b>all</b>');
    const b = await page(srv.url + '/');
    await text(b, '#status', 'Connected');
    await b.click('#join');
    await text(b, '#messages li', 'alice: hi <b>all</b>'); // populate
    await shot(b, 'iss');
    await a.close(); await b.close();
  });
});

test('login page (socket.io 1.4.4): logfail, logsuc hides the popup, foo', async () => {
  await withServer('login', async (srv) => {
    const p = await page(srv.url + '/');
    await p.fill('#name2', 'rick');
    await p.fill('#password', 'nope');
    await p.click('#login-form button');
    await text(p, '#error', 'Invalid username or password');
    await p.fill('#password', 'wubalubadubdub');
    await p.click('#login-form button');
    await text(p, '#welcome', 'Welcome, rick!');
    assert.equal(await p.$eval('#popupbox', (e) => e.style.visibility), 'hidden');
    await p.click('#wuba');
    await text(p, '#foo', 'foo: ["x",2,["z"]]');
    await shot(p, 'login');
    await p.close();
  });
});

test('vote page (socket.io 1.4.4): the bars move on every page', async () => {
  await withServer('vote', async (srv) => {
    const a = await page(srv.url + '/');
    const b = await page(srv.url + '/');
    await a.waitForFunction(() => typeof io === 'function');
    await b.waitForTimeout(300);
    await a.click('#vote1');
    await text(b, '#count1', '1');
    await b.click('#vote2');
    await b.click('#vote2');
    await text(a, '#count2', '2');
    await a.waitForTimeout(350);
    assert.deepEqual(await a.evaluate(() => [bar1.style.width, bar2.style.width]), ['33%', '67%']);
    await shot(a, 'vote');
    await a.close(); await b.close();
  });
});

test('user-chat page (socket.io 4.0.1): the chat app and /user', async () => {
  await withServer('user-chat', async (srv) => {
    const a = await page(srv.url + '/');
    await text(a, '#messages li', 'User has connected!');
    await text(a, '#my-response', 'my response: {"data":"Connected"}');
    await a.waitForFunction(() => document.querySelectorAll('#new-users li').length === 1, null, { timeout: T });
    const b = await page(srv.url + '/');
    await a.waitForFunction(() => document.querySelectorAll('#messages li').length === 2, null, { timeout: T });
    await a.waitForFunction(() => document.querySelectorAll('#new-users li').length === 2, null, { timeout: T });
    await b.fill('#message', '<img src=x onerror="document.title=\'pwned\'">');
    await b.click('#sendbutton');
    await a.waitForFunction(() => document.querySelectorAll('#messages li').length === 3, null, { timeout: T });
    assert.equal(await a.$eval('#messages li:last-child', (e) => e.textContent), '<img src=x onerror="document.title=\'pwned\'">');
    assert.equal(await a.title(), 'Chat App');
    await shot(a, 'user-chat');
    await a.close(); await b.close();
  });
});

test('no page errors', () => {
  assert.deepEqual(errors, []);
});
