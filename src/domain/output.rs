//! Replica output is an editor's (docs/api.md#who-sees-replica-output). `/logs` needs `editor`;
//! what a replica printed reaches other answers too (a terminated container's message in
//! `GET …/state`, the last line quoted in a `statusChanged` reason), so each of those answers
//! passes through this one rule instead of each deciding for itself.

use super::BeltEvent;

/// Whether an answer may quote what a belt's replicas printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSight {
    /// An editor of the belt's project: who may read `/logs`.
    Shown,
    /// Anyone else who may read the belt.
    Withheld,
}

impl OutputSight {
    pub fn for_editor(editor: bool) -> Self {
        if editor {
            OutputSight::Shown
        } else {
            OutputSight::Withheld
        }
    }
}

/// How an event's reason reads with the replica's output after belt-api's own words.
pub fn told(reason: Option<&str>, output: Option<&str>) -> Option<String> {
    match (reason, output) {
        (Some(reason), Some(output)) => Some(format!("{reason}: {output}")),
        (reason, output) => reason.or(output).map(str::to_owned),
    }
}

impl BeltEvent {
    /// The event as `sight` may see it.
    pub fn seen(mut self, sight: OutputSight) -> Self {
        if sight == OutputSight::Withheld {
            self.output = None;
        }
        self
    }

    /// The reason as answers show it: belt-api's words, then the replica's output if kept.
    pub fn told_reason(&self) -> Option<String> {
        told(self.reason.as_deref(), self.output.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_quotes_the_output_after_belt_apis_words() {
        assert_eq!(
            told(Some("replica r exited 1"), Some("ImportError: x")).unwrap(),
            "replica r exited 1: ImportError: x"
        );
        assert_eq!(told(Some("r"), None).unwrap(), "r");
        assert_eq!(told(None, None), None);
    }
}
