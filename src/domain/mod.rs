//! The belt document: its parsing, defaults and canonical rendering. No I/O lives here.

pub mod belt;
pub mod defaults;
pub mod document;
pub mod fields;
pub mod ids;
pub mod input;
pub mod invalid;
pub mod kube_lists;
pub mod lifecycle;
pub mod policy;
pub mod python;
pub mod refusal;
pub mod replica;
pub mod requirements;
pub mod status;

pub use belt::{Belt, BeltSpec, Deployed, DesiredState, FetchProfile, OutputType, Person, Wish};
pub use defaults::BeltDefaults;
pub use ids::{BeltId, ProjectName};
pub use invalid::{Culprit, Invalid};
pub use lifecycle::{Action, Observed, Phase};
pub use refusal::{Precondition, Refusal};
pub use status::BeltStatus;
