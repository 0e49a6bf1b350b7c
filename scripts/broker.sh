#!/usr/bin/env bash
# Prints the path of the embedded Kafka-protocol broker's program (nisshi 0.8.1), building it once
# when it is missing. belt-api runs it as a child process (docs/architecture.md#the-broker).
#
# - BELT_KAFKA_BROKER_COMMAND already set: that path is printed, nothing is built.
# - Otherwise the build goes to a cache outside the checkout, shared by every clone on the machine:
#   ${BELT_BROKER_CACHE:-$HOME/.cache/belt-api/broker}/nisshi-0.8.1/bin/nisshi
# - The build is atomic (a temporary root, renamed when complete) and locked (flock), so two runs
#   at once build it once, and an interrupted build leaves nothing that looks finished.
#
# Why a separate `cargo install` and not a dependency: nisshi's dependency `rama` declares
# rust-version 1.96, which cargo only lets us ignore on the command line (--ignore-rust-version).
set -euo pipefail

version=0.8.1
if [ -n "${BELT_KAFKA_BROKER_COMMAND:-}" ]; then
  echo "$BELT_KAFKA_BROKER_COMMAND"
  exit 0
fi

cache="${BELT_BROKER_CACHE:-${HOME:?HOME or BELT_BROKER_CACHE must be set}/.cache/belt-api/broker}"
root="$cache/nisshi-$version"
program="$root/bin/nisshi"
if [ -x "$program" ]; then
  echo "$program"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.nisshi-$version.lock"
if ! flock -n 9; then
  echo "broker.sh: another build of nisshi $version is running; waiting for it" >&2
  flock 9
fi
# The build we waited for may have finished it.
if [ -x "$program" ]; then
  echo "$program"
  exit 0
fi

echo "broker.sh: building the embedded broker nisshi $version once, ~20-40 min on 2 cores" \
  "(35-45 CPU-minutes, 2 GB of memory), into $root" >&2
started=$(date +%s)
staging="$cache/.nisshi-$version.building"
rm -rf "$staging"
mkdir -p "$staging"
# A quick, unoptimised-enough build: the broker is I/O bound and LTO alone costs many minutes.
if ! CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_DEBUG=0 \
  CARGO_PROFILE_RELEASE_INCREMENTAL=false CARGO_TARGET_DIR="$staging/target" \
  cargo install "nisshi@$version" --locked --no-default-features --features libsql \
  --ignore-rust-version --root "$staging/root" 2>&1 | tee "$staging/build.log" >&2; then
  echo "broker.sh: building nisshi $version failed; its log: $staging/build.log" >&2
  exit 1
fi
rm -rf "$root"
mv "$staging/root" "$root"
rm -rf "$staging"
echo "broker.sh: built nisshi $version in $(( ($(date +%s) - started) / 60 )) min: $program" >&2
echo "$program"
