#!/usr/bin/env bash
# The README's test command: the whole suite (every HTTP test on SQLite and on PostgreSQL). Brings
# what the suite needs from the machine first: bubblewrap and the embedded Kafka broker (built once
# into ~/.cache by scripts/broker.sh) here; PostgreSQL is started (and installed when missing) by
# the tests themselves through scripts/postgres.sh. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bubblewrap.sh >/dev/null
BELT_KAFKA_BROKER_COMMAND="$(bash scripts/broker.sh)"
export BELT_KAFKA_BROKER_COMMAND
exec cargo test --workspace "$@"
