#!/usr/bin/env bash
# The test command of README.md: formatting, then every test of the workspace
# (the agent's and the stand-in's), all against stand-ins over real TCP.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${CTSYNC_TEST_THREADS:-2}"
