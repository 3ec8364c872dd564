"use strict";
// The loopback front server of the browser suites: it answers /__interop__/* from
// memory (Connection: close) and pipes every other TCP connection byte for byte to
// the server under test, so a page and its Socket.IO traffic share one origin and
// both ends are loopback addresses. `counted`, if given, adds up the bytes piped each
// way ({up: browser -> server, down: server -> browser}).
const net = require("node:net");

function startFront(files, target, counted) {
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
      if (counted) {
        sock.on("data", (d) => { counted.up += d.length; });
        up.on("data", (d) => { counted.down += d.length; });
      }
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

module.exports = { startFront };
