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
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
fi

port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
socket_dir=/var/run/postgresql
user=$(id -un)

for _ in $(seq 1 30); do
  if su postgres -c "psql -p $port -h $socket_dir -tAc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 1
done

if ! su postgres -c "psql -p $port -h $socket_dir -tAc \"select 1 from pg_roles where rolname='$user'\"" | grep -q 1; then
  log "creating role $user"
  su postgres -c "createuser -p $port -h $socket_dir -s $user" >&2
fi

echo "postgres://$user@localhost/postgres?host=$socket_dir&port=$port"
