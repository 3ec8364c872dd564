// Two people in Debian's Chromium (playwright-core, /usr/bin/chromium): register,
// log in (failing once), join a room, talk, see each other in the user list,
// vote and watch both pages' bars move, reload and see the history, restart the
// server and see it still; then the /legacy page (socket.io-client 1.4). One of
// the two pages is phone-sized. Screenshots: apps/chat/tests/artifacts/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { Server } = require('./lib');

const EXE = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const ART = path.join(__dirname, '..', 'artifacts');
const T = 10000;

const server = new Server();
let browsers = [];
let profiles = [];
const errors = [];

/** A browser of its own (fresh --user-data-dir) and its page. */
async function person(label, viewport) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sockio-chat-chromium-${label}-`));
  profiles.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: EXE, headless: true, args: ARGS, viewport, timeout: 30000,
  });
  browsers.push(ctx);
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => errors.push(`${label}: ${e}`));
  return page;
}

async function shot(page, name) {
  fs.mkdirSync(ART, { recursive: true });
  await page.waitForTimeout(400); // the bars' width transition
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
}

async function connected(page) {
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: T });
}

async function auth(page, username, password, button) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click(button);
}

async function texts(page, selector) {
  return page.$$eval(selector, (els) => els.map((e) => e.textContent));
}

async function waitTexts(page, selector, want) {
  await page.waitForFunction(
    ([sel, w]) => JSON.stringify(Array.from(document.querySelectorAll(sel)).map((e) => e.textContent)) === JSON.stringify(w),
    [selector, want], { timeout: T },
  ).catch(async (e) => {
    throw new Error(`${selector}: wanted ${JSON.stringify(want)}, have ${JSON.stringify(await texts(page, selector))} (${e.message})`);
  });
}

test.before(async () => { await server.start(); });
test.after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  for (const d of profiles) fs.rmSync(d, { recursive: true, force: true });
  await server.stop();
  server.cleanup();
});

test('two people chat, vote, reload and survive a restart', async () => {
  const alice = await person('alice', { width: 1100, height: 760 });
  const bob = await person('bob', { width: 390, height: 844 });
  await alice.goto(server.url + '/');
  await bob.goto(server.url + '/');
  await connected(alice);
  await connected(bob);

  // alice registers, logs out, fails to log in once, then logs in
  await auth(alice, 'alice', 'alice-secret', '#register');
  await alice.waitForSelector('#app:not([hidden])', { timeout: T });
  await alice.waitForFunction(() => document.getElementById('room-title').textContent === '# General', null, { timeout: T });
  await Promise.all([alice.waitForNavigation({ timeout: T }), alice.click('#logout')]);
  await connected(alice);
  assert.equal(await alice.isVisible('#auth'), true, 'logged out after the reload');
  await auth(alice, 'alice', 'wrong-password', '#login');
  await alice.waitForFunction(() => document.getElementById('auth-error').textContent === 'wrong username or password', null, { timeout: T });
  await shot(alice, '01-login-failed');
  await auth(alice, 'alice', 'alice-secret', '#login');
  await alice.waitForSelector('#app:not([hidden])', { timeout: T });

  // bob registers on a phone-sized page
  await auth(bob, 'bob', 'bob-secret', '#register');
  await bob.waitForSelector('#app:not([hidden])', { timeout: T });
  await bob.waitForFunction(() => document.getElementById('room-title').textContent === '# General', null, { timeout: T });

  // both see each other in the user list
  await waitTexts(alice, '#users li', ['alice', 'bob']);
  await waitTexts(bob, '#users li', ['alice', 'bob']);

  // messages both ways; HTML shows as text
  const html = 'hello <b>bob</b> <img src=x onerror="document.body.dataset.pwned=1">';
  await alice.fill('#text', html);
  await alice.click('#send-button');
  await waitTexts(bob, '#timeline .msg .text', [html]);
  assert.equal(await bob.$$eval('#timeline .msg .text b, #timeline img', (e) => e.length), 0, 'no element from the message');
  assert.equal(await bob.evaluate(() => document.body.dataset.pwned), undefined);
  await bob.fill('#text', 'hi alice, ça va ?');
  await bob.press('#text', 'Enter');
  await waitTexts(alice, '#timeline .msg .text', [html, 'hi alice, ça va ?']);
  await waitTexts(alice, '#timeline .msg .author', ['alice', 'bob']);

  // a poll: both pages' bars move with each vote
  await alice.click('#poll-box summary');
  await alice.fill('#poll-question', 'Best transport?');
  await alice.fill('#poll-options', 'websocket\npolling');
  await alice.click('#poll-form button');
  for (const p of [alice, bob]) await p.waitForSelector('.poll .question', { timeout: T });
  assert.equal(await bob.textContent('.poll .question'), 'alice asks: Best transport?');
  const bars = (p) => p.$$eval('.poll .option', (rows) => rows.map((r) => [r.querySelector('.count').textContent, r.querySelector('.fill').style.width]));
  await alice.click('.poll .option[data-option="0"] button');
  for (const p of [alice, bob]) {
    await p.waitForFunction(() => document.querySelector('.poll .option[data-option="0"] .count').textContent === '1', null, { timeout: T });
  }
  assert.deepEqual(await bars(bob), [['1', '100%'], ['0', '0%']]);
  await bob.click('.poll .option[data-option="1"] button');
  for (const p of [alice, bob]) {
    await p.waitForFunction(() => document.querySelector('.poll .option[data-option="1"] .count').textContent === '1', null, { timeout: T });
    assert.deepEqual(await bars(p), [['1', '50%'], ['1', '50%']]);
  }
  assert.equal(await bob.isDisabled('.poll .option[data-option="0"] button'), true, 'one vote each');
  await shot(alice, '02-alice-desktop');
  await shot(bob, '03-bob-phone');

  // a reload logs in again (token) and shows the history and the poll
  await bob.reload();
  await bob.waitForSelector('#app:not([hidden])', { timeout: T });
  await waitTexts(bob, '#timeline .msg .text', [html, 'hi alice, ça va ?']);
  await bob.waitForFunction(() => document.querySelectorAll('.poll .count').length === 2, null, { timeout: T });
  assert.deepEqual(await bars(bob), [['1', '50%'], ['1', '50%']]);
  assert.equal(await bob.isDisabled('.poll .option[data-option="0"] button'), true, 'the vote is remembered');

  // the server restarts: the pages reconnect by themselves and keep working.
  // "connected" shows before the page has logged in and joined the room again,
  // and the old timeline and user list stay on screen meanwhile: the room is
  // back once its history has been loaded afresh (the marked entries replaced).
  for (const p of [alice, bob]) {
    await p.evaluate(() => document.querySelectorAll('#timeline li').forEach((li) => { li.dataset.beforeRestart = '1'; }));
  }
  await server.restart();
  for (const p of [alice, bob]) {
    await connected(p);
    await p.waitForFunction(() => document.querySelectorAll('#timeline li').length > 0
      && !document.querySelector('#timeline li[data-before-restart]'), null, { timeout: T });
  }
  await waitTexts(alice, '#users li', ['alice', 'bob']);
  await alice.fill('#text', 'after the restart');
  await alice.click('#send-button');
  await waitTexts(bob, '#timeline .msg .text', [html, 'hi alice, ça va ?', 'after the restart']);
  await alice.reload();
  await alice.waitForSelector('#app:not([hidden])', { timeout: T });
  await waitTexts(alice, '#timeline .msg .text', [html, 'hi alice, ça va ?', 'after the restart']);
  assert.deepEqual(await bars(alice), [['1', '50%'], ['1', '50%']]);
  await shot(bob, '04-bob-phone-after-restart');

  // the /legacy page (socket.io-client 1.4, Engine.IO v3) in the same room
  const carol = await person('carol', { width: 900, height: 700 });
  await carol.goto(server.url + '/legacy');
  await connected(carol);
  assert.equal(await carol.evaluate(() => io.protocol), 4, 'the 1.x client (Socket.IO protocol 4)');
  await auth(carol, 'carol', 'carol-secret', '#register');
  await carol.waitForSelector('#app:not([hidden])', { timeout: T });
  await waitTexts(carol, '#timeline .msg .text', [html, 'hi alice, ça va ?', 'after the restart']);
  await carol.fill('#text', 'from the 1.4 client');
  await carol.click('#send-button');
  await waitTexts(alice, '#timeline .msg .text', [html, 'hi alice, ça va ?', 'after the restart', 'from the 1.4 client']);
  await waitTexts(bob, '#users li', ['alice', 'bob', 'carol']);
  await shot(carol, '05-carol-legacy');

  assert.deepEqual(errors, [], 'no page errors');
});
