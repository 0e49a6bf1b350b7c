//! Where the reconciler finds a belt's status until its rewrite imports it from
//! `domain::lifecycle` directly; the rule itself lives there (docs/architecture.md).

pub use crate::domain::lifecycle::status_of;
