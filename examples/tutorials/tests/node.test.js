// Each tutorial example driven by the client its tutorial used, from Node:
// socket.io-client 1.4.4 (Engine.IO v3) for the 2016-era AngularJS tutorials,
// 4.0.1 for the practical. What the tutorial's server printed is checked in
// the example's output.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const io14 = require('socket.io-client-1.4.4');
const { io: io4 } = require('socket.io-client-4.0.1');
const { ROOT, Server, once, call, collect, until } = require('../../../apps/chat/tests/e2e/lib');

const bin = (name) => path.join(ROOT, 'target', 'debug', `tutorial-${name}`);
const c14 = (url, opts = {}) => io14(url, { forceNew: true, reconnection: false, ...opts });
const c4 = (url, opts = {}) => io4(url, { forceNew: true, reconnection: false, ...opts });

async function withServer(name, f) {
  const s = new Server(bin(name));
  await s.start({ RUST_LOG: 'warn' });
  try { await f(s); } finally { await s.stop(); s.cleanup(); }
}

test('iss (seeds 000, 002): connected, identify, join -> populate, on /iss with 1.4.4', async () => {
  await withServer('iss', async (srv) => {
    for (const transports of [['websocket'], ['polling']]) {
      const a = c14(srv.url + '/iss', { transports });
      const args = await once(a, 'connected');
      assert.deepEqual(args, [], "emit('connected') has no arguments");
      a.emit('identify', 'alice');
      await until(() => srv.log.includes('Identify: alice'), 5000, 'Identify: alice printed');
      const room = `lobby-${transports[0]}`;
      const pop = once(a, 'populate');
      a.emit('join', room);
      assert.deepEqual((await pop)[0], []);
      const mine = once(a, 'message');
      a.emit('message', 'hello <i>room</i>');
      assert.deepEqual((await mine)[0], { username: 'alice', text: 'hello <i>room</i>' });

      const b = c14(srv.url + '/iss', { transports });
      await once(b, 'connected');
      b.emit('identify', 'bob');
      const pop2 = once(b, 'populate');
      b.emit('join', room);
      assert.deepEqual((await pop2)[0], [{ username: 'alice', text: 'hello <i>room</i>' }]);
      const toA = once(a, 'message');
      b.emit('message', 'hi alice');
      assert.deepEqual((await toA)[0], { username: 'bob', text: 'hi alice' });
      a.close(); b.close();
    }
  });
});

test('login (seed 001): login(un, pw) -> logsuc / logfail, wubalubadubdub -> foo(a, b, c), with 1.4.4', async () => {
  await withServer('login', async (srv) => {
    const s = c14(srv.url);
    await once(s, 'connect');
    const fail = once(s, 'logfail', 15000);
    s.emit('login', 'rick', 'wrong');
    assert.deepEqual(await fail, ['Invalid username or password']);
    const fail2 = once(s, 'logfail', 15000);
    s.emit('login', 'nobody', 'wubalubadubdub');
    assert.deepEqual(await fail2, ['Invalid username or password']);
    const ok = once(s, 'logsuc', 15000);
    s.emit('login', 'rick', 'wubalubadubdub');
    assert.deepEqual(await ok, ['rick']);
    const foo = once(s, 'foo');
    s.emit('wubalubadubdub');
    assert.deepEqual(await foo, ['x', 2, ['z']], "emit('foo', x, y, z): three arguments");
    await until(() => srv.log.includes('wubalubadubdub!'), 5000, 'the server printed');
    s.close();
  });
});

test("vote (seed 003): 'voting bar' (result1, result2) to everyone, with 1.4.4", async () => {
  await withServer('vote', async (srv) => {
    const a = c14(srv.url, { transports: ['websocket'] });
    const b = c14(srv.url, { transports: ['polling'] });
    assert.deepEqual(await once(a, 'voting bar'), [0, 0]);
    assert.deepEqual(await once(b, 'voting bar'), [0, 0]);
    const barsA = collect(a, 'voting bar');
    const barsB = collect(b, 'voting bar');
    a.emit('vote', 1);
    await until(() => barsB.length === 1, 5000, 'first bar');
    b.emit('vote', 2);
    b.emit('vote', 2);
    await until(() => barsA.length === 3 && barsB.length === 3, 5000, 'three bars each');
    assert.deepEqual(barsA, [[1, 0], [1, 1], [1, 2]]);
    assert.deepEqual(barsB, barsA);
    const bad = await call(a, 'vote', 3);
    assert.match(JSON.stringify(bad), /vote 1 or 2/);
    a.close(); b.close();
  });
});

test('user-chat (seed 004): message/json, /user with my response and new-user, rooms, /chat, with 4.0.1', async () => {
  await withServer('user-chat', async (srv) => {
    // on('message') || on('json')
    const root = c4(srv.url);
    await once(root, 'connect');
    root.emit('message', { data: 'Connected to the server' });
    root.emit('json', { a: 1 });
    root.emit('user-connected', { id: root.id, user: { username: 'username', email: 'email@gmail.com', id: 1 } });
    await until(() => srv.log.includes('{"message":{"data":"Connected to the server"}}'), 5000, 'message printed');
    await until(() => srv.log.includes('{"json":{"a":1}}'), 5000, 'json printed');
    await until(() => srv.log.includes('{"data":{"id":'), 5000, 'user-connected printed');

    // the /user namespace: my response on connect, new-user with a callback, broadcast
    const u1 = c4(srv.url + '/user');
    const resp = once(u1, 'my response');
    await once(u1, 'connect');
    assert.deepEqual(await resp, [{ data: 'Connected' }]);
    const u2 = c4(srv.url + '/user');
    await once(u2, 'my response');
    const data = { id: u1.id, user: { username: 'username', email: 'email@gmail.com', id: 1 } };
    const other = once(u2, 'new-user');
    const mineP = new Promise((resolve) => u1.once('new-user', (d, cb) => { cb(); resolve(d); }));
    u1.emit('user-connected', data);
    assert.deepEqual(await mineP, data);
    assert.deepEqual(await other, [data]);
    await until(() => srv.log.includes('message was received'), 5000, 'the callback ran');
    u2.close();
    await until(() => srv.log.includes('Client disconnected'), 5000, 'disconnect printed');

    // join-room / leave-room
    const r2 = c4(srv.url);
    await once(r2, 'connect');
    const joinedA = once(root, 'new-user');
    root.emit('join-room', { id: root.id, roomName: 'games', username: 'ann' });
    assert.deepEqual(await joinedA, [{ message: 'ann Joined the room.' }]);
    const joinedB = once(root, 'new-user');
    r2.emit('join-room', { id: r2.id, roomName: 'games', username: 'ben' });
    assert.deepEqual(await joinedB, [{ message: 'ben Joined the room.' }]);
    const left = once(root, 'ben has left the room.');
    r2.emit('leave-room', { username: 'ben', room: 'games' });
    assert.deepEqual(await left, [], 'the event is named by the sentence, as in the tutorial');

    // the simple chat app on /chat: send() on connect, new-message to everyone
    const chat1 = c4(srv.url + '/chat');
    const first = once(chat1, 'new-message');
    await once(chat1, 'connect');
    chat1.send('User has connected!');
    assert.deepEqual(await first, ['User has connected!']);
    const chat2 = c4(srv.url + '/chat', { transports: ['polling'] });
    await once(chat2, 'connect');
    const got1 = collect(chat1, 'new-message');
    const got2 = collect(chat2, 'new-message');
    chat2.emit('message', '<b>hello</b> from polling');
    await until(() => got1.length === 1 && got2.length === 1, 5000, 'new-message to both');
    assert.deepEqual(got1, ['<b>hello</b> from polling']);
    for (const s of [root, u1, r2, chat1, chat2]) s.close();
  });
});
