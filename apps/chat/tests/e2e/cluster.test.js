// Two sockio-chat processes on one SQLite file and one private redis-server
// (--redis-url), official socket.io-client 4.x on each: one chat. A message
// crosses servers, the user list holds both servers' users, and when a server
// is killed its users leave the other server's lists and counts.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { io } = require('socket.io-client');
const { Server, freePort, once, call, collect, until } = require('./lib');

const REDIS = process.env.REDIS_SERVER || 'redis-server';
const haveRedis = spawnSync(REDIS, ['--version']).status === 0;

async function startRedis() {
  const port = await freePort();
  const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i += 1) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) return { child, url: `redis://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  throw new Error('redis-server did not listen');
}

const names = (l) => l.users.map((u) => u.username).join();

test('two servers on one Redis are one chat; a killed server takes its users along',
  { skip: haveRedis ? false : `SKIPPED: no ${REDIS} (scripts/test.sh installs Debian's)` }, async () => {
    const redis = await startRedis();
    const a = new Server();
    const b = new Server();
    const env = { REDIS_URL: redis.url, DATABASE_URL: `sqlite://${path.join(a.dir, 'chat.db')}` };
    const sockets = [];
    try {
      await a.start(env);
      await b.start(env);
      const user = async (server, name) => {
        const s = io(`${server.url}/chat`, { transports: ['websocket'], forceNew: true, reconnection: false });
        sockets.push(s);
        await once(s, 'connected');
        const res = await call(s, 'register', { username: name, password: 'secret-pw' });
        assert.equal(res.ok, true, JSON.stringify(res));
        return s;
      };
      const ann = await user(a, 'ann');
      const ben = await user(b, 'ben');
      const annLists = collect(ann, 'user-list');
      let res = await call(ann, 'join room', { room: 'General' });
      assert.equal(res.ok, true, JSON.stringify(res));
      const newUser = once(ann, 'new-user');
      res = await call(ben, 'join room', { room: 'General' });
      assert.deepEqual(res, { ok: true, room: 'General', members: 2 });
      assert.equal((await newUser)[0].username, 'ben');
      await until(() => annLists.some((l) => names(l) === 'ann,ben'), 5000, "ann's list with ben (on the other server)");

      const got = once(ben, 'new-message');
      res = await call(ann, 'message', { room: 'General', text: 'across servers' });
      assert.equal(res.ok, true, JSON.stringify(res));
      const [m] = await got;
      assert.deepEqual([m.id, m.author, m.text], [res.id, 'ann', 'across servers']);

      res = await call(ann, 'rooms', null);
      assert.deepEqual(res.rooms.find((r) => r.name === 'General'), { name: 'General', members: 2 });

      // server B dies without a goodbye: ann's server stops counting ben
      b.child.kill('SIGKILL');
      await new Promise((r) => b.child.once('exit', r));
      await until(async () => {
        const r = await call(ann, 'rooms', null);
        return r.rooms.find((x) => x.name === 'General').members === 1;
      }, 5000, 'General counted without the killed server');
      // and a's chat goes on
      const mine = once(ann, 'new-message');
      res = await call(ann, 'message', { room: 'General', text: 'alone now' });
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.equal((await mine)[0].text, 'alone now');
    } finally {
      for (const s of sockets) s.close();
      await a.stop();
      await b.stop();
      redis.child.kill();
      a.cleanup();
      b.cleanup();
    }
  });
