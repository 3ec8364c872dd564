#!/usr/bin/env bash
# Runs the main job: sockio-chat, the chat of the Flask-SocketIO tutorials
# (accounts, rooms with history, live messages, user lists, polls), at
# http://127.0.0.1:${PORT:-3001}/ (and /legacy for the socket.io 1.4 client).
#
# Storage: the SQLite file ./chat.db unless DATABASE_URL says otherwise
# (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test). Nothing else to
# install or start: this script fetches the official browser clients from npm
# once (the app serves them itself; the page needs no internet access).
# Extra arguments go to the app (`bash scripts/run.sh --help` lists its flags).
set -euo pipefail
cd "$(dirname "$0")/.."
web=apps/chat
stamp=$web/node_modules/.run-stamp
if [ ! -f "$stamp" ] || [ "$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)" != "$(cat "$stamp")" ]; then
  echo "installing the browser clients (npm ci in $web)" >&2
  (cd "$web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  sha256sum "$web/package-lock.json" | cut -d' ' -f1 > "$stamp"
fi
exec cargo run --release -p sockio-chat -- "$@"
