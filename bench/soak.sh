#!/usr/bin/env bash
# Soak test: CLIENTS clients in rooms of the interop example server exchange
# numbered messages (mixed WebSocket and long-polling, some leaving and coming
# back), then the load generator checks: zero lost, zero duplicated, zero out
# of order per sender, and samples the server's RSS (chart + figures).
#
#   bench/soak.sh              full run: 2000 clients, 600 s, 60 s warm-up; writes
#                              the "Soak" section of BENCHMARKS.md and
#                              bench/charts/soak-rss.svg; fails if RSS grew > 10 %
#                              after warm-up
#   bench/soak.sh --ci         30 s, 2000 clients, 10 s warm-up; fails on any lost,
#                              duplicated or reordered message or error (RSS reported)
# Options: --clients N, --duration S, --warmup S, --rate R (messages per client
#          per second, default 0.2), --no-build, --no-update (keep BENCHMARKS.md)
# Environment: SERVER_CPU (0), GEN_CPU (1). Results: bench/results/soak-<stamp>/.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

CLIENTS=2000; DURATION=600; WARMUP=60; RATE=0.2; BUILD=1; UPDATE=1; GROWTH=10; CI_MODE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) CI_MODE=1; DURATION=30; WARMUP=10; UPDATE=0; GROWTH=0 ;;
    --clients) CLIENTS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --no-build) BUILD=0 ;;
    --no-update) UPDATE=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
SERVER_CPU=${SERVER_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
log() { echo "[soak] $*" >&2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit: $(ulimit -n)"
LG="$ROOT/target/release/sockio-loadgen"
SRV="$ROOT/target/release/examples/interop"
if [ $BUILD = 1 ]; then
  log "building sockio-loadgen and the interop example (release)"
  nice -n 10 cargo build --release --quiet -p sockio-loadgen || { log "loadgen build failed"; exit 1; }
  nice -n 10 cargo build --release --quiet -p sockio --example interop || { log "interop build failed"; exit 1; }
fi
[ -x "$LG" ] && [ -x "$SRV" ] || { log "missing $LG or $SRV (run without --no-build)"; exit 1; }

# a free port, found now (never a fixed one)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
OUT="$ROOT/bench/results/soak-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
PIN_S=""; PIN_G=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_S="taskset -c $SERVER_CPU"; PIN_G="taskset -c $GEN_CPU"
fi
$PIN_S "$SRV" --port "$PORT" > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
stop_server() {
  [ -n "${SERVER_PID:-}" ] || return 0
  kill "$SERVER_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
}
trap stop_server EXIT INT TERM
for _ in $(seq 200); do
  kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited at start (see $OUT/server.log)"; exit 1; }
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
log "interop server pid $SERVER_PID on port $PORT; $CLIENTS clients for ${DURATION}s (warm-up ${WARMUP}s)"
ARGS=(soak --url "http://127.0.0.1:$PORT" --server-pid "$SERVER_PID" --duration "$DURATION"
      --warmup "$WARMUP" --connect-timeout 60 --clients "$CLIENTS" --rate "$RATE" --out "$OUT"
      --max-rss-growth-pct "$GROWTH" --peer sockio --json)
[ $UPDATE = 1 ] && ARGS+=(--benchmarks "$ROOT/BENCHMARKS.md" --charts "bench/charts")
$PIN_G "$LG" "${ARGS[@]}" > "$OUT/result.json"
rc=$?
stop_server
log "report: $OUT/soak.md, $OUT/soak.json, $OUT/soak-rss.svg"
[ $rc = 0 ] && log "PASS" || log "FAIL (exit $rc)"
exit $rc
