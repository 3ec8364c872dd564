#!/usr/bin/env bash
# Side-by-side benchmarks of sockio and its peers; writes BENCHMARKS.md and
# bench/charts/*.svg. See bench/README.md.
#
#   bench/run.sh              full run: build everything, 3 interleaved runs per peer
#   bench/run.sh --smoke      ~2 s per scenario on whatever peers are built; exits
#                             non-zero on tool failure (not on slow numbers) — for CI
# Options: --runs N, --peers "sockio sockio-metrics sockio-recovery socketioxide node python rawws sockio-chat",
#          --scenarios "echo broadcast broadcast-rate idle idle-50k echo-polling chat",
#          --duration S, --warmup S, --no-build, --out FILE, --strict (any peer
#          failure fails the run)
# Environment: SERVER_CPU (0), GEN_CPU (1), BCAST_RATE (10 broadcasts/s),
#          IDLE_CONNS (5000), IDLE_HOLD (30 s), IDLE50K_PEERS ("sockio socketioxide rawws"),
#          POLL_CLIENTS (50), BASE_PORT (21100; below the ephemeral port range),
#          CHAT_PAD (64: padding of a chat message's text), PLAIN_PAD (computed: the
#          plain broadcast's padding that makes both payloads the same size)
# Scenario chat: sockio-chat's `message` (stored in SQLite, then `new-message` to a
# room of 1000) side by side with sockio's plain broadcast of the same size (peer
# sockio = bench_peer); every other peer skips it, sockio-chat skips the others.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SMOKE=0; RUNS=3; BUILD=1; STRICT=0; SCEN_SET=0
PEERS="sockio sockio-metrics sockio-recovery socketioxide node python rawws sockio-chat"
SCENARIOS="echo broadcast broadcast-rate idle idle-50k echo-polling chat"
DURATION=10; WARMUP=3; OUT="$ROOT/BENCHMARKS.md"; OUT_SET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --runs) RUNS=$2; shift ;;
    --peers) PEERS=$2; shift ;;
    --scenarios) SCENARIOS=$2; SCEN_SET=1; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --no-build) BUILD=0 ;;
    --strict) STRICT=1 ;;
    --out) OUT=$2; OUT_SET=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

SERVER_CPU=${SERVER_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
BCAST_RATE=${BCAST_RATE:-10}; IDLE_CONNS=${IDLE_CONNS:-5000}; IDLE_HOLD=${IDLE_HOLD:-30}
IDLE50K_PEERS=${IDLE50K_PEERS:-"sockio socketioxide rawws"}; POLL_CLIENTS=${POLL_CLIENTS:-50}
# A chat delivery is `42/chat,["new-message",{"id":N,"room":"bench","author":"benchPIDxNANOS",
# "text":"SEQ,T,PAD","time":MS}]`; a plain one `42["msg",[SEQ,T,"PAD"]]`: the plain
# padding is the chat padding plus the difference of the fixed parts (checked in the
# results: params.bytes_per_delivery of both).
CHAT_PAD=${CHAT_PAD:-64}; PLAIN_PAD=${PLAIN_PAD:-$((CHAT_PAD + 99))}
PORT=${BASE_PORT:-21100}
STAMP=$(date +%Y%m%d-%H%M%S)
if [ $SMOKE = 1 ]; then
  RUNS=1; DURATION=2; WARMUP=1; IDLE_CONNS=${SMOKE_IDLE_CONNS:-2000}; IDLE_HOLD=2
  [ $SCEN_SET = 1 ] || SCENARIOS="echo broadcast broadcast-rate idle echo-polling chat"
  RESULTS="$ROOT/bench/results/smoke-$STAMP"
  [ $OUT_SET = 1 ] || OUT="$RESULTS/BENCHMARKS.md"
  CHARTS="$RESULTS/charts"; CHARTS_LINK="charts"
else
  RESULTS="$ROOT/bench/results/$STAMP"
  CHARTS="$ROOT/bench/charts"; CHARTS_LINK="bench/charts"
fi
mkdir -p "$RESULTS"
JSONL="$RESULTS/results.jsonl"; : > "$JSONL"
log() { echo "[bench] $*" >&2; }

command -v taskset >/dev/null || { log "taskset not found (util-linux)"; exit 1; }
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit: $(ulimit -n)"
if [[ " $SCENARIOS " == *" idle-50k "* ]] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 51000 ]; then
  log "NOTE: idle-50k needs 'ulimit -n' >= 51000 for the server and the generator; here it is $(ulimit -n)" \
      "(hard limit $(ulimit -Hn)), so it runs with as many connections as the limit allows and says so"
fi

# ---- build ----
LG="$ROOT/target/release/sockio-loadgen"
RAWWS="$ROOT/target/release/sockio-rawws"
SOCKIO="$ROOT/target/release/examples/bench_peer"
SX="$ROOT/bench/peers/socketioxide/target/release/sockio-bench-peer-socketioxide"
CHAT="$ROOT/target/release/sockio-chat"
# the smoke run uses whatever sockio-chat is built (the test command builds the debug one)
[ $SMOKE = 1 ] && [ ! -x "$CHAT" ] && CHAT="$ROOT/target/debug/sockio-chat"
if [ $BUILD = 1 ]; then
  log "building sockio-loadgen and sockio-rawws (release)"
  nice -n 10 cargo build --release --quiet -p sockio-loadgen || { log "TOOL FAILURE: loadgen build failed"; exit 1; }
  if [ -f "$ROOT/crates/sockio/examples/bench_peer.rs" ]; then
    log "building sockio bench_peer (release)"
    nice -n 10 cargo build --release --quiet -p sockio --example bench_peer \
      || log "sockio bench_peer did not build: sockio is skipped"
  fi
  if [ $SMOKE = 0 ] && [[ " $SCENARIOS " == *" chat "* ]] && [[ " $PEERS " == *" sockio-chat "* ]]; then
    log "building sockio-chat (release)"
    nice -n 10 cargo build --release --quiet -p sockio-chat || log "sockio-chat did not build: it is skipped"
  fi
  if [ $SMOKE = 0 ]; then
    log "building peers (bench/peers/setup.sh)"
    "$ROOT/bench/peers/setup.sh" || log "some peers did not build; they are skipped"
  fi
fi
[ -x "$LG" ] || { log "TOOL FAILURE: $LG missing"; exit 1; }

peer_cmd() {  # prints the command line of a peer, or nothing if it is not available
  case "$1" in
    sockio) [ -f "$ROOT/crates/sockio/examples/bench_peer.rs" ] && [ -x "$SOCKIO" ] && echo "$SOCKIO" ;;
    # bench_peer with a feature that costs on the hot path turned on (echo and broadcast only)
    sockio-metrics) [ -x "$SOCKIO" ] && echo "env METRICS=1 $SOCKIO" ;;
    sockio-recovery) [ -x "$SOCKIO" ] && echo "env RECOVERY=1 $SOCKIO" ;;
    socketioxide) [ -x "$SX" ] && echo "$SX" ;;
    node) [ -d "$ROOT/bench/peers/node/node_modules/socket.io" ] && command -v node >/dev/null \
            && echo "node $ROOT/bench/peers/node/server.js" ;;
    python) [ -x "$ROOT/bench/peers/python/.venv/bin/python" ] \
            && echo "$ROOT/bench/peers/python/.venv/bin/python $ROOT/bench/peers/python/server.py" ;;
    rawws) [ -x "$RAWWS" ] && echo "$RAWWS" ;;
    sockio-chat) [ -x "$CHAT" ] && echo "env DATABASE_URL=sqlite://$RESULTS/chat-$PORT.db RUST_LOG=warn $CHAT" ;;
  esac
}
AVAIL=""
for p in $PEERS; do
  if [ -n "$(peer_cmd "$p")" ]; then AVAIL="$AVAIL $p"
  else
    case "$p" in
      sockio) log "SKIP sockio: crates/sockio/examples/bench_peer.rs is not there yet or did not build" ;;
      sockio-chat) log "SKIP sockio-chat: not built (cargo build --release -p sockio-chat)" ;;
      *) log "SKIP $p: not built (run bench/peers/setup.sh $p)" ;;
    esac
  fi
done
[ -n "$AVAIL" ] || { log "TOOL FAILURE: no peer available"; exit 1; }
log "peers:$AVAIL; scenarios: $SCENARIOS; runs: $RUNS; window ${DURATION}s after ${WARMUP}s warm-up"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
if [ $SMOKE = 0 ] && awk -v l="${LOAD%% *}" 'BEGIN{exit !(l > 0.5)}'; then
  log "WARNING: load average is $LOAD: something else is running; numbers will be noisy"
fi

SERVER_PID=""
start_peer() {  # $1 peer, $2 port, $3 log file
  local cmd; cmd=$(peer_cmd "$1")
  # shellcheck disable=SC2086
  PORT=$2 taskset -c "$SERVER_CPU" $cmd > "$3" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "$1 exited at start (see $3)"; return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$1 did not listen on port $2 within 20 s"; stop_peer; return 1
}
stop_peer() {
  [ -n "$SERVER_PID" ] || return 0
  kill "$SERVER_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
trap 'stop_peer' EXIT INT TERM

scenario_args() {  # $1 scenario, $2 peer -> loadgen arguments
  case "$1" in
    chat) if [ "$2" = sockio-chat ]; then echo "broadcast --chat --receivers 1000 --window 8 --pad $CHAT_PAD"
          else echo "broadcast --receivers 1000 --window 8 --pad $PLAIN_PAD"; fi ;;
    echo) echo "echo --clients 50 --inflight 8 --size 64" ;;
    broadcast) echo "broadcast --receivers 1000 --window 8" ;;
    broadcast-rate) echo "broadcast --receivers 1000 --rate $BCAST_RATE" ;;
    idle) echo "idle --conns $IDLE_CONNS" ;;
    idle-50k) echo "idle --conns 50000 --source-addrs 4 --connect-timeout 300" ;;
    echo-polling) echo "echo-polling --clients $POLL_CLIENTS --inflight 8 --size 64" ;;
  esac
}

FAILS=0; TOOL_FAILS=0; TOTAL=0
for run in $(seq "$RUNS"); do
  for sc in $SCENARIOS; do
    for p in $AVAIL; do
      [ "$sc" = echo-polling ] && [ "$p" = rawws ] && continue      # rawws speaks WebSocket only
      if [ "$sc" = idle-50k ] && [[ " $IDLE50K_PEERS " != *" $p "* ]]; then continue; fi
      if [ "$sc" = chat ] && [ "$p" != sockio ] && [ "$p" != sockio-chat ]; then continue; fi
      if [ "$sc" != chat ] && [ "$p" = sockio-chat ]; then continue; fi
      case "$p:$sc" in sockio-metrics:echo|sockio-metrics:broadcast|sockio-recovery:echo|sockio-recovery:broadcast) ;;
        sockio-metrics:*|sockio-recovery:*) continue ;; esac
      PORT=$((PORT + 1)); TOTAL=$((TOTAL + 1))
      slog="$RESULTS/$sc-$p-$run.server.log"; glog="$RESULTS/$sc-$p-$run.loadgen.log"
      log "run $run/$RUNS  $sc  on $p  (port $PORT)"
      if ! start_peer "$p" "$PORT" "$slog"; then
        FAILS=$((FAILS + 1)); [ "$p" = rawws ] && TOOL_FAILS=$((TOOL_FAILS + 1)); continue
      fi
      dur=$DURATION; wu=$WARMUP
      case "$sc" in idle|idle-50k) dur=$IDLE_HOLD ;; esac
      # shellcheck disable=SC2046
      timeout 900 taskset -c "$GEN_CPU" "$LG" $(scenario_args "$sc" "$p") --url "http://127.0.0.1:$PORT" \
        --server-pid "$SERVER_PID" --duration "$dur" --warmup "$wu" --peer "$p" --run "$run" \
        --scenario "$sc" --json >> "$JSONL" 2> "$glog"
      rc=$?
      tail -n 1 "$glog" | sed 's/^/    /' >&2
      if [ $rc -ne 0 ]; then
        log "FAILED: $sc on $p (exit $rc, see $glog)"
        FAILS=$((FAILS + 1)); [ "$p" = rawws ] && TOOL_FAILS=$((TOOL_FAILS + 1))
      fi
      stop_peer
      sleep 0.5
    done
  done
done

log "$FAILS of $TOTAL runs failed"
[ -s "$JSONL" ] || { log "TOOL FAILURE: no run produced a result"; exit 1; }
METHOD="$(date -u +%Y-%m-%d) · \`bench/run.sh$([ $SMOKE = 1 ] && echo ' --smoke')\` · $RUNS run(s) · ${DURATION}s window after ${WARMUP}s warm-up (idle: ${IDLE_HOLD}s hold) · server on CPU $SERVER_CPU, generator on CPU $GEN_CPU · $(nproc) cores · load before start $LOAD · $(uname -r)"
if ! "$LG" report --input "$JSONL" --out "$OUT" --charts "$CHARTS" --charts-link "$CHARTS_LINK" --method "$METHOD"; then
  log "TOOL FAILURE: report failed"; exit 1
fi
log "results: $JSONL; report: $OUT"
if [ $TOOL_FAILS -gt 0 ]; then log "TOOL FAILURE: the raw WebSocket peer runs failed"; exit 1; fi
if [ $STRICT = 1 ] && [ $FAILS -gt 0 ]; then exit 1; fi
exit 0
