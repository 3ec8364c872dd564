// The /chat protocol end to end with the official Node clients: socket.io-client
// 4.x (WebSocket and polling) and 1.4 (Engine.IO v3, the /legacy page's client)
// against the real sockio-chat binary on a fresh SQLite file.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const io14 = require('socket.io-client-1.4');
const { Server, once, call, collect, until } = require('./lib');

const server = new Server();
test.before(async () => { await server.start(); });
test.after(async () => { await server.stop(); server.cleanup(); });

const flavours = [
  ['socket.io-client 4 / websocket', (url) => io(url + '/chat', { transports: ['websocket'], forceNew: true, reconnection: false })],
  ['socket.io-client 4 / polling', (url) => io(url + '/chat', { transports: ['polling'], forceNew: true, reconnection: false })],
  ['socket.io-client 1.4 / websocket', (url) => io14(url + '/chat', { transports: ['websocket'], forceNew: true, reconnection: false })],
  ['socket.io-client 1.4 / polling', (url) => io14(url + '/chat', { transports: ['polling'], forceNew: true, reconnection: false })],
];

let n = 0;
async function user(connect, name) {
  const s = connect(server.url);
  await once(s, 'connected');
  const logsuc = once(s, 'logsuc');
  const res = await call(s, 'register', { username: name, password: 'secret-pw' });
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.deepEqual((await logsuc)[0], res, 'logsuc carries the ack');
  return s;
}

for (const [label, connect] of flavours) {
  test(`${label}: log in, join, talk, vote, bad input`, async () => {
    n += 1;
    const a = await user(connect, `ann${n}`);
    const b = await user(connect, `ben${n}`);
    const room = `Room ${n}`;
    let res = await call(a, 'create-room', { name: room });
    assert.equal(res.ok, true, JSON.stringify(res));

    const list = collect(a, 'user-list');
    for (const s of [a, b]) {
      const pop = once(s, 'populate');
      res = await call(s, 'join room', { room });
      assert.equal(res.ok, true, JSON.stringify(res));
      const [p] = await pop;
      assert.equal(p.room, room);
      assert.deepEqual(p.messages, []);
    }
    await until(() => list.some((l) => l.users.map((u) => u.username).join() === `ann${n},ben${n}`), 5000, 'user-list with both');

    // a message with HTML and non-ASCII text reaches both, verbatim
    const text = '<img src=x onerror=alert(1)> héllo ✓';
    const ma = once(a, 'new-message');
    const mb = once(b, 'new-message');
    res = await call(a, 'message', { room, text });
    assert.equal(res.ok, true, JSON.stringify(res));
    for (const [m] of [await ma, await mb]) {
      assert.deepEqual([m.id, m.room, m.author, m.text], [res.id, room, `ann${n}`, text]);
    }

    // a poll: the bars move for both; a second vote is refused
    const np = once(b, 'new-poll');
    res = await call(a, 'create-poll', { room, question: 'Tea or coffee?', options: ['tea', 'coffee'] });
    assert.equal(res.ok, true, JSON.stringify(res));
    const poll = res.poll;
    assert.equal((await np)[0].question, 'Tea or coffee?');
    const bars = collect(a, 'voting bar');
    assert.equal((await call(b, 'vote', { poll, option: 1 })).ok, true);
    assert.equal((await call(a, 'vote', { poll, option: 1 })).ok, true);
    res = await call(b, 'vote', { poll, option: 0 });
    assert.equal(res.code, 'already_voted');
    await until(() => bars.length >= 2, 5000, 'two voting bars');
    assert.deepEqual(bars.map((x) => x.counts), [[0, 1], [0, 2]]);

    // bad input: an error ack, nothing stored
    assert.equal((await call(a, 'message', { room, text: '   ' })).code, 'empty_message');
    assert.equal((await call(a, 'message', { room, text: 'x'.repeat(2001) })).code, 'message_too_long');
    assert.equal((await call(a, 'message', { room: 'No such room', text: 'hi' })).code, 'unknown_room');
    assert.equal((await call(a, 'message', 'not an object')).code, 'bad_request');
    assert.equal((await call(a, 'vote', { poll: 424242, option: 0 })).code, 'unknown_poll');
    const pop = once(b, 'populate');
    await call(b, 'join room', { room });
    const [p] = await pop;
    assert.deepEqual(p.messages.map((m) => m.text), [text]);
    assert.deepEqual(p.polls.map((x) => x.counts), [[0, 2]]);

    list.stop(); bars.stop();
    a.close(); b.close();
  });
}

test('a wrong password and an unknown user get the same logfail', async () => {
  const s = io(server.url + '/chat', { forceNew: true, reconnection: false });
  await once(s, 'connected');
  await call(s, 'register', { username: 'dora', password: 'secret-pw' });
  const f1 = once(s, 'logfail');
  const wrong = await call(s, 'login', { username: 'dora', password: 'wrong-pw' });
  assert.deepEqual((await f1)[0], wrong);
  const unknown = await call(s, 'login', { username: 'nobody-here', password: 'wrong-pw' });
  assert.deepEqual(wrong, unknown);
  assert.equal(wrong.code, 'bad_credentials');
  s.close();
});

test('4.x and 1.4 clients share a room', async () => {
  const a = await user(flavours[0][1], 'mixed4');
  const b = await user(flavours[2][1], 'mixed14');
  for (const s of [a, b]) {
    const pop = once(s, 'populate');
    await call(s, 'join room', { room: 'General' });
    await pop;
  }
  const got = once(b, 'new-message');
  await call(a, 'message', { room: 'General', text: 'from 4 to 1.4: ünïcödé' });
  assert.equal((await got)[0].text, 'from 4 to 1.4: ünïcödé');
  const back = once(a, 'new-message');
  await call(b, 'message', { room: 'General', text: 'and back' });
  assert.equal((await back)[0].author, 'mixed14');
  a.close(); b.close();
});

test('a restart keeps accounts, rooms, messages and votes; the token logs in again', async () => {
  const a = await user(flavours[0][1], 'keeper');
  const token = (await call(a, 'login', { username: 'keeper', password: 'secret-pw' })).token;
  await call(a, 'create-room', { name: 'Kept room' });
  const pop = once(a, 'populate');
  await call(a, 'join room', { room: 'Kept room' });
  await pop;
  await call(a, 'message', { room: 'Kept room', text: 'written before the restart' });
  const poll = (await call(a, 'create-poll', { room: 'Kept room', question: 'Still here?', options: ['yes', 'no'] })).poll;
  await call(a, 'vote', { poll, option: 0 });
  a.close();

  await server.restart();

  const s = io(server.url + '/chat', { forceNew: true, reconnection: false });
  await once(s, 'connected');
  const res = await call(s, 'login', { token });
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.equal(res.username, 'keeper');
  const p2 = once(s, 'populate');
  assert.equal((await call(s, 'join room', { room: 'kept room' })).ok, true);
  const [p] = await p2;
  assert.deepEqual(p.messages.map((m) => m.text), ['written before the restart']);
  assert.deepEqual(p.polls.map((x) => [x.counts, x.voted]), [[[1, 0], 0]]);
  s.close();
});
