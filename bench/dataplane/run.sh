#!/usr/bin/env bash
# The data-plane benchmark: events per second through one replica of a belt (the bundled Python belt
# host, a trivial callback) against a bare consume→produce loop with the same Kafka client and the same
# batching, both in this run on this machine; then the end-to-end latency from produce to update at a
# fixed offered rate. Writes bench/results/dataplane.json (--quick: dataplane-quick.json, not committed).
# Needs: the broker (scripts/broker.sh builds it once), python3 (a venv with confluent-kafka is made
# under target/bench-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

broker="${BELT_KAFKA_BROKER_COMMAND:-$(bash scripts/broker.sh)}"
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  echo "== preparing $venv (confluent-kafka)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'confluent-kafka==2.16.1'
fi
exec "$venv/bin/python" bench/dataplane/bench.py --broker "$broker" \
  --host-dir src/runtime/local/python "$@"
