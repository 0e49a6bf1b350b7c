#!/usr/bin/env bash
# Makes bubblewrap (`bwrap`, the local runtime's replica sandbox: docs/local-sandbox.md) available
# and prints its path. Installs Debian's package when it is missing and we are root, the way
# scripts/postgres.sh brings PostgreSQL; otherwise says what to do.
set -euo pipefail

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bubblewrap.sh: bwrap is missing; install it (sudo apt-get install -y bubblewrap)," \
      "or run belt-api with BELT_LOCAL_SANDBOX=none to accept replicas without isolation" >&2
    exit 1
  fi
  echo "bubblewrap.sh: installing bubblewrap" >&2
  export DEBIAN_FRONTEND=noninteractive
  # A lock held by another apt run (a parallel test binary) is waited for, not failed on.
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq bubblewrap >&2
fi
command -v bwrap
