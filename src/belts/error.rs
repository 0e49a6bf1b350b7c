//! The one error of the use cases. Each variant names what went wrong in the domain's words; the
//! HTTP layer maps it to the error body and status once (docs/api.md#errors).

use std::time::Duration;

use crate::domain::samples::SampleName;
use crate::domain::{BeltId, Invalid, Refusal};
use crate::invoke::{Full, InvokeError};
use crate::registry::RegistryError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BeltError {
    /// A value the caller sent; names the field or header.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("belt {0} not found")]
    NotFound(BeltId),
    /// The belt keeps no revision of this version (never stored, or pruned).
    #[error("revision {version} of belt {id} not found")]
    RevisionNotFound { id: BeltId, version: i64 },
    /// The belt keeps no saved sample of this name.
    #[error("belt {id} keeps no sample '{name}'")]
    SampleNotFound { id: BeltId, name: SampleName },
    /// A rollback without a version, and no kept revision is older than the current one.
    #[error("belt {id} keeps no revision older than {current}")]
    NoOlderRevision { id: BeltId, current: i64 },
    /// `If-Match` named versions; the belt is at `current`.
    #[error("belt {id} is at version {current}")]
    VersionMismatch { id: BeltId, current: i64 },
    #[error("belt id {0} is taken")]
    IdTaken(BeltId),
    #[error("belt name '{0}' is taken in this project")]
    NameTaken(String),
    /// The caller lacks the role the use case needs.
    #[error("missing roles")]
    Forbidden,
    #[error("{0} unavailable")]
    Unavailable(Dependency),
    /// Runtime objects of the belt's name are held by something belt-api does not manage.
    #[error("runtime objects in use: {0}")]
    InUse(String),
    /// Every test-invoke slot (of the server, or the project's share) is taken; one frees
    /// within about `retry_after`.
    #[error("test-invoke slots are busy: {full:?}")]
    Busy { full: Full, retry_after: Duration },
    /// The caller's or the server's share of open streams is taken; one frees when a stream
    /// closes.
    #[error("{cap} streams open ({share:?})")]
    TooManyStreams {
        share: StreamShare,
        cap: usize,
        retry_after: Duration,
    },
    /// This belt-api runs no data plane: there are no offsets to show or change.
    #[error("no data plane")]
    NoDataPlane,
    /// Something else holds what the request would change; trying again later may succeed.
    #[error("{0}")]
    GroupBusy(String),
    /// What the caller asked to resume from is no longer kept: it must read afresh.
    #[error("{0}")]
    Gone(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dependency {
    /// The database, during a request: nothing was changed.
    #[error("database")]
    Database,
    /// The database, asked by the readiness probe, within this bound.
    #[error("database (probe)")]
    DatabaseProbe(Duration),
    #[error("runtime ({0})")]
    Runtime(String),
    /// The runtime has not confirmed a DELETE in time; the reconciler goes on with it.
    #[error("runtime, deleting ({0})")]
    Deletion(String),
    /// The event-type registry; the sentence, which names the event type, is the client's.
    #[error("event-type registry: {0}")]
    Registry(String),
    /// The data plane's broker; the sentence says what it did or did not answer.
    #[error("broker: {0}")]
    Broker(String),
}

/// Whose share of open streams a refused one would have exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamShare {
    Caller,
    Server,
}

impl From<Refusal> for BeltError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(invalid) => BeltError::Invalid(invalid),
            Refusal::VersionMismatch { id, current } => BeltError::VersionMismatch { id, current },
        }
    }
}

impl From<StoreError> for BeltError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::IdTaken(id) => BeltError::IdTaken(id),
            StoreError::NameTaken(name) => BeltError::NameTaken(name),
            StoreError::Unavailable(_) => BeltError::Unavailable(Dependency::Database),
            StoreError::Other(err) => BeltError::Unexpected(err),
        }
    }
}

impl From<RuntimeError> for BeltError {
    fn from(err: RuntimeError) -> Self {
        match err {
            RuntimeError::Unavailable(reason) => {
                BeltError::Unavailable(Dependency::Runtime(reason))
            }
            RuntimeError::InUse(reason) => BeltError::InUse(reason),
            RuntimeError::Other(err) => BeltError::Unexpected(err),
        }
    }
}

impl From<RegistryError> for BeltError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::Refused(invalid) => BeltError::Invalid(invalid),
            RegistryError::Unavailable(message) => {
                BeltError::Unavailable(Dependency::Registry(message))
            }
        }
    }
}

impl From<InvokeError> for BeltError {
    fn from(err: InvokeError) -> Self {
        match err {
            InvokeError::Busy { full, retry_after } => BeltError::Busy { full, retry_after },
            InvokeError::Unavailable(reason) => BeltError::Unavailable(Dependency::Runtime(reason)),
            InvokeError::Refused(invalid) => BeltError::Invalid(invalid),
            InvokeError::Failed(err) => BeltError::Unexpected(err),
        }
    }
}
