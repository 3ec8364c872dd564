#!/usr/bin/env bash
# Builds the side-by-side peers of the benchmark (see bench/README.md):
#   socketioxide  release build of bench/peers/socketioxide (its own Cargo project)
#   node          npm ci in bench/peers/node (socket.io 4.8, package-lock.json)
#   python        venv in bench/peers/python/.venv (python-socketio + uvicorn)
# The raw WebSocket peer (sockio-rawws) and sockio's own bench_peer are built by
# bench/run.sh from the workspace.
# Usage: bench/peers/setup.sh [socketioxide] [node] [python]   (default: all)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(socketioxide node python)
status=0
for p in "${want[@]}"; do
  case "$p" in
    socketioxide)
      echo "== socketioxide: cargo build --release" >&2
      (cd "$HERE/socketioxide" && nice -n 10 cargo build --release --quiet) || { echo "socketioxide peer: build failed" >&2; status=1; } ;;
    node)
      echo "== node: npm ci" >&2
      if command -v npm >/dev/null; then
        (cd "$HERE/node" && nice -n 10 npm ci --no-audit --no-fund --loglevel=error) || { echo "node peer: npm ci failed" >&2; status=1; }
      else echo "node peer: npm not found, skipped" >&2; fi ;;
    python)
      echo "== python: venv + pip install -r requirements.txt" >&2
      (cd "$HERE/python" && { [ -x .venv/bin/python ] || python3 -m venv .venv; } \
        && nice -n 10 .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt) \
        || { echo "python peer: install failed" >&2; status=1; } ;;
    *) echo "unknown peer $p" >&2; status=1 ;;
  esac
done
exit $status
