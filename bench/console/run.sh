#!/usr/bin/env bash
# The console benchmark (issue 21): the list page's server time with 1,000 belts in the project, and
# status changes offered at 150 writes/s reaching an open page's event stream, none dropped.
# Writes bench/results/console.json. Arguments go to bench.py (try --help).
# BELT_API: the belt-api program to measure (default: a release build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${BELT_API:-}" ]; then
  cargo build -q --release --bin belt-api
  BELT_API=target/release/belt-api
fi
exec python3 bench/console/bench.py --binary "$BELT_API" "$@"
