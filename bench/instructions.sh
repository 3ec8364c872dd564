#!/usr/bin/env bash
# Instructions per message, counted by callgrind: the figure that repeats on a
# shared, noisy machine where CPU time does not. Each case starts one server
# under `valgrind --tool=callgrind`, runs the load generator once against it
# (no warm-up: its window is the whole run), stops the server and divides all
# the instructions the server ran by the messages the generator counted. The
# server's start and the connections' setup and teardown are in the count: a
# few million instructions against a run's billion or more.
#
#   bench/instructions.sh                      # every case below
#   bench/instructions.sh echo echo-polling    # some of them
#
# Cases: rawws (the raw WebSocket server, echo), echo, echo-polling,
# echo-metrics, echo-recovery, broadcast (per delivery, 1000 receivers).
# Prints one line per case and the ratios the issue-17 targets are about.
# Not a test: nothing here passes or fails on a figure. Needs valgrind
# (apt-get install valgrind).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-6}"
LG="$ROOT/target/release/sockio-loadgen"
RAWWS="$ROOT/target/release/sockio-rawws"
PEER="$ROOT/target/release/examples/bench_peer"
OUT="$(mktemp -d /tmp/sockio-instr.XXXXXX)"
CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(rawws echo echo-polling echo-metrics echo-recovery broadcast)

for c in "${CASES[@]}"; do
  case "$c" in
    rawws|echo|echo-polling|echo-metrics|echo-recovery|broadcast) ;;
    *) echo "unknown case: $c (cases: rawws echo echo-polling echo-metrics echo-recovery broadcast)" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --quiet -p sockio-loadgen && cargo build --release --quiet -p sockio --example bench_peer)

. "$ROOT/bench/lib.sh"  # free_port, wait_port

VG_PID=""
cleanup() { [ -n "$VG_PID" ] && kill "$VG_PID" 2>/dev/null || true; }
trap cleanup EXIT

# run_case NAME SERVER_BINARY ENV_ASSIGNMENTS LOADGEN_ARGS...
run_case() {
  local name="$1" bin="$2" envs="$3"; shift 3
  local port; port="$(free_port)"
  env PORT="$port" $envs valgrind --tool=callgrind \
    --callgrind-out-file="$OUT/$name.cg" "$bin" >"$OUT/$name.server.log" 2>&1 &
  VG_PID=$!
  wait_port "$port" || { echo "$name: the server did not start (log: $OUT/$name.server.log)" >&2; exit 1; }
  "$LG" "$@" --url "http://127.0.0.1:$port" --duration "$DURATION" --warmup 0 --json \
    >"$OUT/$name.json" 2>"$OUT/$name.loadgen.log"
  kill -TERM "$VG_PID"  # callgrind writes its counts on the way out
  wait "$VG_PID" 2>/dev/null || true
  VG_PID=""
  python3 - "$name" "$OUT/$name.cg" "$OUT/$name.json" "$OUT/results" <<'EOF'
import json, re, sys
name, cg, js, res = sys.argv[1:]
total = None
for line in open(cg):
    m = re.match(r"(?:summary|totals): (\d+)", line)
    if m:
        total = int(m.group(1))
d = json.loads(open(js).read().strip().splitlines()[-1])
msgs = d.get("messages") or 0
if not total or not msgs:
    sys.exit(f"{name}: no count (instructions {total}, messages {msgs})")
per = total / msgs
print(f"{name:14} {per:8.0f} instructions per message ({msgs} messages, {total} instructions)")
open(res, "a").write(f"{name} {per}\n")
EOF
}

common=(--clients 50 --inflight 8 --size 64)
for c in "${CASES[@]}"; do
  case "$c" in
    rawws) run_case rawws "$RAWWS" "" echo "${common[@]}" ;;
    echo) run_case echo "$PEER" "" echo "${common[@]}" ;;
    echo-polling) run_case echo-polling "$PEER" "" echo-polling "${common[@]}" ;;
    echo-metrics) run_case echo-metrics "$PEER" "METRICS=1" echo "${common[@]}" ;;
    echo-recovery) run_case echo-recovery "$PEER" "RECOVERY=1" echo "${common[@]}" ;;
    broadcast) run_case broadcast "$PEER" "" broadcast --receivers 1000 --window 8 ;;
    *) echo "unknown case: $c" >&2; exit 2 ;;
  esac
done

python3 - "$OUT/results" <<'EOF'
import sys
r = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[1]))
def ratio(a, b, what):
    if a in r and b in r:
        print(f"{what}: {r[a] / r[b]:.2f}x")
ratio("echo", "rawws", "echo / raw WebSocket echo")
ratio("echo-metrics", "rawws", "echo with metrics / raw WebSocket echo")
ratio("echo-recovery", "rawws", "echo with recovery / raw WebSocket echo")
ratio("echo-polling", "echo", "long-polling echo / WebSocket echo")
EOF
echo "callgrind files: $OUT"
