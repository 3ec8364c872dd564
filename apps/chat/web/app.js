// sockio chat page: speaks the /chat protocol (apps/chat/PROTOCOL.md) through
// the official socket.io client the page loaded (4.x on /, 1.4 on /legacy).
// Plain ES5 so that it reads the same with either client. Everything a user
// typed is put on the page with textContent: HTML in a message shows as text.
(function () {
  'use strict';
  var TOKEN = 'sockio-chat-token';
  var $ = function (id) { return document.getElementById(id); };
  var socket = io('/chat');
  var state = { user: null, guest: null, room: null, seen: {}, polls: {}, typingTimer: null, lastTyping: 0 };
  var token = null;
  try { token = window.localStorage.getItem(TOKEN); } catch (e) { /* private mode */ }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clock(ms) {
    var d = new Date(ms);
    return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }
  function setToken(t) {
    token = t;
    try { if (t) window.localStorage.setItem(TOKEN, t); else window.localStorage.removeItem(TOKEN); } catch (e) { /* ignore */ }
  }
  function showError(id, text) { $(id).textContent = text || ''; }

  // ---- connection -------------------------------------------------------
  socket.on('connect', function () {
    $('status').textContent = 'connected';
    $('status').className = 'status';
    if (token) socket.emit('login', { token: token });
    else if (state.guest) identify(state.guest);
  });
  socket.on('disconnect', function () {
    $('status').textContent = 'reconnecting…';
    $('status').className = 'status off';
  });
  socket.on('connected', function (info) {
    if (info && info.max_message_chars) $('text').maxLength = info.max_message_chars;
  });

  // ---- accounts ---------------------------------------------------------
  function credentials() {
    return { username: $('username').value.trim(), password: $('password').value };
  }
  $('auth-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    showError('auth-error', '');
    socket.emit('login', credentials());
  });
  $('register').addEventListener('click', function () {
    showError('auth-error', '');
    socket.emit('register', credentials());
  });
  socket.on('logsuc', function (d) {
    state.user = d.username;
    state.guest = null;
    setToken(d.token);
    $('password').value = '';
    enter();
  });
  socket.on('logfail', function (d) {
    if (token && d.code === 'bad_token') setToken(null);
    if (!state.user) showError('auth-error', d.reason);
  });
  function identify(name) {
    socket.emit('identify', name, function (res) {
      if (!res || !res.ok) { showError('auth-error', res ? res.reason : 'no answer'); return; }
      state.guest = res.name;
      enter();
    });
  }
  $('guest-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    identify($('guest-name').value);
  });
  $('logout').addEventListener('click', function () {
    socket.emit('logout', function () {
      setToken(null);
      window.location.reload();
    });
  });

  function enter() {
    $('auth').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = !state.user;
    $('me').textContent = state.user ? state.user : state.guest + ' (guest)';
    var readOnly = !state.user;
    $('text').disabled = readOnly;
    $('send-button').disabled = readOnly;
    $('text').placeholder = readOnly ? 'Log in to write' : 'Say something';
    $('poll-box').hidden = readOnly;
    $('new-room').hidden = readOnly;
    loadRooms();
    join(state.room || 'General');
  }

  // ---- rooms ------------------------------------------------------------
  function loadRooms() {
    socket.emit('rooms', function (res) {
      if (!res || !res.ok) return;
      var ul = $('rooms');
      ul.textContent = '';
      res.rooms.forEach(function (r) {
        var li = el('li');
        var b = el('button', r.name === state.room ? 'current' : '', r.name);
        b.type = 'button';
        b.setAttribute('data-room', r.name);
        b.appendChild(el('span', 'count', String(r.members)));
        b.addEventListener('click', function () { join(r.name); });
        li.appendChild(b);
        ul.appendChild(li);
      });
    });
  }
  socket.on('new-room', loadRooms);
  $('new-room').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var name = $('new-room-name').value.trim();
    socket.emit('create-room', { name: name }, function (res) {
      if (!res || !res.ok) { showError('room-error', res ? res.reason : 'no answer'); return; }
      $('new-room-name').value = '';
      join(res.room.name);
    });
  });

  function join(name) {
    if (state.room && state.room.toLowerCase() !== name.toLowerCase()) {
      socket.emit('leave room', { room: state.room });
    }
    socket.emit('join room', { room: name }, function (res) {
      if (!res || !res.ok) { showError('room-error', res ? res.reason : 'no answer'); return; }
      showError('room-error', '');
      loadRooms();
    });
  }

  socket.on('populate', function (d) {
    state.room = d.room;
    state.seen = {};
    state.polls = {};
    $('room-title').textContent = '# ' + d.room;
    $('timeline').textContent = '';
    var items = [];
    d.messages.forEach(function (m) { items.push({ t: m.time, k: 0, id: m.id, m: m }); });
    d.polls.forEach(function (p) { items.push({ t: p.time, k: 1, id: p.id, p: p }); });
    items.sort(function (a, b) { return a.t - b.t || a.k - b.k || a.id - b.id; });
    items.forEach(function (i) { if (i.m) addMessage(i.m); else addPoll(i.p); });
    var buttons = document.querySelectorAll('#rooms button');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].className = buttons[i].getAttribute('data-room') === d.room ? 'current' : '';
    }
  });

  function scrollDown() {
    var t = $('timeline');
    t.scrollTop = t.scrollHeight;
  }

  function addMessage(m) {
    if (state.seen[m.id]) return;
    state.seen[m.id] = true;
    var li = el('li', 'msg');
    li.setAttribute('data-id', m.id);
    li.appendChild(el('span', 'author', m.author));
    li.appendChild(el('span', 'text', m.text));
    li.appendChild(el('span', 'time', clock(m.time)));
    $('timeline').appendChild(li);
    scrollDown();
  }
  function system(text) {
    $('timeline').appendChild(el('li', 'system', text));
    scrollDown();
  }

  socket.on('new-message', function (m) {
    if (m.room === state.room) {
      addMessage(m);
      $('typing').textContent = '';
    }
  });
  socket.on('new-user', function (d) {
    if (d.room === state.room && d.username !== (state.user || state.guest)) {
      system(d.username + (d.guest ? ' (guest)' : '') + ' joined');
    }
  });
  socket.on('user-list', function (d) {
    if (d.room !== state.room) return;
    var ul = $('users');
    ul.textContent = '';
    d.users.forEach(function (u) {
      ul.appendChild(el('li', u.guest ? 'guest' : 'user', u.username + (u.guest ? ' (guest)' : '')));
    });
    $('user-count').textContent = '(' + d.count + ')';
    var counts = document.querySelectorAll('#rooms button.current .count');
    if (counts.length) counts[0].textContent = String(d.count);
  });
  socket.on('typing', function (d) {
    if (d.room !== state.room) return;
    $('typing').textContent = d.username + ' is typing…';
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { $('typing').textContent = ''; }, 2500);
  });

  // ---- sending ----------------------------------------------------------
  $('send').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('text').value;
    if (!text.trim() || !state.room) return;
    socket.emit('message', { room: state.room, text: text }, function (res) {
      if (!res || !res.ok) { showError('room-error', res ? res.reason : 'no answer'); return; }
      showError('room-error', '');
    });
    $('text').value = '';
  });
  $('text').addEventListener('input', function () {
    var now = Date.now();
    if (state.room && state.user && now - state.lastTyping > 1500) {
      state.lastTyping = now;
      socket.emit('typing', { room: state.room });
    }
  });

  // ---- polls ------------------------------------------------------------
  function addPoll(p) {
    var li = el('li', 'poll');
    li.setAttribute('data-poll', p.id);
    li.appendChild(el('div', 'question', p.author + ' asks: ' + p.question));
    var rows = [];
    p.options.forEach(function (label, i) {
      var row = el('div', 'option');
      row.setAttribute('data-option', i);
      row.appendChild(el('span', 'label', label));
      var right = el('span', 'right');
      var count = el('span', 'count', '0');
      right.appendChild(count);
      var b = el('button', 'vote', 'Vote');
      b.type = 'button';
      b.addEventListener('click', function () { vote(p.id, i); });
      right.appendChild(b);
      row.appendChild(right);
      var bar = el('div', 'bar');
      var fill = el('div', 'fill');
      bar.appendChild(fill);
      row.appendChild(bar);
      li.appendChild(row);
      rows.push({ row: row, count: count, fill: fill, button: b });
    });
    state.polls[p.id] = { rows: rows };
    $('timeline').appendChild(li);
    drawBars(p.id, p.counts);
    if (p.voted !== undefined && p.voted !== null) markVoted(p.id, p.voted);
    if (!state.user) markVoted(p.id, -1);
    scrollDown();
  }
  function drawBars(id, counts) {
    var poll = state.polls[id];
    if (!poll) return;
    var total = 0;
    counts.forEach(function (c) { total += c; });
    poll.rows.forEach(function (r, i) {
      var c = counts[i] || 0;
      r.count.textContent = String(c);
      r.fill.style.width = (total ? Math.round(100 * c / total) : 0) + '%';
    });
  }
  function markVoted(id, option) {
    var poll = state.polls[id];
    if (!poll) return;
    poll.rows.forEach(function (r, i) {
      r.button.disabled = true;
      if (i === option) r.row.className = 'option mine';
    });
  }
  function vote(id, option) {
    socket.emit('vote', { poll: id, option: option }, function (res) {
      if (!res || !res.ok) {
        showError('room-error', res ? res.reason : 'no answer');
        if (res && res.code === 'already_voted') markVoted(id, -1);
        return;
      }
      markVoted(id, option);
    });
  }
  socket.on('new-poll', function (p) { if (p.room === state.room) addPoll(p); });
  socket.on('voting bar', function (d) { drawBars(d.poll, d.counts); });
  $('poll-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var options = $('poll-options').value.split('\n').map(function (s) { return s.trim(); })
      .filter(function (s) { return s.length > 0; });
    socket.emit('create-poll', { room: state.room, question: $('poll-question').value, options: options }, function (res) {
      if (!res || !res.ok) { showError('room-error', res ? res.reason : 'no answer'); return; }
      showError('room-error', '');
      $('poll-question').value = '';
      $('poll-options').value = '';
      $('poll-box').open = false;
    });
  });
})();
