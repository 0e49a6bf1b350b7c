#!/usr/bin/env bash
# The README's run command: the service on its embedded default. Brings what the embedded default
# needs from the machine (bubblewrap, for the replica sandbox; the embedded Kafka broker, built
# once into ~/.cache by scripts/broker.sh), then `cargo run -- serve`.
# Arguments go to `belt-api serve` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bubblewrap.sh >/dev/null
BELT_KAFKA_BROKER_COMMAND="$(bash scripts/broker.sh)"
export BELT_KAFKA_BROKER_COMMAND
exec cargo run -- serve "$@"
