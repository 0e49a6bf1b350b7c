//! The event log of [`super::SqlStore`] (docs/api.md#history): each write records its event in
//! its own transaction, in the order the writes commit, and the watch reads what came after an id.

use anyhow::Context;

use crate::domain::belt::{epoch_millis, from_epoch_millis};
use crate::domain::{
    Belt, BeltEvent, BeltId, EventAction, EventDraft, EventRetention, ProjectName,
};
use crate::store::listen::{payload, CHANNEL};
use crate::store::{classify, EventBatch, EventLog, EventPage, StoreError};

const EVENT_COLUMNS: &str =
    "id, project, belt_id, at_ms, actor, action, version, from_status, to_status, reason, output";

const INSERT_EVENT: &str = "INSERT INTO belt_events \
     (project, belt_id, at_ms, actor, action, version, from_status, to_status, reason, output) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";

/// The same, only while the belt's newest event is `$11`.
const INSERT_IF_NEWEST: &str = "INSERT INTO belt_events \
     (project, belt_id, at_ms, actor, action, version, from_status, to_status, reason, output) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
     WHERE COALESCE((SELECT MAX(id) FROM belt_events WHERE project = $1 AND belt_id = $2), 0) = $11 \
     RETURNING id";

const COUNT_OF_BELT: &str = "SELECT COUNT(*) FROM belt_events WHERE project = $1 AND belt_id = $2";

const NEWEST_ID: &str = "SELECT COALESCE(MAX(id), 0) FROM belt_events";

/// The newest id pruned of the project (of one belt when `$2` is given), or before pruning was
/// per project, of all projects.
const HORIZON: &str = "SELECT MAX(pruned_through) FROM ( \
     SELECT pruned_through FROM belt_event_horizon WHERE singleton = 1 \
     UNION ALL \
     SELECT COALESCE(MAX(pruned_through), 0) FROM belt_event_horizons \
     WHERE project = $1 AND ($2 IS NULL OR belt_id = $2)) horizons";

/// Each event with how many of its project's and its belt's are as new or newer (1 = newest):
/// [`EventRetention::keeps`] as SQL. `$1` is the cap per project, `$2` the floor per belt.
const RANKED: &str = "(SELECT id, project, belt_id, \
     ROW_NUMBER() OVER (PARTITION BY project ORDER BY id DESC) AS in_project, \
     ROW_NUMBER() OVER (PARTITION BY project, belt_id ORDER BY id DESC) AS in_belt \
     FROM belt_events) ranked WHERE in_project > $1 AND in_belt > $2";

/// A belt's events go oldest first, so the newest pruned now is newer than any pruned before.
fn move_horizons_statement() -> String {
    format!(
        "INSERT INTO belt_event_horizons (project, belt_id, pruned_through) \
         SELECT project, belt_id, MAX(id) FROM {RANKED} GROUP BY project, belt_id \
         ON CONFLICT (project, belt_id) DO UPDATE SET pruned_through = excluded.pruned_through"
    )
}

fn prune_statement() -> String {
    format!("DELETE FROM belt_events WHERE id IN (SELECT id FROM {RANKED})")
}

/// An insert into the event log that answers the new id.
type EventInsert<'q, DB> =
    sqlx::query::QueryAs<'q, DB, (i64,), <DB as sqlx::Database>::Arguments<'q>>;

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
    output: Option<String>,
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
            output: row.output,
        })
        .with_context(|| format!("stored event {id} does not map"))
    }
}

fn events_of(rows: Vec<EventRow>) -> Result<Vec<BeltEvent>, StoreError> {
    rows.into_iter()
        .map(|row| BeltEvent::try_from(row).map_err(StoreError::Other))
        .collect()
}

sql_impl! {
impl {
    /// Appends one event in the caller's transaction. [`super::Dialect::LOCK_EVENTS`] holds the log
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
        let (event,) = Self::bind_event(sqlx::query_as(INSERT_EVENT), project, id, version, draft)
            .fetch_one(conn)
            .await
            .map_err(classify)?;
        Ok(event)
    }

    /// Binds `$1`…`$10` of an event's insert.
    fn bind_event<'q>(
        insert: EventInsert<'q, DB>,
        project: &'q str,
        id: i64,
        version: Option<i64>,
        draft: &'q EventDraft,
    ) -> EventInsert<'q, DB> {
        insert
            .bind(project)
            .bind(id)
            .bind(epoch_millis(draft.at))
            .bind(draft.actor.as_str())
            .bind(draft.action.as_str())
            .bind(version)
            .bind(draft.from.map(|s| s.as_str().to_owned()))
            .bind(draft.to.map(|s| s.as_str().to_owned()))
            .bind(draft.reason.clone())
            .bind(draft.output.clone())
    }

    /// The event of a write to `belt`, at the version it wrote, and the other processes told.
    pub(super) async fn record_written(
        &self,
        conn: &mut DB::Connection,
        belt: &Belt,
        event: &EventDraft,
    ) -> Result<(), StoreError> {
        let project = belt.project.as_str();
        Self::record_in(&mut *conn, project, belt.id.get(), Some(belt.version), event).await?;
        self.notify_in(conn, project, belt.id.get()).await
    }

    /// Tells the other processes on the database, with this transaction's commit, that an event
    /// of `belt` (0: of some belts of `project`) was recorded ([`super::Dialect::NOTIFY_EVENT`]).
    pub(super) async fn notify_in(
        &self,
        conn: &mut DB::Connection,
        project: &str,
        belt: i64,
    ) -> Result<(), StoreError> {
        let Some(notify) = DB::NOTIFY_EVENT else {
            return Ok(());
        };
        sqlx::query(notify)
            .bind(CHANNEL)
            .bind(payload(&self.origin, belt, project))
            .execute(conn)
            .await
            .map_err(classify)?;
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
        let insert = sqlx::query_as(INSERT_IF_NEWEST);
        let event = Self::bind_event(insert, project.as_str(), id.get(), version, &draft)
            .bind(after)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        if event.is_some() {
            self.notify_in(&mut tx, project.as_str(), id.get()).await?;
        }
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

    /// The project's events after `after`, oldest first; the horizon (of the belt when one is
    /// asked for) is read after them, so a prune that ran in between shows as a gap rather than
    /// passing unseen.
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
            .bind(project.as_str())
            .bind(belt.map(BeltId::get))
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

    /// Prunes what `retention` does not keep and moves the pruned belts' horizons past it, both
    /// from one snapshot ([`super::Dialect::BEGIN_PRUNE`]) and committed together: a reader sees
    /// the events gone only with their horizon moved.
    pub(super) async fn prune(&self, retention: EventRetention) -> Result<u64, StoreError> {
        let per_project = i64::try_from(retention.per_project()).unwrap_or(i64::MAX);
        let per_belt = i64::try_from(retention.per_belt()).unwrap_or(i64::MAX);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_PRUNE)
            .await
            .map_err(classify)?;
        sqlx::query(&move_horizons_statement())
            .bind(per_project)
            .bind(per_belt)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let pruned = sqlx::query(&prune_statement())
            .bind(per_project)
            .bind(per_belt)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(DB::rows_affected(&pruned))
    }
}
}

sql_impl! {
#[async_trait::async_trait]
impl EventLog {
    async fn record_status_change(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: Option<i64>,
        draft: EventDraft,
        after: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.record_alone(project, id, version, draft, after).await
    }

    async fn history(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<EventPage, StoreError> {
        self.history_page(project, id, offset, limit).await
    }

    async fn events_after(
        &self,
        project: &ProjectName,
        after: i64,
        belt: Option<BeltId>,
        limit: u64,
    ) -> Result<EventBatch, StoreError> {
        self.events_after_id(project, after, belt, limit).await
    }

    async fn newest_event_id(&self) -> Result<i64, StoreError> {
        self.newest_id().await
    }

    async fn prune_events(&self, retention: EventRetention) -> Result<u64, StoreError> {
        self.prune(retention).await
    }

    fn event_announcements(&self) -> tokio::sync::watch::Receiver<()> {
        self.announcer.subscribe()
    }
}
}
