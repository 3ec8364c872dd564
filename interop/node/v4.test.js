"use strict";
// socket.io-client 4.x (Node build), JSON parser, against the interop example server.
const C = require("./lib/common");
C.setSuite("node-v4");
require("./lib/v4-cases").register({ client: "socket.io-client@4", url: C.env.url });
