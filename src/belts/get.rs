//! Read one belt (docs/api.md#the-belt-document); the export view is rendered from the same belt
//! with [`Belts::defaults`].

use super::{Access, Asked, BeltError, Belts, Shown};

impl Belts {
    pub async fn get(&self, asked: Asked<'_>) -> Result<Shown, BeltError> {
        asked.caller.require(asked.project, Access::Read)?;
        let belt = self.load(asked.project, asked.id).await?;
        Ok(self.show(belt))
    }
}
