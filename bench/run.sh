#!/usr/bin/env bash
# The one benchmark command: builds the release binaries, makes PostgreSQL available, runs every
# scenario next to its ceilings, prints the table and writes bench/results/latest.json
# (--quick: ~2 s per measurement, 1k belts only, bench/results/quick.json — the CI smoke test).
# Any other flag goes to belt-bench (`target/release/belt-bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building release binaries (belt-api, belt-bench)"
cargo build --release -p belt-api -p belt-bench

if [ -z "${BELT_BENCH_POSTGRES_URL:-}" ]; then
  BELT_BENCH_POSTGRES_URL="$(bash scripts/postgres.sh)"
fi
export BELT_BENCH_POSTGRES_URL

exec target/release/belt-bench --belt-api target/release/belt-api "$@"
