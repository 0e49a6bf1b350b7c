//! One bell per belt, rung by every line its replicas' supervisors append to a log file. A log
//! follow waits on it instead of polling the files, so a follow of a quiet belt costs no CPU
//! (docs/api.md#logs). Every line of a local replica passes through its supervisor (replicas an
//! earlier API process left behind are stopped at start), so no line is written unannounced.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::lock;
use crate::domain::BeltId;

/// The bells, made on first use. A bell is kept while the process lives, even after its belt
/// is removed: a follow that began before a stop and a start must hear the new replicas. One
/// entry per belt ever run here is a few dozen bytes.
#[derive(Default)]
pub(super) struct LogBells {
    bells: Mutex<HashMap<BeltId, watch::Sender<()>>>,
}

impl LogBells {
    /// What a supervisor rings after each line of `id`'s replicas.
    pub(super) fn bell(&self, id: BeltId) -> watch::Sender<()> {
        lock(&self.bells)
            .entry(id)
            .or_insert_with(|| watch::channel(()).0)
            .clone()
    }

    /// What a follow of `id` waits on: it changes after every line appended since it was
    /// last marked seen.
    pub(super) fn listen(&self, id: BeltId) -> watch::Receiver<()> {
        self.bell(id).subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listener_hears_the_bell_of_its_belt_only() {
        let bells = LogBells::default();
        let mut one = bells.listen(BeltId::new(1).unwrap());
        let two = bells.listen(BeltId::new(2).unwrap());
        bells.bell(BeltId::new(1).unwrap()).send_replace(());
        assert!(one.has_changed().unwrap());
        assert!(!two.has_changed().unwrap());
        one.borrow_and_update();
        assert!(!one.has_changed().unwrap());
        // A bell made later for the same belt is the same bell.
        bells.bell(BeltId::new(2).unwrap()).send_replace(());
        assert!(two.has_changed().unwrap());
    }
}
