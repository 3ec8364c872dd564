"use strict";
// socket.io-client 4.x with socket.io-msgpack-parser 3.x against the --msgpack-port endpoint
// (LEGACY-SERVER.md §2).
const C = require("./lib/common");
const parser = require("socket.io-msgpack-parser");
C.setSuite("node-msgpack");
require("./lib/v4-cases").register({
  client: "socket.io-client@4+msgpack",
  url: C.env.msgpackUrl,
  extra: { parser },
  msgpack: true,
});
