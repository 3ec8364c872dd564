#!/usr/bin/env bash
# Runs the fuzz targets one after another (or JOBS at a time) for SECONDS each
# and prints one line per target: executions, run time, findings.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     default: 600 s, every target
# Environment: JOBS (parallel targets, default 1; the machine has 2 cores),
#   FUZZ_ARGS (extra libFuzzer flags).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets it use the nightly-only sanitizer flags.
# New inputs go to fuzz/corpus/<target>/ (not committed), crashes to
# fuzz/artifacts/<target>/; the committed seeds are read from fuzz/seeds/<target>/.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}; shift || true
TARGETS=${*:-"eio_packet eio_v4_payload eio_v3_text_payload eio_v3_binary_payload sio_json sio_msgpack sio_attachments query"}
JOBS=${JOBS:-1}
export RUSTC_BOOTSTRAP=1
LOGS=logs/$(date +%Y%m%d-%H%M%S); mkdir -p "$LOGS"
nice -n 10 cargo fuzz build -O -a || exit 1
one() {
  local t=$1
  mkdir -p "corpus/$t"
  nice -n 10 cargo fuzz run -O -a "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    ${FUZZ_ARGS:-} > "$LOGS/$t.log" 2>&1
  local rc=$?
  local execs secs crashes
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$LOGS/$t.log" | grep -Eo '[0-9]+$' | tail -1)
  secs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$LOGS/$t.log" | grep -Eo 'in [0-9]+' | grep -Eo '[0-9]+' | tail -1)
  crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
  printf '%-24s exit %-3s executions %-12s seconds %-6s corpus %-6s artifacts %s\n' \
    "$t" "$rc" "${execs:-?}" "${secs:-?}" "$(ls "corpus/$t" | wc -l)" "$crashes" | tee -a "$LOGS/summary.txt"
}
running=0
for t in $TARGETS; do
  one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait
echo "logs: fuzz/$LOGS"
