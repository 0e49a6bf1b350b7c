//! Why a locked write refuses to write: the decision taken on a belt under its row lock can only
//! say "this value is invalid" or "the belt is not at the version the caller named". The store
//! carries it back untouched; the use case turns it into its own error.

use super::{BeltId, Invalid};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The caller named versions (`If-Match`); the belt is at `current`, not one of them.
    #[error("belt {id} is at version {current}")]
    VersionMismatch { id: BeltId, current: i64 },
}

/// The versions a write may apply to (docs/api.md#put-etag-and-if-match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`, or `*`.
    #[default]
    Any,
    /// Only these versions.
    OneOf(Vec<i64>),
}

impl Precondition {
    pub fn check(&self, id: BeltId, current: i64) -> Result<(), Refusal> {
        match self {
            Precondition::OneOf(versions) if !versions.contains(&current) => {
                Err(Refusal::VersionMismatch { id, current })
            }
            _ => Ok(()),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, Precondition::Any)
    }
}

/// Whether a write is kept, or only tried (`?dryRun=true`, docs/api.md#dry-run): a dry run makes
/// every check and the write itself, then undoes it, so it answers exactly what the real write
/// would and leaves nothing behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Commit {
    #[default]
    Yes,
    DryRun,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_precondition_passes_only_the_versions_it_names() {
        let id = BeltId::new(7).unwrap();
        assert_eq!(Precondition::Any.check(id, 3), Ok(()));
        assert_eq!(Precondition::OneOf(vec![2, 3]).check(id, 3), Ok(()));
        assert_eq!(
            Precondition::OneOf(vec![2]).check(id, 3),
            Err(Refusal::VersionMismatch { id, current: 3 })
        );
    }
}
