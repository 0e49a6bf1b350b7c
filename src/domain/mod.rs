//! The belt: its one declaration of fields, their parsing, defaults and policy. No I/O lives here;
//! the document the API renders from it is `src/http/document.rs`.

pub mod belt;
pub mod defaults;
pub mod event;
pub mod fields;
pub mod ids;
pub mod input;
pub mod invalid;
pub mod kafka_access;
pub mod kube_lists;
pub mod lifecycle;
pub mod log_lines;
pub mod offsets;
pub mod output;
pub mod policy;
pub mod python;
pub mod refusal;
pub mod replica;
pub mod requirements;
pub mod reserved;
pub mod retention;
pub mod revision;
pub mod settings;
pub mod status;
pub mod timestamp;
pub mod topics;

pub use belt::{Belt, BeltSpec, Deployed, DesiredState, FetchProfile, OutputType, Person, Wish};
pub use defaults::BeltDefaults;
pub use event::{BeltEvent, EventAction, EventDraft};
pub use ids::{BeltId, ProjectName};
pub use invalid::{Culprit, Invalid};
pub use lifecycle::{Action, Observed, Phase};
pub use refusal::{Commit, Precondition, Refusal};
pub use retention::EventRetention;
pub use revision::{Revision, RevisionPage, RevisionSummary};
pub use status::BeltStatus;
