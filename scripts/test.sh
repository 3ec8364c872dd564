#!/usr/bin/env bash
# Runs every test of the project, on a fresh machine of this kind too:
#   1. formatting and lints (cargo fmt --check, clippy -D warnings);
#   2. Rust unit, integration and doc tests of every crate (cargo test);
#   3. the end-to-end suites with the official clients (scripts/interop.sh
#      installs them: npm ci, a Python venv, Debian's chromium);
#   4. the chat app's and the tutorials' end-to-end suites (scripts/chat-e2e.sh:
#      official Node clients 4.x and 1.4, the pages in Chromium);
#   5. the cluster suite (scripts/cluster.sh: mixed sockio/Node clusters on private
#      redis-servers, the Node emitter, a Redis restart, nginx -t on the README's config);
#   6. a smoke run of the benchmark tooling (bench/run.sh --smoke: proves the
#      load generator and peers work; timings are not judged).
#   7. a 30-second soak (bench/soak.sh --ci: 2000 clients in rooms, WebSocket
#      and polling, some reconnecting; fails on any lost, duplicated or
#      reordered message). The fuzz targets are not built here (fuzz/README.md);
#      their seed corpus is replayed by cargo test (crates/sockio/tests/fuzz_corpus.rs).
# sockio-redis's Rust tests start their own redis-server on a free port: it is installed
# from Debian's packages first when missing (its service is not started).
# Stops at the first failing step; the last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check || fail "cargo fmt (run: cargo fmt --all)"

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings || fail "clippy"

step "redis-server (for the cluster tests)"
if ! command -v redis-server >/dev/null; then
  prc=/usr/sbin/policy-rc.d; ours=0
  [ -e $prc ] || { printf '#!/bin/sh\nexit 101\n' > $prc && chmod +x $prc && ours=1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server > /dev/null
  [ $ours = 1 ] && rm -f $prc
  command -v redis-server >/dev/null || fail "cannot install redis-server"
fi
redis-server --version

step "cargo test"
log=$(mktemp)
cargo test --workspace --all-targets --all-features 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "cargo test"
cargo test --workspace --doc --all-features 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "doc tests"
rust_passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
rm -f "$log"

step "interop suites (official clients)"
ilog=$(mktemp)
bash scripts/interop.sh 2>&1 | tee "$ilog"
interop_status=${PIPESTATUS[0]}
interop_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$ilog" | tail -n 1)
rm -f "$ilog"
[ "$interop_status" = 0 ] || fail "interop suites: $interop_line"
interop_passed=${interop_line%% passed*}

step "chat app and tutorials end to end (official clients, Chromium)"
clog=$(mktemp)
bash scripts/chat-e2e.sh 2>&1 | tee "$clog"
chat_status=${PIPESTATUS[0]}
chat_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$clog" | tail -n 1)
rm -f "$clog"
[ "$chat_status" = 0 ] || fail "chat end-to-end suites: $chat_line"
chat_passed=${chat_line%% passed*}

step "cluster suite (Redis, mixed sockio/Node clusters)"
klog=$(mktemp)
bash scripts/cluster.sh 2>&1 | tee "$klog"
cluster_status=${PIPESTATUS[0]}
cluster_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$klog" | tail -n 1)
rm -f "$klog"
[ "$cluster_status" = 0 ] || fail "cluster suite: $cluster_line"
cluster_passed=${cluster_line%% passed*}

step "benchmark tooling smoke run"
bash bench/run.sh --smoke || fail "bench smoke run"

step "soak (30 s)"
bash bench/soak.sh --ci || fail "soak: messages lost, duplicated or reordered, or errors (see bench/results/soak-*/)"

echo
echo "rust tests: $rust_passed passed; interop checks: $interop_passed passed; chat end to end: $chat_passed passed; cluster checks: $cluster_passed passed; bench smoke: ok; soak: ok"
echo "$((rust_passed + interop_passed + chat_passed + cluster_passed)) passed, 0 failed"
