#!/usr/bin/env bash
# Makes a local PostgreSQL available for the tests and prints its URL on stdout.
# Uses BELT_TEST_DATABASE_URL when it is already set; otherwise installs (if needed) and starts the
# Debian cluster, and gives the current user a superuser role so tests can create databases.
set -euo pipefail

if [ -n "${BELT_TEST_DATABASE_URL:-}" ]; then
  echo "$BELT_TEST_DATABASE_URL"
  exit 0
fi

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  log "creating cluster $version/main"
  pg_createcluster "$version" main >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
socket_dir=/var/run/postgresql
user=$(id -un)

started_here=false
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting cluster $version/main"
  # A cluster that was not shut down cleanly replays its WAL and fsyncs its data directory first;
  # on a reused machine that took longer than pg_ctl's default 60 s wait and failed CI. Wait longer
  # here, and tolerate pg_ctl giving up: the readiness loop below is what decides.
  pg_ctlcluster --skip-systemctl-redirect "$version" main start -- -t 600 >&2 ||
    log "pg_ctl did not report a start; waiting for the server to accept connections"
  started_here=true
fi

ready=false
for _ in $(seq 1 600); do
  if su postgres -c "pg_isready -q -p $port -h $socket_dir" && \
     su postgres -c "psql -p $port -h $socket_dir -tAc 'select 1'" >/dev/null 2>&1; then
    ready=true
    break
  fi
  sleep 1
done
if [ "$ready" != true ]; then
  log "PostgreSQL $version/main did not accept connections within 10 minutes; its log:"
  tail -n 40 "/var/log/postgresql/postgresql-$version-main.log" >&2 || true
  exit 1
fi

# Each test, fuzz and bench run creates its own database. When this script had to start the server,
# no run is using any of them: drop the leftovers so the data directory (and the next crash
# recovery) does not grow with every run on a reused machine.
if [ "$started_here" = true ]; then
  leftovers=$(su postgres -c "psql -p $port -h $socket_dir -tAc \"select datname from pg_database where datname ~ '^belt_(test|fuzz|bench|cli)_'\"")
  count=0
  for name in $leftovers; do
    su postgres -c "psql -p $port -h $socket_dir -qAtc 'DROP DATABASE IF EXISTS \"$name\"'" >/dev/null 2>&1 && count=$((count + 1))
  done
  [ "$count" -eq 0 ] || log "dropped $count databases left by earlier test runs"
fi

if ! su postgres -c "psql -p $port -h $socket_dir -tAc \"select 1 from pg_roles where rolname='$user'\"" | grep -q 1; then
  log "creating role $user"
  su postgres -c "createuser -p $port -h $socket_dir -s $user" >&2
fi

echo "postgres://$user@localhost/postgres?host=$socket_dir&port=$port"
