#!/usr/bin/env bash
# Cross-node broadcast: what a broadcast that arrives from another server over Redis
# costs the server that delivers it, against a broadcast made on that server.
#
# Two servers A and B of one cluster on a private redis-server (free port, stopped at
# the end). Receivers in room `bench` on B (pinned to CPU 0); the load generator and
# A on CPU 1. Scenarios (sockio-loadgen broadcast, window mode), server CPU per
# delivery read from B's /proc/<pid>/stat:
#   local  sender on B: B delivers its own broadcasts (and, with the adapter, publishes them)
#   cross  sender on A: A publishes, B receives from Redis and delivers
#   alone  sender on B, no adapter (the single-process figure)
# Peers: sockio (bench_peer with REDIS_URL) and Node (bench/peers/node with REDIS_URL,
# @socket.io/redis-adapter 8.x). Prints a markdown table of medians.
#
#   bench/cluster.sh [--runs 3] [--duration 10] [--receivers 1000] [--peers "sockio node"]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3; DURATION=10; WARMUP=3; RECEIVERS=1000; PEERS="sockio node"; WINDOW=8
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --receivers) RECEIVERS=$2; shift ;;
    --peers) PEERS=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "[cluster-bench] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

LG="$ROOT/target/release/sockio-loadgen"
SOCKIO="$ROOT/target/release/examples/bench_peer"
(cd "$ROOT" && nice -n 10 cargo build --release --quiet -p sockio-loadgen && nice -n 10 cargo build --release --quiet -p sockio --example bench_peer) || exit 1
[ -d "$ROOT/bench/peers/node/node_modules/@socket.io/redis-adapter" ] || (cd "$ROOT/bench/peers/node" && npm ci --no-audit --no-fund) || exit 1
ulimit -n 65536 2>/dev/null || true

OUT="$ROOT/bench/results/cluster-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
JSONL="$OUT/results.jsonl"; : > "$JSONL"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no > "$OUT/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID"); wait_port "$RPORT" || { log "redis-server did not start"; exit 1; }
REDIS="redis://127.0.0.1:$RPORT"
log "redis-server pid $RPID on $RPORT"

start_peer() { # peer cpu port redis(empty = none) logfile -> pid
  local env=(PORT="$3")
  [ -n "$4" ] && env+=(REDIS_URL="$4")
  case "$1" in
    sockio) env "${env[@]}" taskset -c "$2" "$SOCKIO" > "$5" 2>&1 & ;;
    node) env "${env[@]}" taskset -c "$2" node "$ROOT/bench/peers/node/server.js" > "$5" 2>&1 & ;;
  esac
  echo $!
}

for run in $(seq 1 "$RUNS"); do
  for peer in $PEERS; do
    for sc in alone local cross; do
      PB=$(free_port); PA=$(free_port)
      redis=$REDIS; [ $sc = alone ] && redis=""
      B=$(start_peer "$peer" 0 "$PB" "$redis" "$OUT/$peer-$sc-$run-B.log"); PIDS+=("$B")
      wait_port "$PB" || { log "$peer B did not start"; continue; }
      sender=()
      if [ $sc = cross ]; then
        A=$(start_peer "$peer" 1 "$PA" "$redis" "$OUT/$peer-$sc-$run-A.log"); PIDS+=("$A")
        wait_port "$PA" || { log "$peer A did not start"; continue; }
        sender=(--sender-url "http://127.0.0.1:$PA")
      fi
      sleep 0.5
      log "run $run, $peer, $sc"
      timeout 300 taskset -c 1 "$LG" broadcast --receivers "$RECEIVERS" --window "$WINDOW" \
        --url "http://127.0.0.1:$PB" "${sender[@]}" --server-pid "$B" --duration "$DURATION" \
        --warmup "$WARMUP" --json --peer "$peer" --run "$run" --scenario "bcast-$sc" >> "$JSONL" \
        || log "loadgen failed: $peer $sc"
      kill "$B" ${A:-} 2>/dev/null; wait "$B" ${A:-} 2>/dev/null; A=""
    done
  done
done

python3 - "$JSONL" "$RECEIVERS" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(peer, sc, key):
    v = [r[key] for r in rows if r["peer"] == peer and r["scenario"] == f"bcast-{sc}" and r.get(key) is not None]
    return statistics.median(v) if v else None
peers = sorted({r["peer"] for r in rows}, key=lambda p: ["sockio", "node"].index(p) if p in ("sockio", "node") else 9)
print(f"| server ({sys.argv[2]} receivers on B) | alone: µs/delivery | local (adapter): µs/delivery | cross-node: µs/delivery on B | cross / local | cross: deliveries/s | cross p50 / p99 | lost |")
print("|---|---|---|---|---|---|---|---|")
for p in peers:
    a, l, c = (med(p, s, "server_cpu_us_per_msg") for s in ("alone", "local", "cross"))
    rate, p50, p99 = med(p, "cross", "rate_per_s"), med(p, "cross", "p50_us"), med(p, "cross", "p99_us")
    lost = sum((r.get("lost") or 0) for r in rows if r["peer"] == p)
    f = lambda x, d=2: "–" if x is None else f"{x:.{d}f}"
    ratio = f"{c / l:.2f}x" if c and l else "–"
    print(f"| {p} | {f(a)} | {f(l)} | {f(c)} | {ratio} | {f(rate, 0)} | {f(p50 and p50/1000, 1)} / {f(p99 and p99/1000, 1)} ms | {lost} |")
PY
log "results: $JSONL"
