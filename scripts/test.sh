#!/usr/bin/env bash
# The README's test command: the whole suite (every HTTP test on SQLite and on PostgreSQL). Brings
# what the suite needs from the machine first: bubblewrap here; PostgreSQL is started (and installed
# when missing) by the tests themselves through scripts/postgres.sh. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bubblewrap.sh >/dev/null
exec cargo test --workspace "$@"
