//! The statement texts both databases run. Placeholders are PostgreSQL's `$n`, which SQLite also
//! accepts; the few texts that differ are the [`super::Dialect`] constants.

use std::sync::LazyLock;

/// Columns in the order every `SELECT`/`RETURNING` of the store lists them.
const BELT_COLUMNS: &str = "id, project, version, spec, created_by_name, created_by_email, \
     created_at_ms, modified_by_name, modified_by_email, modified_at_ms, desired_state, \
     deployed_version, deployed_spec, generation";

/// A table, not `SELECT 1`: SQLite answers that without its file.
pub(super) const PING: &str = "SELECT 1 FROM belt_rosters LIMIT 1";

/// A belt being deleted is gone for every reader and writer but the reconciler
/// (docs/api.md#delete).
pub(super) static SELECT_ONE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {BELT_COLUMNS} FROM belts WHERE project = $1 AND id = $2 \
         AND desired_state <> 'DELETING'"
    )
});

/// The reconciler's read of one belt: any project, any desired state.
pub(super) static SELECT_ANY: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {BELT_COLUMNS} FROM belts WHERE id = $1"));

/// The wish of every belt that wants to run or be deleted, without its spec: what the
/// reconciler's resync compares with what runs. Stopped belts are only counted: at 100k belts,
/// reading each one every resync would cost memory and time for nothing to do.
pub(super) const WISH_SUMMARIES: &str = "SELECT id, project, version, desired_state, generation, \
     deployed_version FROM belts WHERE desired_state <> 'STOPPED' ORDER BY id";

pub(super) const COUNT_STOPPED: &str = "SELECT COUNT(*) FROM belts WHERE desired_state = 'STOPPED'";

pub(super) static DELETE_IF_DELETING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "DELETE FROM belts WHERE id = $1 AND desired_state = 'DELETING' RETURNING {BELT_COLUMNS}"
    )
});

/// A deletion the runtime refused: the belt is back, stopped.
pub(super) const UNDO_DELETE: &str = "UPDATE belts SET desired_state = 'STOPPED' \
     WHERE id = $1 AND desired_state = 'DELETING' RETURNING project";

/// Moves a project's roster revision, so cached list searches are read again: for writes that
/// change which belts a list shows without a roster trigger seeing it (DELETING in and out).
pub(super) const BUMP_ROSTER: &str =
    "UPDATE belt_rosters SET revision = revision + 1 WHERE project = $1";

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
     AND name_folded LIKE $2 ESCAPE '\\' AND desired_state <> 'DELETING' ORDER BY id";

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

/// START records what to deploy and counts the start; STOP and DELETE only flip the wish ($7).
pub(super) static UPDATE_WISH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE belts SET \
         desired_state = $7, \
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
