//! The reads [`super::SqlStore`] lists belts with: the paged search, and the roster revision that
//! keeps its cache honest.

use std::sync::Arc;

use super::belts_of;
use super::statements;
use crate::domain::ProjectName;
use crate::store::row::BeltRow;
use crate::store::{classify, ListQuery, Page, StoreError};

sql_impl! {
impl {
    pub(super) async fn bump_roster(
        conn: &mut DB::Connection,
        project: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(statements::BUMP_ROSTER)
            .bind(project)
            .execute(conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// One page of the project's belts whose name contains the search, read in one read-only
    /// snapshot so the revision, the ids and the rows describe the same moment.
    pub(super) async fn list_page(
        &self,
        project: &ProjectName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let pattern = like_pattern(&query.search);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_SNAPSHOT)
            .await
            .map_err(classify)?;
        let ids = self.search_ids(&mut tx, project, &pattern).await?;
        let page = page_of(&ids, query.offset, query.limit);
        let rows: Vec<BeltRow> = if page.is_empty() {
            Vec::new()
        } else {
            let select = statements::select_page(page.len());
            let mut rows = sqlx::query_as(&select).bind(project.as_str());
            for id in page {
                rows = rows.bind(*id);
            }
            rows.fetch_all(&mut *tx).await.map_err(classify)?
        };
        tx.commit().await.map_err(classify)?;
        Ok(Page {
            belts: belts_of(rows)?,
            total: ids.len() as u64,
        })
    }

    /// The sorted ids that match `pattern`, from the cache while the project's roster revision
    /// stands.
    async fn search_ids(
        &self,
        conn: &mut DB::Connection,
        project: &ProjectName,
        pattern: &str,
    ) -> Result<Arc<[i64]>, StoreError> {
        let (revision,): (i64,) = sqlx::query_as(statements::ROSTER_REVISION)
            .bind(project.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        let scan = async {
            let ids: Vec<(i64,)> = sqlx::query_as(statements::SEARCH_IDS)
                .bind(project.as_str())
                .bind(pattern)
                .fetch_all(&mut *conn)
                .await
                .map_err(classify)?;
            Ok(ids.into_iter().map(|(id,)| id).collect())
        };
        self.searches
            .ids_or_scan(project.as_str(), pattern, revision, scan)
            .await
    }
}
}

/// `search` as a LIKE pattern over the folded name, with `%`, `_` and the escape itself literal.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The ids of one page: `limit` of them from `offset`, fewer at the end.
fn page_of(ids: &[i64], offset: u64, limit: u64) -> &[i64] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(ids.len());
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(ids.len());
    &ids[start..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("A_b%"), "%a\\_b\\%%");
        assert_eq!(super::like_pattern(""), "%%");
        assert_eq!(super::like_pattern("x\\y"), "%x\\\\y%");
    }

    #[test]
    fn pages_are_slices_that_never_overrun() {
        let ids = [1, 2, 3, 4, 5];
        assert_eq!(super::page_of(&ids, 0, 2), &[1, 2]);
        assert_eq!(super::page_of(&ids, 4, 20), &[5]);
        assert!(super::page_of(&ids, 5, 20).is_empty());
        assert!(super::page_of(&ids, u64::MAX, u64::MAX).is_empty());
        assert_eq!(super::super::statements::placeholders(2, 3), "$2, $3, $4");
    }
}
