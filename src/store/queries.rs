//! The statements both databases share. SQLite accepts PostgreSQL's `$n` placeholders, so one text
//! serves both; what differs (connection set-up, id allocation) stays in `sqlite.rs`/`postgres.rs`.
//! A macro rather than a generic impl, because sqlx's per-database types make generic bounds
//! unreadable.

macro_rules! impl_belt_store {
    ($store:ty, $connection:ty, $read_snapshot:expr, $write_begin:expr, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::BeltStore for $store {
            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                // A table, not `SELECT 1`: SQLite answers that without its file.
                sqlx::query("SELECT 1 FROM belt_rosters LIMIT 1")
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::classify)?;
                Ok(())
            }

            async fn create(
                &self,
                belt: $crate::store::NewBelt,
            ) -> Result<$crate::domain::Belt, $crate::store::StoreError> {
                self.create_belt(belt).await
            }

            async fn insert_many(
                &self,
                belts: Vec<$crate::store::NewBelt>,
            ) -> Result<u64, $crate::store::StoreError> {
                let mut tx = self.pool.begin().await.map_err($crate::store::classify)?;
                let mut inserted = 0;
                for belt in belts {
                    let id = match belt.id {
                        Some(id) => id.get(),
                        None => Self::next_id(&mut *tx).await?,
                    };
                    if Self::insert_row(&mut *tx, id, &belt).await? {
                        inserted += 1;
                    }
                }
                tx.commit().await.map_err($crate::store::classify)?;
                Ok(inserted)
            }

            async fn get(
                &self,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
            ) -> Result<Option<$crate::domain::Belt>, $crate::store::StoreError> {
                self.belt_by_id(id, Some(project), false).await
            }

            async fn list(
                &self,
                project: &$crate::domain::ProjectName,
                query: &$crate::store::ListQuery,
            ) -> Result<$crate::store::Page, $crate::store::StoreError> {
                let pattern = $crate::store::like_pattern(&query.search);
                // One read-only snapshot, so the revision, the ids and the rows describe the same
                // moment.
                let mut tx = self
                    .pool
                    .begin_with($read_snapshot)
                    .await
                    .map_err($crate::store::classify)?;
                let (revision,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE((SELECT revision FROM belt_rosters WHERE project = $1), 0)",
                )
                .bind(project.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                let ids = match self.searches.get(project.as_str(), &pattern, revision) {
                    Some(ids) => ids,
                    None => {
                        let ids: Vec<(i64,)> = sqlx::query_as(
                            "SELECT id FROM belts WHERE project = $1 \
                             AND name_folded LIKE $2 ESCAPE '\\' \
                             AND id NOT IN (SELECT id FROM belts \
                             WHERE desired_state = 'DELETING' AND project = $1) ORDER BY id",
                        )
                        .bind(project.as_str())
                        .bind(&pattern)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err($crate::store::classify)?;
                        let ids: std::sync::Arc<[i64]> = ids.into_iter().map(|(id,)| id).collect();
                        self.searches
                            .put(project.as_str(), &pattern, revision, ids.clone());
                        ids
                    }
                };
                let page = $crate::store::page_of(&ids, query.offset, query.limit);
                let rows: Vec<$crate::store::row::BeltRow> = if page.is_empty() {
                    Vec::new()
                } else {
                    let sql = format!(
                        concat!(
                            "SELECT ",
                            $crate::store::row::belt_columns!(),
                            " FROM belts WHERE project = $1 AND id IN ({}) ORDER BY id"
                        ),
                        $crate::store::placeholders(2, page.len())
                    );
                    let mut select = sqlx::query_as(&sql).bind(project.as_str());
                    for id in page {
                        select = select.bind(*id);
                    }
                    select
                        .fetch_all(&mut *tx)
                        .await
                        .map_err($crate::store::classify)?
                };
                tx.commit().await.map_err($crate::store::classify)?;
                let belts = rows
                    .into_iter()
                    .map($crate::domain::Belt::try_from)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err($crate::store::StoreError::Other)?;
                Ok($crate::store::Page {
                    belts,
                    total: ids.len() as u64,
                })
            }

            async fn update(
                &self,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
                change: $crate::store::Change,
            ) -> Result<$crate::store::UpdateOutcome, $crate::store::StoreError> {
                let mut conn = self.pool.acquire().await.map_err($crate::store::classify)?;
                let row = Self::update_row(&mut conn, project, id, &change).await?;
                match row {
                    Some(row) => Ok($crate::store::UpdateOutcome::Updated(Box::new(
                        $crate::domain::Belt::try_from(row)?,
                    ))),
                    None => Ok(match self.current_version(project, id).await? {
                        Some(current) => $crate::store::UpdateOutcome::VersionMismatch { current },
                        None => $crate::store::UpdateOutcome::NotFound,
                    }),
                }
            }

            async fn set_wish(
                &self,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
                guard: $crate::store::WishGuard,
                change: $crate::store::WishChange,
            ) -> Result<$crate::store::WishOutcome, $crate::store::StoreError> {
                let mut conn = self.pool.acquire().await.map_err($crate::store::classify)?;
                let row = Self::wish_row(&mut conn, project, id, guard, change).await?;
                match row {
                    Some(row) => Ok($crate::store::WishOutcome::Stored(Box::new(
                        $crate::domain::Belt::try_from(row)?,
                    ))),
                    None => Ok(match self.current_version(project, id).await? {
                        Some(_) => $crate::store::WishOutcome::Changed,
                        None => $crate::store::WishOutcome::NotFound,
                    }),
                }
            }

            async fn write_locked(
                &self,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
                decide: $crate::store::Decide,
            ) -> Result<$crate::store::LockedOutcome, $crate::store::StoreError> {
                use $crate::store::{LockedOutcome, LockedWrite};
                let mut tx = self
                    .pool
                    .begin_with($write_begin)
                    .await
                    .map_err($crate::store::classify)?;
                let row: Option<$crate::store::row::BeltRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::row::belt_columns!(),
                    " FROM belts WHERE project = $1 AND id = $2",
                    $for_update
                ))
                .bind(project.as_str())
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                let Some(row) = row else {
                    return Ok(LockedOutcome::NotFound);
                };
                let belt = $crate::domain::Belt::try_from(row)?;
                if belt.wish.desired == $crate::domain::DesiredState::Deleting {
                    return Ok(LockedOutcome::NotFound);
                }
                // The row is locked until the commit, so the guards below cannot miss: no other
                // writer can have moved the version or the wish since it was read.
                let row = match decide(&belt) {
                    Err(refusal) => return Ok(LockedOutcome::Refused(refusal)),
                    Ok(LockedWrite::Nothing) => {
                        return Ok(LockedOutcome::Unchanged(Box::new(belt)))
                    }
                    Ok(LockedWrite::Replace { spec, by, at }) => {
                        let change = $crate::store::Change {
                            spec: *spec,
                            by,
                            at,
                            expected_version: belt.version,
                        };
                        Self::update_row(&mut *tx, project, id, &change).await?
                    }
                    Ok(LockedWrite::Wish(change)) => {
                        let guard = $crate::store::WishGuard::of(&belt);
                        Self::wish_row(&mut *tx, project, id, guard, change).await?
                    }
                };
                let row = row.ok_or_else(|| {
                    anyhow::anyhow!("belt {id} changed under its row lock")
                })?;
                tx.commit().await.map_err($crate::store::classify)?;
                Ok(LockedOutcome::Written(Box::new(
                    $crate::domain::Belt::try_from(row)?,
                )))
            }

            async fn delete(
                &self,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
                expected_version: Option<i64>,
            ) -> Result<$crate::store::DeleteOutcome, $crate::store::StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM belts WHERE project = $1 AND id = $2 \
                     AND ($3 IS NULL OR version = $3)",
                )
                .bind(project.as_str())
                .bind(id.get())
                .bind(expected_version)
                .execute(&self.pool)
                .await
                .map_err($crate::store::classify)?
                .rows_affected();
                if deleted > 0 {
                    return Ok($crate::store::DeleteOutcome::Deleted);
                }
                Ok(match self.current_version(project, id).await? {
                    Some(current) => $crate::store::DeleteOutcome::VersionMismatch { current },
                    None => $crate::store::DeleteOutcome::NotFound,
                })
            }

            // The reconciler's reads and writes (docs/architecture.md#the-reconciler).

            async fn wish_summaries(
                &self,
            ) -> Result<Vec<$crate::store::WishSummary>, $crate::store::StoreError> {
                let rows: Vec<(i64, String, i64, String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT id, project, version, desired_state, generation, deployed_version \
                     FROM belts ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::classify)?;
                rows.into_iter()
                    .map($crate::store::row::summary)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err($crate::store::StoreError::Other)
            }

            async fn get_any(
                &self,
                id: $crate::domain::BeltId,
            ) -> Result<Option<$crate::domain::Belt>, $crate::store::StoreError> {
                self.belt_by_id(id, None, true).await
            }

            async fn delete_if_deleting(
                &self,
                id: $crate::domain::BeltId,
            ) -> Result<bool, $crate::store::StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM belts WHERE id = $1 AND desired_state = 'DELETING'",
                )
                .bind(id.get())
                .execute(&self.pool)
                .await
                .map_err($crate::store::classify)?
                .rows_affected();
                Ok(deleted > 0)
            }

            async fn undo_delete(
                &self,
                id: $crate::domain::BeltId,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.pool.begin().await.map_err($crate::store::classify)?;
                let project: Option<(String,)> = sqlx::query_as(
                    "UPDATE belts SET desired_state = 'STOPPED' \
                     WHERE id = $1 AND desired_state = 'DELETING' RETURNING project",
                )
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                if let Some((project,)) = &project {
                    Self::bump_roster(&mut *tx, project).await?;
                }
                tx.commit().await.map_err($crate::store::classify)?;
                Ok(project.is_some())
            }
        }

        impl $store {
            /// One belt by id; of `project` when given; a DELETING one only if `deleting`.
            async fn belt_by_id(
                &self,
                id: $crate::domain::BeltId,
                project: Option<&$crate::domain::ProjectName>,
                deleting: bool,
            ) -> Result<Option<$crate::domain::Belt>, $crate::store::StoreError> {
                let row: Option<$crate::store::row::BeltRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::row::belt_columns!(),
                    " FROM belts WHERE id = $1 AND ($2 IS NULL OR project = $2) \
                     AND ($3 OR desired_state <> 'DELETING')"
                ))
                .bind(id.get())
                .bind(project.map(|p| p.as_str()))
                .bind(deleting)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::classify)?;
                row.map($crate::domain::Belt::try_from)
                    .transpose()
                    .map_err($crate::store::StoreError::Other)
            }

            /// Moves a project's roster revision, so that cached list searches are read again:
            /// for writes that change which belts a list shows without a roster trigger seeing it.
            async fn bump_roster(
                conn: &mut $connection,
                project: &str,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE belt_rosters SET revision = revision + 1 WHERE project = $1")
                    .bind(project)
                    .execute(conn)
                    .await
                    .map_err($crate::store::classify)?;
                Ok(())
            }

            /// The compare-and-set update of one belt on `change.expected_version`; `None` when
            /// that version (or the belt) is not there.
            async fn update_row(
                conn: &mut $connection,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
                change: &$crate::store::Change,
            ) -> Result<Option<$crate::store::row::BeltRow>, $crate::store::StoreError> {
                    let spec = $crate::store::row::spec_json(&change.spec)?;
                    // Compare-and-set on the version: of two writers that read the same version, one
                    // wins and the other sees a mismatch.
                    let row: Option<$crate::store::row::BeltRow> = sqlx::query_as(concat!(
                        "UPDATE belts SET name = $1, name_folded = $2, spec = $3, version = version + 1, \
                         modified_by_name = $4, modified_by_email = $5, modified_at_ms = $6 \
                         WHERE project = $7 AND id = $8 AND version = $9 RETURNING ",
                        $crate::store::row::belt_columns!()
                    ))
                    .bind(&change.spec.name)
                    .bind(change.spec.name.to_lowercase())
                    .bind(spec)
                    .bind(&change.by.name)
                    .bind(&change.by.email)
                    .bind($crate::domain::belt::epoch_millis(change.at))
                    .bind(project.as_str())
                    .bind(id.get())
                    .bind(change.expected_version)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|err| {
                        if $crate::store::is_unique_violation(&err) {
                            $crate::store::StoreError::NameTaken(change.spec.name.clone())
                        } else {
                            $crate::store::classify(err)
                        }
                    })?;
                Ok(row)
            }

            /// The compare-and-set of a START, STOP or DELETE on the wish in `guard`; `None` when
            /// the wish (or the belt) is not there. A DELETE takes the belt out of every list at
            /// once, so its project's roster moves in the same transaction.
            async fn wish_row(
                conn: &mut $connection,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
                guard: $crate::store::WishGuard,
                change: $crate::store::WishChange,
            ) -> Result<Option<$crate::store::row::BeltRow>, $crate::store::StoreError> {
                    // START records what to deploy and counts the start; STOP and DELETE only
                    // flip the wish.
                    use $crate::domain::DesiredState;
                    let (desired, version, spec) = match change {
                        $crate::store::WishChange::Start { version, spec } => (
                            DesiredState::Running,
                            Some(version),
                            Some($crate::store::row::spec_json(&spec)?),
                        ),
                        $crate::store::WishChange::Stop => (DesiredState::Stopped, None, None),
                        $crate::store::WishChange::Delete => (DesiredState::Deleting, None, None),
                    };
                    let row: Option<$crate::store::row::BeltRow> = sqlx::query_as(concat!(
                        "UPDATE belts SET \
                         desired_state = $7, \
                         deployed_version = COALESCE($1, deployed_version), \
                         deployed_spec = COALESCE($2, deployed_spec), \
                         generation = CASE WHEN $1 IS NULL THEN generation ELSE generation + 1 END \
                         WHERE project = $3 AND id = $4 AND desired_state = $5 AND generation = $6 \
                         RETURNING ",
                        $crate::store::row::belt_columns!()
                    ))
                    .bind(version)
                    .bind(spec)
                    .bind(project.as_str())
                    .bind(id.get())
                    .bind(guard.desired.as_str())
                    .bind(guard.generation)
                    .bind(desired.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($crate::store::classify)?;
                if row.is_some() && desired == DesiredState::Deleting {
                    Self::bump_roster(&mut *conn, project.as_str()).await?;
                }
                Ok(row)
            }

            async fn current_version(
                &self,
                project: &$crate::domain::ProjectName,
                id: $crate::domain::BeltId,
            ) -> Result<Option<i64>, $crate::store::StoreError> {
                let row: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM belts WHERE project = $1 AND id = $2")
                        .bind(project.as_str())
                        .bind(id.get())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::store::classify)?;
                Ok(row.map(|(version,)| version))
            }

            /// Inserts one belt under `id`; `false` when the id is taken (nothing written).
            async fn insert_row(
                conn: &mut $connection,
                id: i64,
                belt: &$crate::store::NewBelt,
            ) -> Result<bool, $crate::store::StoreError> {
                let at = $crate::domain::belt::epoch_millis(belt.at);
                let inserted = sqlx::query(
                    "INSERT INTO belts (id, project, name, name_folded, version, spec, \
                     created_by_name, created_by_email, created_at_ms, \
                     modified_by_name, modified_by_email, modified_at_ms) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $6, $7, $8) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(belt.project.as_str())
                .bind(&belt.spec.name)
                .bind(belt.spec.name.to_lowercase())
                .bind($crate::store::row::spec_json(&belt.spec)?)
                .bind(&belt.author.name)
                .bind(&belt.author.email)
                .bind(at)
                .execute(conn)
                .await
                .map_err(|err| {
                    if $crate::store::is_unique_violation(&err) {
                        $crate::store::StoreError::NameTaken(belt.spec.name.clone())
                    } else {
                        $crate::store::classify(err)
                    }
                })?
                .rows_affected();
                Ok(inserted > 0)
            }

            /// Creates a belt in one transaction: allocate an id (skipping ids that explicit
            /// creates took), insert, commit.
            async fn create_belt(
                &self,
                belt: $crate::store::NewBelt,
            ) -> Result<$crate::domain::Belt, $crate::store::StoreError> {
                let mut tx = self.pool.begin().await.map_err($crate::store::classify)?;
                let id = loop {
                    let id = match belt.id {
                        Some(id) => id.get(),
                        None => Self::next_id(&mut *tx).await?,
                    };
                    if Self::insert_row(&mut *tx, id, &belt).await? {
                        break id;
                    }
                    if let Some(id) = belt.id {
                        return Err($crate::store::StoreError::IdTaken(id));
                    }
                };
                tx.commit().await.map_err($crate::store::classify)?;
                Ok($crate::domain::Belt {
                    id: $crate::domain::BeltId::new(id)
                        .ok_or_else(|| anyhow::anyhow!("allocated id {id} is not positive"))?,
                    project: belt.project,
                    version: 1,
                    spec: belt.spec,
                    created_by: belt.author.clone(),
                    created_at: belt.at,
                    modified_by: belt.author,
                    modified_at: belt.at,
                    wish: $crate::domain::Wish::default(),
                })
            }
        }
    };
}

pub(crate) use impl_belt_store;
