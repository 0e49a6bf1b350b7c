//! Who may run now: at most `global` invocations in all and `per_project` per project, so that
//! one project holding every slot it may still leaves one to the others. A slot is taken at once
//! or refused (never queued): a queued request would hold its connection for minutes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Which cap refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every slot of the server is taken.
    Server(usize),
    /// The project holds every slot it may.
    Project(usize),
}

#[derive(Debug)]
pub struct Slots {
    global: usize,
    per_project: usize,
    taken: Mutex<Taken>,
}

#[derive(Debug, Default)]
struct Taken {
    total: usize,
    by_project: HashMap<String, usize>,
}

/// A taken slot, given back when dropped (also when the request is abandoned midway).
pub struct Slot {
    slots: Arc<Slots>,
    project: String,
}

impl Slots {
    pub fn new(global: usize, per_project: usize) -> Arc<Slots> {
        let global = global.max(1);
        Arc::new(Slots {
            global,
            per_project: per_project.clamp(1, global),
            taken: Mutex::new(Taken::default()),
        })
    }

    pub fn try_take(self: &Arc<Self>, project: &str) -> Result<Slot, Full> {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = taken.by_project.get(project).copied().unwrap_or_default();
        if mine >= self.per_project {
            return Err(Full::Project(self.per_project));
        }
        if taken.total >= self.global {
            return Err(Full::Server(self.global));
        }
        taken.total += 1;
        taken.by_project.insert(project.to_string(), mine + 1);
        Ok(Slot {
            slots: self.clone(),
            project: project.to_string(),
        })
    }

    /// A slot for `project`, or `Busy`: a run ends within about `retry_after` (its timeout),
    /// which is what a refused caller is told to wait.
    pub fn take_or_busy(
        self: &Arc<Self>,
        project: &str,
        retry_after: std::time::Duration,
    ) -> Result<Slot, super::InvokeError> {
        self.try_take(project)
            .map_err(|full| super::InvokeError::Busy { full, retry_after })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut taken = (self.slots.taken)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        taken.total = taken.total.saturating_sub(1);
        if let Some(mine) = taken.by_project.get_mut(&self.project) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                taken.by_project.remove(&self.project);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_project_never_takes_the_last_slot() {
        let slots = Slots::new(2, 1);
        let a = slots.try_take("a").unwrap();
        assert_eq!(slots.try_take("a").err(), Some(Full::Project(1)));
        let b = slots.try_take("b").unwrap();
        assert_eq!(slots.try_take("c").err(), Some(Full::Server(2)));
        drop(a);
        let _c = slots.try_take("c").unwrap();
        drop(b);
        assert!(slots.try_take("a").is_ok(), "a's slot came back");
    }

    #[test]
    fn the_project_cap_never_exceeds_the_server_cap() {
        let slots = Slots::new(1, 5);
        let _a = slots.try_take("a").unwrap();
        assert_eq!(slots.try_take("a").err(), Some(Full::Project(1)));
    }
}
