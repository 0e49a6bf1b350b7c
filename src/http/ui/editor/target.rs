//! Which belt the editor writes, and the routes its forms post to.

use crate::domain::{BeltId, ProjectName};
use crate::http::scope::BeltScope;
use crate::http::ui::html::encode;

/// Which belt the editor writes: a new one, or the next version of one.
#[derive(Debug, Clone)]
pub enum Target {
    New(ProjectName),
    Edit(ProjectName, BeltId),
}

impl Target {
    pub fn project(&self) -> &ProjectName {
        match self {
            Target::New(project) | Target::Edit(project, _) => project,
        }
    }

    /// `/ui/projects/{p}/belts/new` or `/ui/projects/{p}/belts/{id}`: the editor's routes hang
    /// below it (`/check`, `/edit`, `/invoke`).
    fn base(&self) -> String {
        let project = encode(self.project().as_str());
        match self {
            Target::New(_) => format!("/ui/projects/{project}/belts"),
            Target::Edit(_, id) => format!("/ui/projects/{project}/belts/{id}"),
        }
    }

    pub fn save_path(&self) -> String {
        match self {
            Target::New(_) => format!("{}/new", self.base()),
            Target::Edit(..) => format!("{}/edit", self.base()),
        }
    }

    pub fn check_path(&self) -> String {
        format!("{}/check", self.base())
    }

    pub fn invoke_path(&self) -> String {
        format!("{}/invoke", self.base())
    }

    /// `…/samples/load`, `…/samples/save`: the test panel's saved samples.
    pub fn samples_path(&self, action: &'static str) -> String {
        format!("{}/samples/{action}", self.base())
    }
}

/// The belt a path names, as the editor's next version of it.
impl From<BeltScope> for Target {
    fn from(scope: BeltScope) -> Target {
        Target::Edit(scope.project, scope.id)
    }
}
