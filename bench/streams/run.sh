#!/usr/bin/env bash
# The stream benchmark: belt-api's CPU and memory while it holds 1,000 watch streams and 100
# followed logs, idle and then delivering events, against its own baseline with no stream in the
# same run. Writes bench/results/streams.json. Arguments go to bench.py (try --help).
# BELT_API: the belt-api program to measure (default: a debug build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${BELT_API:-}" ]; then
  cargo build -q --bin belt-api
  BELT_API=target/debug/belt-api
fi
exec python3 bench/streams/bench.py --binary "$BELT_API" "$@"
