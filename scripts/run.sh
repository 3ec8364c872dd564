#!/usr/bin/env bash
# Runs the main job: the chat of the Flask-SocketIO tutorials on sockio, at
# http://127.0.0.1:${PORT:-3001}. Installs the official browser client from npm
# (served by the app itself: the page works without internet access).
set -euo pipefail
cd "$(dirname "$0")/.."
page=crates/sockio/examples/chat
if [ ! -f "$page/socket.io.min.js" ]; then
  if [ ! -f interop/node_modules/socket.io-client/dist/socket.io.min.js ]; then
    (cd interop && npm ci --no-audit --no-fund --loglevel=error)
  fi
  cp interop/node_modules/socket.io-client/dist/socket.io.min.js "$page/socket.io.min.js"
fi
exec cargo run --release -p sockio --example chat
