//! The names of a belt's statuses (docs/api.md#status), declared once: the server's `BeltStatus`
//! renders and parses them, and the CLI's `belt wait --for` checks its argument against them.

pub const RUNNING: &str = "RUNNING";
pub const FAILED: &str = "FAILED";
pub const RUNNING_BUT_OUTDATED: &str = "RUNNING_BUT_OUTDATED";
pub const DEPLOYING: &str = "DEPLOYING";
pub const STOPPED: &str = "STOPPED";

/// Every status, in the order the API documents them.
pub const ALL: [&str; 5] = [RUNNING, FAILED, RUNNING_BUT_OUTDATED, DEPLOYING, STOPPED];

/// The status named by `text`, in any ASCII case, as its canonical name.
pub fn named(text: &str) -> Option<&'static str> {
    ALL.into_iter().find(|name| name.eq_ignore_ascii_case(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_named_in_any_case_and_nothing_else_is() {
        assert_eq!(named("running_but_outdated"), Some(RUNNING_BUT_OUTDATED));
        assert_eq!(named("Stopped"), Some(STOPPED));
        assert_eq!(named("RUNNING "), None);
        assert_eq!(named("PENDING"), None);
    }
}
