#!/usr/bin/env bash
# End-to-end suites of the chat app and the tutorial examples, with the official
# clients: socket.io-client 4.x and 1.4 from Node, and the pages in Debian's
# Chromium through playwright-core. Installs what it needs (npm ci in
# apps/chat and examples/tutorials, apt-get install chromium when missing).
#
#   scripts/chat-e2e.sh            everything
#   scripts/chat-e2e.sh --quick    no browser suites
#
# Screenshots: apps/chat/tests/artifacts/, examples/tutorials/tests/artifacts/.
# Last line: "N passed, N failed"; exit status 1 if anything failed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
log() { printf '\n==> %s\n' "$*"; }

npm_ci() { # dir
  local dir=$1 stamp=$1/node_modules/.e2e-stamp
  if [ -f "$stamp" ] && [ "$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)" = "$(cat "$stamp")" ]; then
    return 0
  fi
  log "npm ci in ${dir#$ROOT/}"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) || return 1
  sha256sum "$dir/package-lock.json" | cut -d' ' -f1 > "$stamp"
}

npm_ci "$ROOT/apps/chat" || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
npm_ci "$ROOT/examples/tutorials" || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
if [ "$QUICK" = 0 ] && [ ! -x /usr/bin/chromium ]; then
  log "apt-get install chromium"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
    || { echo "cannot install chromium"; echo "0 passed, 1 failed"; exit 1; }
fi

log "cargo build -p sockio-chat -p sockio-tutorials"
(cd "$ROOT" && cargo build -p sockio-chat -p sockio-tutorials 2>&1 | tail -n 3) \
  || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

PASS=0; FAIL=0
suite() { # dir file...
  local dir=$1; shift
  log "node --test ${dir#$ROOT/}: $*"
  local out rc p f
  out=$(mktemp)
  (cd "$dir" && timeout --kill-after=10 600 node --test --test-reporter=spec --test-concurrency=1 "$@") 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  p=$(grep -E '^ℹ pass [0-9]+' "$out" | tail -n1 | awk '{print $3}')
  f=$(grep -E '^ℹ fail [0-9]+' "$out" | tail -n1 | awk '{print $3}')
  rm -f "$out"
  p=${p:-0}; f=${f:-0}
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  PASS=$((PASS + p)); FAIL=$((FAIL + f))
}

suite "$ROOT/apps/chat" tests/e2e/protocol.test.js tests/e2e/cluster.test.js
suite "$ROOT/examples/tutorials" tests/node.test.js
if [ "$QUICK" = 0 ]; then
  suite "$ROOT/apps/chat" tests/e2e/browser.test.js
  suite "$ROOT/examples/tutorials" tests/browser.test.js
fi

log "chat and tutorials end to end"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
