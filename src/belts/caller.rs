//! Who asks, as the use cases see it: a verified identity, its roles, and the token the registry
//! is asked with (docs/api.md#authentication-and-roles).

use super::BeltError;
use crate::auth::Claims;
use crate::domain::output::OutputSight;
use crate::domain::{BeltId, Commit, Invalid, Person, Precondition, ProjectName};

pub struct Caller {
    pub claims: Claims,
    /// Forwarded to the event-type registry, which applies its own access rules. Never logged.
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// list, get, get state
    Read,
    /// create, update, delete, change state, logs
    Write,
}

/// A project the caller holds a role in, and the strongest of its roles there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub project: ProjectName,
    /// `editor` or `viewer`: the roles [`Caller::require`] reads.
    pub role: &'static str,
}

impl Caller {
    /// Every project the token grants `editor` or `viewer` in, `global` first, then by name; a
    /// client role under a name that is no project is not one.
    pub fn projects(&self) -> Vec<Granted> {
        let mut granted: Vec<Granted> = (self.claims.resource_access.keys())
            .filter_map(|name| ProjectName::parse(name).ok())
            .filter_map(|project| {
                let role = self.role_in(&project)?;
                Some(Granted { project, role })
            })
            .collect();
        let global_first = |g: &Granted| (g.project.as_str() != "global", g.project.to_string());
        granted.sort_by_key(global_first);
        granted
    }

    /// The caller's role in `project`, if any.
    pub fn role_in(&self, project: &ProjectName) -> Option<&'static str> {
        let has = |role| self.claims.has_client_role(project.as_str(), role);
        ["editor", "viewer"].into_iter().find(|role| has(role))
    }

    pub fn require(&self, project: &ProjectName, access: Access) -> Result<(), BeltError> {
        let has = |role| self.claims.has_client_role(project.as_str(), role);
        let allowed = match access {
            Access::Read => has("editor") || has("viewer"),
            Access::Write => has("editor"),
        };
        if allowed {
            Ok(())
        } else {
            Err(BeltError::Forbidden)
        }
    }

    /// Whether answers may quote what the project's replicas printed: only to who may read
    /// their logs.
    pub fn output_sight(&self, project: &ProjectName) -> OutputSight {
        OutputSight::for_editor(self.require(project, Access::Write).is_ok())
    }

    /// The role check first, then the refusal of a value the caller sent: a caller without the
    /// role learns nothing about what else is wrong with the request.
    pub fn permit<T>(
        &self,
        project: &ProjectName,
        access: Access,
        parsed: Result<T, Invalid>,
    ) -> Result<T, BeltError> {
        self.require(project, access)?;
        Ok(parsed?)
    }

    /// Who the token names, for what is counted per caller (open streams): its issuer and
    /// subject, or, for a token without `sub` (dev tokens), the names it carries.
    pub fn subject(&self) -> String {
        let claims = &self.claims;
        let issuer = claims.iss.as_deref().unwrap_or_default();
        match &claims.sub {
            Some(sub) => format!("{issuer}\nsub:{sub}"),
            None => format!(
                "{issuer}\nnames:{}\n{}",
                claims.display_name(),
                claims.email()
            ),
        }
    }

    pub fn person(&self) -> Person {
        Person {
            name: self.claims.display_name(),
            email: self.claims.email(),
        }
    }
}

/// Who asks about which belt.
#[derive(Clone, Copy)]
pub struct Asked<'a> {
    pub caller: &'a Caller,
    pub project: &'a ProjectName,
    pub id: BeltId,
}

impl Asked<'_> {
    pub fn permit<T>(&self, access: Access, parsed: Result<T, Invalid>) -> Result<T, BeltError> {
        self.caller.permit(self.project, access, parsed)
    }
}

/// A change to one belt: who asks for it, the versions it may apply to (`If-Match`) and whether
/// it is kept or only tried (`dryRun`), handed in as parsed, refusals included, so that the role
/// check answers first.
pub struct Edit<'a> {
    pub asked: Asked<'a>,
    pub expect: Result<Precondition, Invalid>,
    pub commit: Result<Commit, Invalid>,
}

impl Edit<'_> {
    /// The `editor` role, then the precondition, then whether to commit.
    pub fn permit(&self) -> Result<(Precondition, Commit), BeltError> {
        let parsed = (self.expect.clone()).and_then(|expect| Ok((expect, self.commit.clone()?)));
        self.asked.permit(Access::Write, parsed)
    }

    /// This change, kept or only tried as `commit` says (kept unless told).
    pub fn committing(self, commit: Result<Commit, Invalid>) -> Self {
        Edit { commit, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Access as Roles;

    fn caller(role: &str) -> Caller {
        granting(&[("p", &[role])])
    }

    fn granting(grants: &[(&str, &[&str])]) -> Caller {
        let mut claims = Claims::default();
        for (project, roles) in grants {
            let roles = Roles {
                roles: roles.iter().map(|role| role.to_string()).collect(),
            };
            claims.resource_access.insert(project.to_string(), roles);
        }
        Caller {
            claims,
            token: String::new(),
        }
    }

    #[test]
    fn projects_are_those_with_a_role_global_first_editor_over_viewer() {
        let caller = granting(&[
            ("zeta", &["viewer"]),
            ("alpha", &["viewer", "editor"]),
            ("global", &["viewer"]),
            ("account", &["manage-account"]),
            ("not a project", &["editor"]),
        ]);
        let listed: Vec<(String, &str)> = (caller.projects().into_iter())
            .map(|g| (g.project.to_string(), g.role))
            .collect();
        let expected = [
            ("global", "viewer"),
            ("alpha", "editor"),
            ("zeta", "viewer"),
        ];
        let expected: Vec<(String, &str)> =
            expected.iter().map(|(p, r)| (p.to_string(), *r)).collect();
        assert_eq!(listed, expected);
        let alpha = ProjectName::parse("alpha").unwrap();
        assert_eq!(caller.role_in(&alpha), Some("editor"));
        let account = ProjectName::parse("account").unwrap();
        assert_eq!(caller.role_in(&account), None);
    }

    #[test]
    fn the_role_answers_before_a_refused_value() {
        let project = ProjectName::parse("p").unwrap();
        let refused: Result<(), Invalid> = Err(Invalid::header("If-Match", "bad"));
        let viewer = caller("viewer");
        assert!(matches!(
            viewer.permit(&project, Access::Write, refused.clone()),
            Err(BeltError::Forbidden)
        ));
        assert!(matches!(
            viewer.permit(&project, Access::Read, refused.clone()),
            Err(BeltError::Invalid(_))
        ));
        let editor = caller("editor");
        assert!(matches!(
            editor.permit(&project, Access::Write, refused),
            Err(BeltError::Invalid(_))
        ));
        assert!(editor.permit(&project, Access::Write, Ok(())).is_ok());
        let elsewhere = ProjectName::parse("q").unwrap();
        assert!(matches!(
            editor.permit(&elsewhere, Access::Read, Ok(())),
            Err(BeltError::Forbidden)
        ));
    }
}
