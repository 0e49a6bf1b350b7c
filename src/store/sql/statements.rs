//! The statement texts both databases run. Placeholders are PostgreSQL's `$n`, which SQLite also
//! accepts; the few texts that differ are the [`super::Dialect`] constants.

use std::sync::LazyLock;

/// Columns in the order every `SELECT`/`RETURNING` of the store lists them.
const BELT_COLUMNS: &str = "id, project, version, spec, created_by_name, created_by_email, \
     created_at_ms, modified_by_name, modified_by_email, modified_at_ms, desired_state, \
     deployed_version, deployed_spec, generation";

/// A table, not `SELECT 1`: SQLite answers that without its file.
pub(super) const PING: &str = "SELECT 1 FROM belt_rosters LIMIT 1";

pub(super) static SELECT_ONE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {BELT_COLUMNS} FROM belts WHERE project = $1 AND id = $2"));

pub(super) static SELECT_RUNNING: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {BELT_COLUMNS} FROM belts WHERE desired_state = 'RUNNING' ORDER BY id")
});

/// The rows of one page, by the ids the search found.
pub(super) fn select_page(ids: usize) -> String {
    format!(
        "SELECT {BELT_COLUMNS} FROM belts WHERE project = $1 AND id IN ({}) ORDER BY id",
        placeholders(2, ids)
    )
}

pub(super) const ROSTER_REVISION: &str =
    "SELECT COALESCE((SELECT revision FROM belt_rosters WHERE project = $1), 0)";

pub(super) const SEARCH_IDS: &str = "SELECT id FROM belts WHERE project = $1 \
     AND name_folded LIKE $2 ESCAPE '\\' ORDER BY id";

pub(super) const COUNT_BY_DESIRED_STATE: &str =
    "SELECT COALESCE(SUM(CASE WHEN desired_state = 'RUNNING' THEN 1 ELSE 0 END), 0), \
     COALESCE(SUM(CASE WHEN desired_state = 'RUNNING' THEN 0 ELSE 1 END), 0) FROM belts";

pub(super) const DELETE: &str = "DELETE FROM belts WHERE project = $1 AND id = $2 \
     AND ($3 IS NULL OR version = $3)";

pub(super) const CURRENT_VERSION: &str = "SELECT version FROM belts WHERE project = $1 AND id = $2";

pub(super) const INSERT: &str = "INSERT INTO belts (id, project, name, name_folded, version, \
     spec, created_by_name, created_by_email, created_at_ms, \
     modified_by_name, modified_by_email, modified_at_ms) \
     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $6, $7, $8) \
     ON CONFLICT (id) DO NOTHING";

/// Compare-and-set on the version: of two writers that read the same version, one wins and the
/// other sees a mismatch.
pub(super) static UPDATE_SPEC: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE belts SET name = $1, name_folded = $2, spec = $3, version = version + 1, \
         modified_by_name = $4, modified_by_email = $5, modified_at_ms = $6 \
         WHERE project = $7 AND id = $8 AND version = $9 RETURNING {BELT_COLUMNS}"
    )
});

/// START records what to deploy and counts the start; STOP only flips the wish.
pub(super) static UPDATE_WISH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE belts SET \
         desired_state = CASE WHEN $1 IS NULL THEN 'STOPPED' ELSE 'RUNNING' END, \
         deployed_version = COALESCE($1, deployed_version), \
         deployed_spec = COALESCE($2, deployed_spec), \
         generation = CASE WHEN $1 IS NULL THEN generation ELSE generation + 1 END \
         WHERE project = $3 AND id = $4 AND desired_state = $5 AND generation = $6 \
         RETURNING {BELT_COLUMNS}"
    )
});

/// `$first, $first+1, …` for `count` bound values.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
