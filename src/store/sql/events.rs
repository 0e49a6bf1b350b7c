//! The event log of [`SqlStore`] (docs/api.md#history): each write records its event in its own
//! transaction, in the order the writes commit, and the watch reads what came after an id.

use anyhow::Context;

use super::{Dialect, SqlStore};
use crate::domain::belt::{epoch_millis, from_epoch_millis};
use crate::domain::{Belt, BeltEvent, BeltId, EventAction, EventDraft, ProjectName};
use crate::store::{classify, EventBatch, EventPage, StoreError};

const EVENT_COLUMNS: &str =
    "id, project, belt_id, at_ms, actor, action, version, from_status, to_status, reason";

const INSERT_EVENT: &str = "INSERT INTO belt_events \
     (project, belt_id, at_ms, actor, action, version, from_status, to_status, reason) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";

/// The same, only while the belt's newest event is `$10`.
const INSERT_IF_NEWEST: &str = "INSERT INTO belt_events \
     (project, belt_id, at_ms, actor, action, version, from_status, to_status, reason) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
     WHERE COALESCE((SELECT MAX(id) FROM belt_events WHERE project = $1 AND belt_id = $2), 0) = $10 \
     RETURNING id";

const COUNT_OF_BELT: &str = "SELECT COUNT(*) FROM belt_events WHERE project = $1 AND belt_id = $2";

const NEWEST_ID: &str = "SELECT COALESCE(MAX(id), 0) FROM belt_events";

const HORIZON: &str = "SELECT pruned_through FROM belt_event_horizon WHERE singleton = 1";

/// The id of the newest event pruning removes: the one `keep` places below the newest.
const PRUNE_CUTOFF: &str = "SELECT COALESCE((SELECT id FROM belt_events \
     ORDER BY id DESC LIMIT 1 OFFSET $1), 0)";

const PRUNE: &str = "DELETE FROM belt_events WHERE id <= $1";

const MOVE_HORIZON: &str = "UPDATE belt_event_horizon SET pruned_through = $1 \
     WHERE singleton = 1 AND pruned_through < $1";

#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    id: i64,
    project: String,
    belt_id: i64,
    at_ms: i64,
    actor: String,
    action: String,
    version: Option<i64>,
    from_status: Option<String>,
    to_status: Option<String>,
    reason: Option<String>,
}

impl TryFrom<EventRow> for BeltEvent {
    type Error = anyhow::Error;

    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        let status = |text: Option<String>| {
            text.map(|text| {
                text.parse()
                    .map_err(|()| anyhow::anyhow!("status '{text}'"))
            })
            .transpose()
        };
        let id = row.id;
        Ok::<_, anyhow::Error>(BeltEvent {
            id: row.id,
            project: ProjectName::parse(&row.project)
                .map_err(|_| anyhow::anyhow!("project '{}'", row.project))?,
            belt: BeltId::new(row.belt_id).context("belt id")?,
            at: from_epoch_millis(row.at_ms),
            actor: row.actor,
            action: EventAction::parse(&row.action).context("event action")?,
            version: row.version,
            from: status(row.from_status)?,
            to: status(row.to_status)?,
            reason: row.reason,
        })
        .with_context(|| format!("stored event {id} does not map"))
    }
}

fn events_of(rows: Vec<EventRow>) -> Result<Vec<BeltEvent>, StoreError> {
    rows.into_iter()
        .map(|row| BeltEvent::try_from(row).map_err(StoreError::Other))
        .collect()
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'r> EventRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    /// Appends one event in the caller's transaction. [`Dialect::LOCK_EVENTS`] holds the log
    /// until the commit, so ids become visible in increasing order: a reader that has seen id
    /// `n` never later finds a smaller one appear.
    pub(super) async fn record_in(
        conn: &mut DB::Connection,
        project: &str,
        id: i64,
        version: Option<i64>,
        draft: &EventDraft,
    ) -> Result<i64, StoreError> {
        sqlx::query(DB::LOCK_EVENTS)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
        let (event,): (i64,) = sqlx::query_as(INSERT_EVENT)
            .bind(project)
            .bind(id)
            .bind(epoch_millis(draft.at))
            .bind(draft.actor.as_str())
            .bind(draft.action.as_str())
            .bind(version)
            .bind(draft.from.map(|s| s.as_str().to_owned()))
            .bind(draft.to.map(|s| s.as_str().to_owned()))
            .bind(draft.reason.clone())
            .fetch_one(conn)
            .await
            .map_err(classify)?;
        Ok(event)
    }

    /// The event of a write to `belt`, if its use case stated one.
    pub(super) async fn record_written(
        conn: &mut DB::Connection,
        belt: &Belt,
        event: Option<EventDraft>,
    ) -> Result<(), StoreError> {
        if let Some(draft) = event {
            let project = belt.project.as_str();
            Self::record_in(conn, project, belt.id.get(), Some(belt.version), &draft).await?;
        }
        Ok(())
    }

    /// Tells the watches that something was committed; they read what is new themselves.
    pub(super) fn announce(&self) {
        self.announcer.send_replace(());
    }

    /// A status change, recorded only while the belt's newest event is `after`.
    pub(super) async fn record_alone(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: Option<i64>,
        draft: EventDraft,
        after: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(classify)?;
        sqlx::query(DB::LOCK_EVENTS)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let event: Option<(i64,)> = sqlx::query_as(INSERT_IF_NEWEST)
            .bind(project.as_str())
            .bind(id.get())
            .bind(epoch_millis(draft.at))
            .bind(draft.actor.as_str())
            .bind(draft.action.as_str())
            .bind(version)
            .bind(draft.from.map(|s| s.as_str().to_owned()))
            .bind(draft.to.map(|s| s.as_str().to_owned()))
            .bind(draft.reason.clone())
            .bind(after)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        self.announce();
        Ok(event.map(|(id,)| id))
    }

    pub(super) async fn history_page(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<EventPage, StoreError> {
        let select = format!(
            "SELECT {EVENT_COLUMNS} FROM belt_events WHERE project = $1 AND belt_id = $2 \
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        );
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_SNAPSHOT)
            .await
            .map_err(classify)?;
        let rows: Vec<EventRow> = sqlx::query_as(&select)
            .bind(project.as_str())
            .bind(id.get())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let (total,): (i64,) = sqlx::query_as(COUNT_OF_BELT)
            .bind(project.as_str())
            .bind(id.get())
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(EventPage {
            events: events_of(rows)?,
            total: total.max(0) as u64,
        })
    }

    /// The project's events after `after`, oldest first; the horizon is read after them, so a
    /// prune that ran in between shows as a gap rather than passing unseen.
    pub(super) async fn events_after_id(
        &self,
        project: &ProjectName,
        after: i64,
        belt: Option<BeltId>,
        limit: u64,
    ) -> Result<EventBatch, StoreError> {
        let select = format!(
            "SELECT {EVENT_COLUMNS} FROM belt_events WHERE project = $1 AND id > $2 \
             AND ($3 IS NULL OR belt_id = $3) ORDER BY id LIMIT $4"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&select)
            .bind(project.as_str())
            .bind(after)
            .bind(belt.map(BeltId::get))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let (pruned_through,): (i64,) = sqlx::query_as(HORIZON)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(EventBatch {
            events: events_of(rows)?,
            pruned_through,
        })
    }

    pub(super) async fn newest_id(&self) -> Result<i64, StoreError> {
        let (newest,): (i64,) = sqlx::query_as(NEWEST_ID)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(newest)
    }

    /// Keeps the newest `keep` events of all projects and moves the horizon past the rest.
    pub(super) async fn prune(&self, keep: u64) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(classify)?;
        let (cutoff,): (i64,) = sqlx::query_as(PRUNE_CUTOFF)
            .bind(i64::try_from(keep).unwrap_or(i64::MAX))
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        if cutoff == 0 {
            return Ok(0);
        }
        let pruned = sqlx::query(PRUNE)
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query(MOVE_HORIZON)
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(DB::rows_affected(&pruned))
    }
}

/// The reconciler removed the document of a deleted belt.
pub(super) fn deleted() -> EventDraft {
    EventDraft::observed(EventAction::Deleted, crate::domain::belt::now_millis())
}

/// The runtime refused a deletion: the belt is back, stopped.
pub(super) fn undeleted() -> EventDraft {
    let stopped = Some(crate::domain::BeltStatus::Stopped);
    EventDraft {
        from: stopped,
        to: stopped,
        ..EventDraft::observed(
            EventAction::StatusChanged,
            crate::domain::belt::now_millis(),
        )
        .with_reason("the runtime refused the deletion: objects in use")
    }
}

/// What a create records: the author, the new belt stopped.
pub(super) fn created(author: &crate::domain::Person, at: time::OffsetDateTime) -> EventDraft {
    let stopped = Some(crate::domain::BeltStatus::Stopped);
    EventDraft::by(author, EventAction::Created, at, None, stopped)
}
