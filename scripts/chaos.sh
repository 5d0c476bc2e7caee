#!/usr/bin/env bash
# Chaos run: writers on both sides of an identity-mapped, an explicit-key and
# a child table (tests/two_way_model.rs) while the agent is killed (-9) and
# restarted, links are cut (with delayed replies), replies after COMMIT are
# lost (mssql_sim.cut_after_commit) and `ctsync parked retry` is sent to the
# running agent. Prints rounds, faults, writes, rows and missing / duplicated
# / differing rows (all 0, or the run fails with the seed to replay).
#
#   scripts/chaos.sh [MINUTES]     (default 30; CI runs the test for 25 s)
#   CTSYNC_TEST_MODEL_SEED=N scripts/chaos.sh 5   replays a writer schedule
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
secs=$((minutes * 60))
echo "chaos: ${minutes} min of faults (tests/two_way_model.rs)"
cargo build --quiet --tests
start=$(date +%s)
set +e
CTSYNC_TEST_MODEL_SECS="$secs" cargo test --quiet --test two_way_model -- --nocapture \
  >/tmp/ctsync-chaos.log 2>&1
status=$?
set -e
grep -E "^two_way_model:|panicked|sides differ|duplicated rows|last write|test result" /tmp/ctsync-chaos.log || true
echo "chaos: $(( $(date +%s) - start )) s, exit ${status} (full output: /tmp/ctsync-chaos.log)"
exit "$status"
