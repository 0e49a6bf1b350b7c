//! A request as RBAC sees it: (API group, resource, subresource, verb), derived from the method,
//! the path and the `watch` parameter the way the API server's `RequestInfoFactory` does, so that
//! what a test observes is what a Role has to grant.

use std::fmt;

use http::{Method, Uri};

/// The verbs a Role grants on resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub const ALL: [Verb; 8] = [
        Verb::Get,
        Verb::List,
        Verb::Watch,
        Verb::Create,
        Verb::Update,
        Verb::Patch,
        Verb::Delete,
        Verb::DeleteCollection,
    ];

    /// The verb as a Role spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// A Role's spelling back to the verb; `None` for `*` or a verb that is not a resource verb.
    pub fn parse(text: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|verb| verb.as_str() == text)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind of access: `group` is `""` for the core group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub verb: Verb,
}

impl Access {
    /// An access named as a Role's rule names it: `resource` may carry its subresource
    /// (`pods/log`).
    pub fn new(group: &str, resource: &str, verb: Verb) -> Access {
        let (resource, subresource) = match resource.split_once('/') {
            Some((resource, sub)) => (resource, Some(sub.to_string())),
            None => (resource, None),
        };
        Access {
            group: group.to_string(),
            resource: resource.to_string(),
            subresource,
            verb,
        }
    }

    /// The resource as a Role's rule names it: `pods` or `pods/log`.
    pub fn rule_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// The access of one request; `Err` with the path for a request that names no resource
    /// (discovery, `/version`), which a namespaced Role cannot grant.
    pub fn of(method: &Method, uri: &Uri) -> Result<Access, String> {
        let not_a_resource = || format!("{method} {uri}");
        let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let (group, rest) = match segments.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return Err(not_a_resource()),
        };
        let (resource, name, subresource) = resource_parts(rest).ok_or_else(not_a_resource)?;
        let verb = verb_of(method, name.is_some(), is_watch(uri)).ok_or_else(not_a_resource)?;
        Ok(Access {
            group: group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.map(str::to_string),
            verb,
        })
    }
}

/// `namespaces/{ns}/{resource}/{name}/{sub}` or `{resource}/{name}/{sub}`: the resource, its
/// name and subresource. A namespace's own `status` and `finalize` are its subresources.
fn resource_parts<'a>(rest: &[&'a str]) -> Option<(&'a str, Option<&'a str>, Option<&'a str>)> {
    let rest = match rest {
        ["namespaces", _, sub] if matches!(*sub, "status" | "finalize") => rest,
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        _ => rest,
    };
    match rest {
        [resource] => Some((resource, None, None)),
        [resource, name] => Some((resource, Some(name), None)),
        [resource, name, sub] => Some((resource, Some(name), Some(sub))),
        _ => None,
    }
}

/// GET and HEAD read: a watch when `watch` is set, else a list of a collection or a get of a
/// name; DELETE of a collection is `deletecollection`.
fn verb_of(method: &Method, named: bool, watch: bool) -> Option<Verb> {
    Some(match *method {
        Method::GET | Method::HEAD if watch => Verb::Watch,
        Method::GET | Method::HEAD if named => Verb::Get,
        Method::GET | Method::HEAD => Verb::List,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if named => Verb::Delete,
        Method::DELETE => Verb::DeleteCollection,
        _ => return None,
    })
}

/// `watch` as the API server reads a boolean parameter (Go's `strconv.ParseBool`).
fn is_watch(uri: &Uri) -> bool {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).any(|(key, value)| {
        key == "watch" && matches!(&*value, "1" | "t" | "T" | "true" | "TRUE" | "True")
    })
}

impl fmt::Display for Access {
    /// As `kubectl auth can-i` names it: `get pods/log`, `patch deployments.apps`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.rule_resource())?;
        if !self.group.is_empty() {
            write!(f, " ({})", self.group)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(method: Method, uri: &str) -> String {
        Access::of(&method, &uri.parse().unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn reads_are_list_watch_or_get_as_the_api_server_tells_them_apart() {
        let pods = "/api/v1/namespaces/belts/pods";
        assert_eq!(access(Method::GET, pods), "list pods");
        assert_eq!(
            access(Method::GET, &format!("{pods}?watch=true")),
            "watch pods"
        );
        assert_eq!(
            access(Method::GET, &format!("{pods}?watch=1&rv=5")),
            "watch pods"
        );
        assert_eq!(
            access(Method::GET, &format!("{pods}?watch=false")),
            "list pods"
        );
        assert_eq!(access(Method::GET, &format!("{pods}/p1")), "get pods");
        assert_eq!(
            access(Method::GET, &format!("{pods}/p1/log")),
            "get pods/log"
        );
    }

    #[test]
    fn writes_take_their_verb_from_the_method_and_a_collection_delete_is_its_own() {
        let deployments = "/apis/apps/v1/namespaces/belts/deployments";
        let one = format!("{deployments}/d");
        assert_eq!(
            access(Method::POST, deployments),
            "create deployments (apps)"
        );
        assert_eq!(access(Method::PUT, &one), "update deployments (apps)");
        assert_eq!(access(Method::PATCH, &one), "patch deployments (apps)");
        assert_eq!(access(Method::DELETE, &one), "delete deployments (apps)");
        assert_eq!(
            access(Method::DELETE, deployments),
            "deletecollection deployments (apps)"
        );
    }

    #[test]
    fn namespaces_and_cluster_scoped_paths_name_their_resource() {
        assert_eq!(access(Method::GET, "/api/v1/namespaces"), "list namespaces");
        assert_eq!(
            access(Method::GET, "/api/v1/namespaces/belts"),
            "get namespaces"
        );
        assert_eq!(
            access(Method::PUT, "/api/v1/namespaces/belts/finalize"),
            "update namespaces/finalize"
        );
        assert_eq!(access(Method::GET, "/api/v1/nodes/n1"), "get nodes");
        assert!(Access::of(&Method::GET, &"/version".parse().unwrap()).is_err());
        assert!(Access::of(&Method::GET, &"/apis".parse().unwrap()).is_err());
    }

    #[test]
    fn a_rule_resource_with_its_subresource_round_trips() {
        let log = Access::new("", "pods/log", Verb::Get);
        assert_eq!(log.subresource.as_deref(), Some("log"));
        assert_eq!(log.rule_resource(), "pods/log");
        assert_eq!(
            Verb::parse("deletecollection"),
            Some(Verb::DeleteCollection)
        );
        assert_eq!(Verb::parse("*"), None);
    }
}
