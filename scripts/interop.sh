#!/usr/bin/env bash
# End-to-end interop suites: official, unmodified Socket.IO / Engine.IO clients (Node,
# Python, Chromium) against the sockio example servers. Idempotent, self-contained on a
# fresh Debian machine (root, node 20, npm, python3, cargo). Network: 127.0.0.1 only.
#
#   scripts/interop.sh              everything
#   scripts/interop.sh --quick      skip the browser (Chromium) suite
#   scripts/interop.sh --reference  run the suites against the stock Node servers
#                                   (interop/reference/server.js) instead of sockio,
#                                   to check the suites themselves
#   scripts/interop.sh --only "node-v4 python"   run only these suites
#
# Suites: node-v4 python node-msgpack node-recovery node-legacy browser-legacy
#         node-engine node-engine-conformance node-deflate browser-deflate
# Results: interop/results/<suite>.md (+ .json; --reference: interop/results/reference/), merged
# into interop/RESULTS.md by a full run against sockio (results/RESULTS.md otherwise).
# Last line: "N passed, N failed" over all suites; exit status 1 if anything failed.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INTEROP="$ROOT/interop"
RESULTS="$INTEROP/results"
QUICK=0
REFERENCE=0
ONLY=""

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --reference) REFERENCE=1 ;;
    --only) shift; ONLY="${1:-}" ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '\n==> %s\n' "$*"; }
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ dependencies
cd "$INTEROP" || exit 1

stamp_ok() { [ -f "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(cat "$2")" ]; }

if stamp_ok package-lock.json node_modules/.interop-stamp; then
  log "node_modules up to date"
else
  log "npm ci"
  # playwright-core never downloads a browser; the Debian chromium package is used
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund || { echo "npm ci failed" >&2; exit 1; }
  sha256sum package-lock.json | cut -d' ' -f1 > node_modules/.interop-stamp
fi

if [ ! -x .venv/bin/python ]; then
  log "python venv"
  python3 -m venv .venv || {
    apt-get update && apt-get install -y python3-venv && python3 -m venv .venv
  } || { echo "cannot create the venv" >&2; exit 1; }
fi
if stamp_ok requirements.txt .venv/.interop-stamp; then
  log "python packages up to date"
else
  log "pip install -r requirements.txt"
  .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt || { echo "pip install failed" >&2; exit 1; }
  sha256sum requirements.txt | cut -d' ' -f1 > .venv/.interop-stamp
fi

if [ "$QUICK" = 0 ] && { want browser-legacy || want browser-deflate; } && [ ! -x /usr/bin/chromium ]; then
  log "apt-get install chromium"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
    || { echo "cannot install chromium" >&2; exit 1; }
fi

# ------------------------------------------------------------------ servers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() { # port name pid
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$3" 2>/dev/null; then echo "$2 exited before listening (see $LOGS/$2.log)" >&2; return 1; fi
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 not listening on 127.0.0.1:$1 after 60 s" >&2
  return 1
}

start() { # name port cmd...
  local name=$1 port=$2; shift 2
  "$@" > "$LOGS/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  echo "$name: pid $pid, 127.0.0.1:$port ($*)"
  wait_port "$port" "$name" "$pid"
}

[ "$REFERENCE" = 1 ] && RESULTS="$INTEROP/results/reference"
LOGS="$RESULTS/logs"
rm -rf "$RESULTS"
mkdir -p "$LOGS"

# Distinct free ports for the endpoints (next_port runs in a subshell: the
# caller records each port in PORTS).
PORTS=()
next_port() {
  local p
  while :; do
    p=$(free_port)
    [[ " ${PORTS[*]} " == *" $p "* ]] || break
  done
  echo "$p"
}
P_MAIN=$(next_port); PORTS+=("$P_MAIN")
P_MSGPACK=$(next_port); PORTS+=("$P_MSGPACK")
P_ENGINE=$(next_port); PORTS+=("$P_ENGINE")
P_CONF=$(next_port); PORTS+=("$P_CONF")
P_REC=$(next_port); PORTS+=("$P_REC")
P_ADMIN=$(next_port); PORTS+=("$P_ADMIN")
P_DEFLATE=$(next_port); PORTS+=("$P_DEFLATE")

SERVERS_OK=1
if [ "$REFERENCE" = 1 ]; then
  log "starting the Node reference servers"
  start reference "$P_MAIN" node reference/server.js --port "$P_MAIN" --msgpack-port "$P_MSGPACK" --engine-port "$P_ENGINE" --recovery-port "$P_REC" --deflate-port "$P_DEFLATE" || SERVERS_OK=0
  wait_port "$P_MSGPACK" reference "${PIDS[-1]}" && wait_port "$P_ENGINE" reference "${PIDS[-1]}" && wait_port "$P_REC" reference "${PIDS[-1]}" && wait_port "$P_DEFLATE" reference "${PIDS[-1]}" || SERVERS_OK=0
  HAVE_CONF=0
else
  log "cargo build (debug)"
  cd "$ROOT" || exit 1
  BUILD_OK=1
  cargo build -p sockio --example interop --example conformance --example admin_ui 2>&1 | tail -n 30 || BUILD_OK=0
  cargo build -p sockio-engine --example echo 2>&1 | tail -n 30 || BUILD_OK=0
  cd "$INTEROP" || exit 1
  BIN="$ROOT/target/debug/examples"
  log "starting the example servers"
  if [ "$BUILD_OK" = 0 ]; then
    echo "cargo build failed: not running the suites against stale binaries" >&2; SERVERS_OK=0
  elif [ -x "$BIN/interop" ]; then
    start interop "$P_MAIN" "$BIN/interop" --port "$P_MAIN" --msgpack-port "$P_MSGPACK" --recovery-port "$P_REC" --deflate-port "$P_DEFLATE" || SERVERS_OK=0
    wait_port "$P_MSGPACK" interop "${PIDS[-1]}" && wait_port "$P_REC" interop "${PIDS[-1]}" && wait_port "$P_DEFLATE" interop "${PIDS[-1]}" || SERVERS_OK=0
  else
    echo "missing $BIN/interop" >&2; SERVERS_OK=0
  fi
  if [ "$BUILD_OK" = 0 ]; then
    :
  elif [ -x "$BIN/echo" ]; then
    start echo "$P_ENGINE" "$BIN/echo" --port "$P_ENGINE" || SERVERS_OK=0
  else
    echo "missing $BIN/echo" >&2; SERVERS_OK=0
  fi
  HAVE_ADMIN=0
  if [ "$BUILD_OK" = 1 ] && [ -x "$BIN/admin_ui" ]; then
    # The admin UI's static build comes from its npm package (npm ci above).
    start admin_ui "$P_ADMIN" env ADMIN_PASSWORD=interop-admin "$BIN/admin_ui" --port "$P_ADMIN" \
      --ui-dir "$INTEROP/node_modules/@socket.io/admin-ui/ui/dist" && HAVE_ADMIN=1
  fi
  HAVE_CONF=0
  if [ "$BUILD_OK" = 0 ]; then
    :
  elif [ -x "$BIN/conformance" ]; then
    start conformance "$P_CONF" env PORT="$P_CONF" "$BIN/conformance" && HAVE_CONF=1
  else
    echo "missing $BIN/conformance" >&2
  fi
fi

# ------------------------------------------------------------------ suites
export SOCKIO_URL="http://127.0.0.1:$P_MAIN"
export SOCKIO_MSGPACK_URL="http://127.0.0.1:$P_MSGPACK"
export SOCKIO_ENGINE_URL="http://127.0.0.1:$P_ENGINE"
export SOCKIO_RECOVERY_URL="http://127.0.0.1:$P_REC"
export SOCKIO_ADMIN_URL="http://127.0.0.1:$P_ADMIN"
export SOCKIO_DEFLATE_URL="http://127.0.0.1:$P_DEFLATE"
export INTEROP_RESULTS_DIR="$RESULTS"

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=""

run_suite() { # name cmd...
  local name=$1; shift
  want "$name" || return 0
  log "suite $name"
  local rc
  timeout --kill-after=10 900 "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  local p=0 f=0
  if [ -f "$RESULTS/$name.json" ]; then
    read -r p f < <(node -e 'const r=require(process.argv[1]); console.log(r.passed, r.failed)' "$RESULTS/$name.json")
    cat "$RESULTS/$name.md"
  else
    echo "(no results written; see $LOGS/$name.log)"
    tail -n 20 "$LOGS/$name.log"
  fi
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    echo "suite $name exited with status $rc without a failed check: counted as 1 failure (see $LOGS/$name.log)"
    f=1
  fi
  TOTAL_PASS=$((TOTAL_PASS + p))
  TOTAL_FAIL=$((TOTAL_FAIL + f))
  SUMMARY+="$(printf '%-26s %4s passed, %4s failed' "$name:" "$p" "$f")"$'\n'
}

if [ "$SERVERS_OK" = 1 ]; then
  NODE="node --test-reporter=spec"
  run_suite node-v4 $NODE node/v4.test.js
  run_suite python .venv/bin/python -m pytest python
  run_suite node-msgpack $NODE node/msgpack.test.js
  run_suite node-recovery $NODE node/recovery.test.js
  run_suite node-legacy $NODE node/legacy.test.js
  run_suite node-deflate $NODE node/deflate.test.js
  if [ "$QUICK" = 0 ]; then
    run_suite browser-legacy $NODE node/browser.test.js
    if [ "${HAVE_ADMIN:-0}" = 1 ]; then
      ADMIN_PASSWORD=interop-admin run_suite admin-ui $NODE node/admin-ui.test.js
    fi
    run_suite browser-deflate $NODE node/browser-deflate.test.js
  else
    echo "(--quick: browser suite skipped)"
  fi
  run_suite node-engine $NODE node/engine.test.js
  if [ "$HAVE_CONF" = 1 ]; then
    SOCKIO_ENGINE_URL="http://127.0.0.1:$P_CONF" INTEROP_SUITE=node-engine-conformance \
      run_suite node-engine-conformance $NODE node/engine.test.js
  fi
else
  echo "servers did not start: no suite run" >&2
  TOTAL_FAIL=$((TOTAL_FAIL + 1))
fi

for pid in "${PIDS[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "server pid $pid is not running any more (crashed?), see $LOGS/" >&2; TOTAL_FAIL=$((TOTAL_FAIL + 1)); }
done

# interop/RESULTS.md only from a full run against sockio; partial or reference runs
# write their merge next to their results
if [ "$REFERENCE" = 0 ] && [ "$QUICK" = 0 ] && [ -z "$ONLY" ]; then
  MERGED="$INTEROP/RESULTS.md"
else
  MERGED="$RESULTS/RESULTS.md"
fi
node merge-results.js --out "$MERGED" > /dev/null 2>&1 || true

log "summary"
printf '%s' "$SUMMARY"
echo "results: $MERGED, logs: $LOGS"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" = 0 ]
