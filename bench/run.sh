#!/usr/bin/env bash
# The one benchmark command: builds the release binaries, makes PostgreSQL available, runs every
# scenario next to its ceilings, prints the table and writes bench/results/latest.json
# (--quick: ~2 s per measurement, 1k belts only, bench/results/quick.json — the CI smoke test; it
# checks that every scenario runs, not how fast, so it uses the debug binaries the test suite has just
# built instead of paying for a release build of every dependency).
# Any other flag goes to belt-bench (`target/release/belt-bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
for arg in "$@"; do
  [ "$arg" = "--quick" ] && profile=debug
done
if [ "$profile" = release ]; then
  echo "== building release binaries (belt-api, belt-bench)"
  cargo build --release -p belt-api -p belt-bench
else
  echo "== building debug binaries (belt-api, belt-bench; --quick measures nothing worth a release build)"
  cargo build -p belt-api -p belt-bench
fi

if [ -z "${BELT_BENCH_POSTGRES_URL:-}" ]; then
  BELT_BENCH_POSTGRES_URL="$(bash scripts/postgres.sh)"
fi
export BELT_BENCH_POSTGRES_URL

exec "target/$profile/belt-bench" --belt-api "target/$profile/belt-api" "$@"
