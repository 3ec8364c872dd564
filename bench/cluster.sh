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
#   bench/cluster.sh --spread 19500 [--rate 2]   three sockio servers (CPU 0), the receivers
#        spread over them by one generator (CPU 1; open-files limit ~20,000 per process),
#        the sender on the first: delivery latency, lost, RSS per server
#   bench/cluster.sh --spread 50000 --procs 3     the same with the receivers split over 3
#        generator processes (one per server, each on its own loopback source addresses)
#        and the sender in a fourth; timestamps on the wall clock, histograms merged
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3; DURATION=10; WARMUP=3; RECEIVERS=1000; PEERS="sockio node"; WINDOW=8; SPREAD=0; RATE=2; PROCS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --receivers) RECEIVERS=$2; shift ;;
    --peers) PEERS=$2; shift ;;
    --spread) SPREAD=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --procs) PROCS=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "[cluster-bench] $*" >&2; }
. "$ROOT/bench/lib.sh"  # free_port, wait_port

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

if [ "$SPREAD" -gt 0 ]; then
  ports=(); pids=()
  for i in 1 2 3; do
    p=$(free_port); ports+=("$p")
    pid=$(start_peer sockio 0 "$p" "$REDIS" "$OUT/spread-node$i.log"); PIDS+=("$pid"); pids+=("$pid")
    wait_port "$p" || { log "node $i did not start"; exit 1; }
  done
  urls="http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]}"
  if [ "$PROCS" -gt 1 ]; then
    # Sockets of an earlier run still in TIME_WAIT slow the kernel's search for free
    # ports so much that connecting 50,000 clients outlasts the servers' ping timeout
    # (45 s; a connection waiting for the others does not answer pings): wait for them.
    for _ in $(seq 1 90); do
      [ "$(ss -Htan state time-wait | wc -l)" -lt 2000 ] && break
      sleep 1
    done
    log "split: $SPREAD receivers in $PROCS generator processes over 3 sockio servers, sender on the first, $RATE broadcasts/s"
    rpids=()
    for i in $(seq 0 $((PROCS - 1))); do
      share=$(( SPREAD / PROCS + (i < SPREAD % PROCS ? 1 : 0) ))
      # each process its own server and its own 4 loopback source addresses' worth of ports
      timeout 900 taskset -c 1 "$LG" broadcast --role receivers --wall-clock --receivers "$share" \
        --url "http://127.0.0.1:${ports[$((i % 3))]}" --source-addrs 4 \
        --ready-file "$OUT/ready.$i" --stop-file "$OUT/stop" --latency-from-seq "$(python3 -c "import math; print(math.ceil($RATE * $WARMUP))")" \
        --connect-timeout 300 --json --peer sockio --scenario bcast-split > "$OUT/receivers.$i.json" 2> "$OUT/receivers.$i.log" &
      rpids+=($!); PIDS+=($!)
    done
    for _ in $(seq 1 3000); do
      ready=0; for i in $(seq 0 $((PROCS - 1))); do [ -e "$OUT/ready.$i" ] && ready=$((ready + 1)); done
      [ "$ready" = "$PROCS" ] && break
      for p in "${rpids[@]}"; do kill -0 "$p" 2>/dev/null || { log "a receiver process ended early: $(tail -n 3 "$OUT"/receivers.*.log)"; exit 1; }; done
      sleep 0.2
    done
    [ "$ready" = "$PROCS" ] || { log "receivers not ready after 600 s"; exit 1; }
    log "all $SPREAD receivers joined; sending"
    cpu_ticks() { local t=0 pid; for pid in "${pids[@]}"; do t=$(( t + $(awk '{print $14 + $15}' /proc/$pid/stat) )); done; echo $t; }
    CPU0=$(cpu_ticks)
    ( sleep $((WARMUP + DURATION / 2)); for pid in "${pids[@]}"; do grep VmRSS /proc/$pid/status | awk -v p=$pid '{print "rss", p, $2}'; done ) > "$OUT/rss.txt" &
    RSSJOB=$!
    timeout 600 taskset -c 1 "$LG" broadcast --role sender --wall-clock --rate "$RATE" --url "http://127.0.0.1:${ports[0]}" \
      --duration "$DURATION" --warmup "$WARMUP" --json --peer sockio --scenario bcast-split-sender > "$OUT/sender.json" \
      || { log "sender failed"; exit 1; }
    wait "$RSSJOB"
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["params"]["sent"])' "$OUT/sender.json" > "$OUT/stop.tmp" && mv "$OUT/stop.tmp" "$OUT/stop"
    for p in "${rpids[@]}"; do wait "$p" || log "receiver process $p failed: see $OUT/receivers.*.log"; done
    echo "$(( $(cpu_ticks) - CPU0 )) $(getconf CLK_TCK)" > "$OUT/server-cpu.txt"
    python3 - "$OUT" "$PROCS" "$SPREAD" "$DURATION" "$WARMUP" <<'PY'
import json, sys
out, procs = sys.argv[1], int(sys.argv[2])
parts = [json.load(open(f"{out}/receivers.{i}.json")) for i in range(procs)]
sent = json.load(open(f"{out}/sender.json"))["params"]["sent"]
hist = {}
for p in parts:
    for v, c in p["params"]["latency"]:
        hist[v] = hist.get(v, 0) + c
total = sum(hist.values())
def q(f):
    acc = 0
    for v in sorted(hist):
        acc += hist[v]
        if acc >= f * total:
            return v
rss = [int(l.split()[2]) for l in open(f"{out}/rss.txt") if l.startswith("rss")]
clients = sum(p["connections"] for p in parts)
delivered = sum(p["params"]["delivered"] for p in parts)
lost = sum(p["lost"] for p in parts)
errors = sum(p["errors"] for p in parts)
summary = {"clients": clients, "generator_processes": procs, "broadcasts": sent, "delivered": delivered,
           "latency_samples": total, "p50_ms": q(0.5) / 1000, "p99_ms": q(0.99) / 1000, "max_ms": max(hist) / 1000,
           "lost": lost, "errors": errors, "rss_mib": [round(k / 1024, 1) for k in rss],
           "notes": [p["note"] for p in parts if p.get("note")]}
ticks, hz = map(int, open(f"{out}/server-cpu.txt").read().split())
summary["server_cpu_us_per_delivery"] = round(ticks / hz * 1e6 / max(delivered, 1), 2)
json.dump(summary, open(f"{out}/summary.json", "w"))
print(f"clients {clients} in {procs} generator processes, {sent} broadcasts, {delivered} deliveries, "
      f"p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms (after the warm-up's broadcasts), "
      f"lost {lost}, errors {errors}, RSS per server {', '.join(f'{k} MiB' for k in summary['rss_mib'])}, "
      f"servers' CPU {summary['server_cpu_us_per_delivery']} µs per delivery")
PY
    exit 0
  fi
  log "spread: $SPREAD receivers over 3 sockio servers, sender on the first, $RATE broadcasts/s"
  ( sleep $((WARMUP + DURATION / 2 + 5)); for pid in "${pids[@]}"; do grep VmRSS /proc/$pid/status | awk -v p=$pid '{print "rss", p, $2}'; done ) > "$OUT/rss.txt" &
  RSSJOB=$!
  timeout 600 taskset -c 1 "$LG" broadcast --receivers "$SPREAD" --rate "$RATE" --url "http://127.0.0.1:${ports[1]}" \
    --receiver-urls "$urls" --sender-url "http://127.0.0.1:${ports[0]}" --server-pid "${pids[1]}" \
    --duration "$DURATION" --warmup "$WARMUP" --connect-timeout 120 --json --peer sockio --scenario bcast-spread \
    >> "$JSONL" || log "loadgen failed (spread)"
  wait "$RSSJOB"
  python3 - "$JSONL" "$OUT/rss.txt" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
rss = [int(l.split()[2]) for l in open(sys.argv[2]) if l.startswith("rss")]
print(f"clients {r['connections']}, deliveries {r['messages']} in {r['window_s']:.1f}s, p50 {r['p50_us']/1000:.1f} ms, p99 {r['p99_us']/1000:.1f} ms, lost {r['lost']}, errors {r['errors']}, RSS per server {', '.join(f'{k/1024:.1f} MiB' for k in rss)}")
PY
  exit 0
fi

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
