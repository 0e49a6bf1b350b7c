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

/// Moves a project's roster revision, so cached list searches are read again: for writes that
/// change which belts a list shows without a roster trigger seeing it (DELETING in and out).
pub(super) const BUMP_ROSTER: &str =
    "UPDATE belt_rosters SET revision = revision + 1 WHERE project = $1";

/// Coalesced reads by id (`store/coalesce.rs`): any project, as the reader's project is checked
/// on each row handed out; without the belts being deleted, as in [`SELECT_ONE`].
pub(super) fn select_by_ids(ids: usize) -> String {
    format!(
        "SELECT {BELT_COLUMNS} FROM belts WHERE id IN ({}) AND desired_state <> 'DELETING'",
        placeholders(1, ids)
    )
}

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

/// The columns a write stores from the belt it was handed, in the order [`super::written`]
/// binds them: an insert and an update store a belt the same way.
const WRITTEN_COLUMNS: [&str; 14] = [
    "name",
    "name_folded",
    "version",
    "spec",
    "created_by_name",
    "created_by_email",
    "created_at_ms",
    "modified_by_name",
    "modified_by_email",
    "modified_at_ms",
    "desired_state",
    "deployed_version",
    "deployed_spec",
    "generation",
];

/// A created belt, under its project (`$15`) and id (`$16`); nothing when the id is taken.
pub(super) static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO belts ({}, project, id) VALUES ({}) ON CONFLICT (id) DO NOTHING",
        WRITTEN_COLUMNS.join(", "),
        placeholders(1, WRITTEN_COLUMNS.len() + 2)
    )
});

/// The guard of every write to a belt read under its row lock: its project and id, then the
/// version and generation it was decided from, bound from `$first` on. Under the lock the guard
/// always holds; a write that would miss it changes nothing rather than overwrite another.
fn guarded(first: usize) -> String {
    let [project, id, version, generation] = [0, 1, 2, 3].map(|n| first + n);
    format!(
        "WHERE project = ${project} AND id = ${id} AND version = ${version} \
         AND generation = ${generation}"
    )
}

/// A belt's next state, under its project (`$15`) and id (`$16`), guarded on the version
/// (`$17`) and generation (`$18`) it was decided from.
pub(super) static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = (WRITTEN_COLUMNS.iter().enumerate())
        .map(|(n, column)| format!("{column} = ${}", n + 1))
        .collect();
    format!("UPDATE belts SET {} {}", set.join(", "), guarded(15))
});

/// A belt's document removed, guarded as [`UPDATE`] is: project, id, version, generation.
pub(super) static DELETE: LazyLock<String> =
    LazyLock::new(|| format!("DELETE FROM belts {}", guarded(1)));

/// `$first, $first+1, …` for `count` bound values.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
