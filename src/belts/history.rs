//! A belt's history (docs/api.md#history): every write and every status change the runtime
//! reported, newest first, paged like the listing; what replicas printed only for editors.

use super::{Access, Asked, BeltError, Belts, Paging};
use crate::domain::Invalid;
use crate::store::EventPage;

impl Belts {
    /// `page` is handed in as parsed, so the role check answers first. A belt that is gone still
    /// shows its history while its events are retained; one that never had any is 404.
    pub async fn history(
        &self,
        asked: Asked<'_>,
        page: Result<Paging, Invalid>,
    ) -> Result<EventPage, BeltError> {
        let page = asked.permit(Access::Read, page)?;
        let mut events = self
            .store
            .history(asked.project, asked.id, page.offset, page.limit)
            .await?;
        if events.total == 0 {
            self.load(asked.project, asked.id).await?;
        }
        let sight = asked.caller.output_sight(asked.project);
        events.events = events.events.into_iter().map(|e| e.seen(sight)).collect();
        Ok(events)
    }
}
