#!/usr/bin/env bash
# The benchmarks whose figures README.md quotes, all against in-process
# stand-ins on this machine (release builds; nothing here is a timed test):
#
#   1. the stand-in alone: one-row INSERT round trips, 10,000-row SELECT,
#      1,000,000-row bulk load              (tests/mssql-sim/benches/throughput.rs)
#   2. the state store alone: durable enqueue rate, memory   (benches/store.rs)
#   3. the agent: apply throughput against raw tiberius writes, end-to-end lag
#      at 1,000 changes/s, memory with 1,000,000 operations queued, initial
#      load of 1,000,000 rows against one INSERT per row, peak memory through a
#      1,000,000-row single UPDATE and a 300 MB transaction of 10 MB values,
#      `ctsync verify` of two equal 1,000,000-row tables   (benches/agent.rs)
#
# Usage: scripts/bench.sh [sim] [store] [agent]   (default: all three)
# Sizes can be lowered for a quick look, e.g. CTSYNC_BENCH_APPLY_ROWS=20000
# CTSYNC_BENCH_QUEUED=100000 CTSYNC_BENCH_LOAD_ROWS=100000 CTSYNC_BENCH_LAG_SECS=5;
# CTSYNC_BENCH_ONLY=apply,lag,memory,twoway,idle,bigtx,load,verify picks parts of the agent benchmark
# (twoway: conflict detection on a conflict-free stream, a burst of conflicts;
# verify: `ctsync verify` of two equal 1,000,000-row tables, CTSYNC_BENCH_VERIFY_ROWS).
set -euo pipefail
cd "$(dirname "$0")/.."

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(sim store agent)

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for part in "${parts[@]}"; do
  case "$part" in
    sim)
      echo "== stand-in throughput: cargo bench -p mssql-sim --bench throughput"
      cargo bench -q -p mssql-sim --bench throughput 2>/dev/null
      ;;
    store)
      echo "== state store: cargo bench --bench store"
      cargo bench -q --bench store 2>/dev/null
      ;;
    agent)
      echo "== agent: cargo bench --bench agent"
      # The agent's own log lines (link cuts the benchmark makes on purpose)
      # go to stderr; the figures to stdout.
      cargo bench -q --bench agent 2>/dev/null
      ;;
    *)
      echo "unknown part '$part' (sim, store, agent)" >&2
      exit 2
      ;;
  esac
done
