#!/usr/bin/env bash
# Attacks the real `belt-api serve` from its own /openapi.json with schemathesis: once on SQLite and
# once on a fresh PostgreSQL database (from BELT_TEST_DATABASE_URL, else scripts/postgres.sh).
# Fails on any 5xx and on any answer whose status, content type or body the document does not
# describe. Seeded and bounded; prints one summary line with the request count per database.
#
#   scripts/fuzz.sh                      # both databases
#   BELT_FUZZ_BACKENDS=sqlite scripts/fuzz.sh
#   BELT_FUZZ_SEED=7 BELT_FUZZ_MAX_EXAMPLES=50 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SCHEMATHESIS_VERSION=4.32.5
seed=${BELT_FUZZ_SEED:-20261202}
max_examples=${BELT_FUZZ_MAX_EXAMPLES:-25}
# A ceiling per database, so that a slow machine cannot stretch CI: the run stops there.
max_time=${BELT_FUZZ_MAX_SECONDS:-90}
backends=${BELT_FUZZ_BACKENDS:-sqlite postgres}

log() { echo "fuzz.sh: $*" >&2; }

# schemathesis in a venv that is reused between runs.
venv="${XDG_CACHE_HOME:-$HOME/.cache}/belt-api/schemathesis-$SCHEMATHESIS_VERSION"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# The binary as `cargo test` builds it (with the same features), so that after the test step of
# .ci/run this compiles nothing.
log "building belt-api"
cargo test --quiet --no-run --test api 2>/dev/null
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin="$target_dir/debug/belt-api"

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A replica stand-in: START makes belts run, and the fuzzer must not start real Python hosts.
cat >"$work/replica.sh" <<'EOF'
#!/bin/sh
echo "belt-host: ready"
exec sleep 600
EOF
chmod +x "$work/replica.sh"

# A fresh database next to the one BELT_TEST_DATABASE_URL names; prints its URL.
postgres_database() {
  local admin name
  admin=$(bash scripts/postgres.sh)
  name="belt_fuzz_$$_$(date +%s)"
  psql "$admin" -qAtc "CREATE DATABASE $name" >&2
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$admin" "$name"
}

summary=()
failed=0
for backend in $backends; do
  data="$work/$backend"
  mkdir -p "$data"
  case "$backend" in
    sqlite) database_url="sqlite://$data/belts.db" ;;
    postgres) database_url=$(postgres_database) ;;
    *) log "unknown backend $backend"; exit 2 ;;
  esac
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" --database-url "$database_url" \
    --local-command "$work/replica.sh" --reconcile-interval-ms 1000 --kafka-broker none \
    >"$data/stdout.log" 2>"$data/server.log" &
  server_pid=$!
  address=""
  for _ in $(seq 1 300); do
    address=$(grep -o 'address=http://[0-9.:]*' "$data/server.log" | head -n 1 | cut -d/ -f3 || true)
    [ -n "$address" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$address" ]; then
    log "belt-api did not start on $backend:"; cat "$data/server.log" >&2; exit 1
  fi
  token=$("$bin" token --project global --role editor --ttl 1h --data-dir "$data")
  log "$backend: fuzzing http://$address (seed $seed, $max_examples examples per operation)"
  status=0
  # From the data dir, so that schemathesis' own cache stays out of the repository.
  # The watch is excluded: its answer is a stream that never ends by itself, so every example
  # would run into the request timeout. tests/api/watch.rs covers it (400s, 403, 410, the stream).
  (cd "$data" && SCHEMATHESIS_HOOKS="$root/scripts/fuzz_hooks.py" "$venv/bin/schemathesis" run "http://$address/openapi.json" \
    --header "Authorization: Bearer $token" \
    --exclude-path '/projects/{project}/watch' \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --seed "$seed" --max-examples "$max_examples" --max-time "$max_time" \
    --workers 1 --no-shrink --request-timeout 20 \
    --report ndjson --report-ndjson-path "$data/events.ndjson" \
    --suppress-health-check all --warnings off) \
    >"$data/schemathesis.log" 2>&1 || status=$?
  requests=$(python3 "$root/scripts/fuzz_count.py" "$data/events.ndjson")
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [ "$status" -ne 0 ]; then
    failed=1
    log "$backend: schemathesis found failures:"
    cat "$data/schemathesis.log" >&2
  fi
  summary+=("$backend $requests requests, exit $status")
done

line="fuzz (schemathesis $SCHEMATHESIS_VERSION, seed $seed): $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g')"
if [ "$failed" -ne 0 ]; then
  echo "$line: FAILED" >&2
  exit 1
fi
echo "$line: 0 x 5xx, 0 schema violations"
