//! Saved samples (docs/api.md#saved-samples): sample events kept with a belt under a name, for
//! test-invoke to replay. Reading them is a viewer's, as reading the belt is; saving and deleting
//! an editor's, as running them is.

use time::OffsetDateTime;

use super::{Access, Asked, BeltError, Belts};
use crate::domain::samples::{admit, Sample, SampleEvents, SampleName, Saving};
use crate::domain::{Commit, Invalid};
use crate::store::SampleSaved;

impl Belts {
    /// The samples the belt keeps, by name.
    pub async fn samples(&self, asked: Asked<'_>) -> Result<Vec<Sample>, BeltError> {
        asked.caller.require(asked.project, Access::Read)?;
        self.load(asked.project, asked.id).await?;
        Ok(self.store.samples(asked.project, asked.id).await?)
    }

    /// One kept sample; 404 naming it when the belt keeps none of that name.
    pub async fn sample(
        &self,
        asked: Asked<'_>,
        name: Result<SampleName, Invalid>,
    ) -> Result<Sample, BeltError> {
        let name = asked.permit(Access::Read, name)?;
        self.load(asked.project, asked.id).await?;
        let kept = self.store.sample(asked.project, asked.id, &name).await?;
        kept.ok_or(BeltError::SampleNotFound { id: asked.id, name })
    }

    /// Saves `body` (`{"events": [...]}`) under `name`: a new sample while the belt has room for
    /// one, or over the one of that name; kept or only tried as `commit` says. The role first,
    /// then `dryRun`, the name, the body.
    pub async fn save_sample(
        &self,
        asked: Asked<'_>,
        commit: Result<Commit, Invalid>,
        name: Result<SampleName, Invalid>,
        body: &[u8],
    ) -> Result<(Sample, Saving), BeltError> {
        let parsed = commit.and_then(|commit| {
            let name = name?;
            Ok((commit, name, SampleEvents::parse_body(body)?))
        });
        let (commit, name, events) = asked.permit(Access::Write, parsed)?;
        let sample = Sample {
            name,
            events,
            saved_by: asked.caller.person(),
            saved_at: OffsetDateTime::now_utc(),
        };
        let admitting = sample.name.clone();
        let admit = Box::new(move |kept: &[SampleName]| admit(kept, &admitting));
        let saved = self
            .store
            .save_sample(asked.project, asked.id, &sample, admit, commit)
            .await?;
        match saved {
            SampleSaved::Saved(saving) => Ok((sample, saving)),
            SampleSaved::Refused(invalid) => Err(invalid.into()),
            SampleSaved::NotFound => Err(BeltError::NotFound(asked.id)),
        }
    }

    /// Forgets the sample `name`, or only tries to as `commit` says; 404 naming it when the belt
    /// keeps none of that name. The role first, then `dryRun`, then the name.
    pub async fn delete_sample(
        &self,
        asked: Asked<'_>,
        commit: Result<Commit, Invalid>,
        name: Result<SampleName, Invalid>,
    ) -> Result<(), BeltError> {
        let parsed = commit.and_then(|commit| Ok((commit, name?)));
        let (commit, name) = asked.permit(Access::Write, parsed)?;
        self.load(asked.project, asked.id).await?;
        let deleted = (self.store).delete_sample(asked.project, asked.id, &name, commit);
        if deleted.await? {
            Ok(())
        } else {
            Err(BeltError::SampleNotFound { id: asked.id, name })
        }
    }
}
