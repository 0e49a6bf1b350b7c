//! The project's watch (docs/api.md#watch): the stored events after an id, then new ones as
//! their writes commit. Each stream has a task that takes the events after its last id from the
//! project's hub (`watch_hub.rs`: one reader of the store per project, woken by each commit; no
//! polling, so an idle stream waits on a channel), or from the store while it is further behind
//! than the hub reaches, and hands them to the reader through a bounded buffer. A reader that
//! leaves the buffer full for longer than the stall limit, or whose next events were pruned,
//! gets a `resync` item and the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::streams::{bounded, BoundedStream};
use super::watch_hub::{Found, Hub, BATCH};
use super::{Access, BeltError, Belts, Caller};
use crate::domain::{BeltEvent, BeltId, Invalid, ProjectName};
use crate::store::EventLog;

/// How one watch stream paces itself against its reader.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Events held for the reader.
    pub buffer: usize,
    /// How long a full buffer may wait for the reader before the stream ends with `resync`.
    pub stall: Duration,
    /// Becomes `true` when the service stops: every stream ends (readers resume elsewhere).
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            buffer: 256,
            stall: Duration::from_secs(30),
            closing: tokio::sync::watch::channel(false).1,
        }
    }
}

/// What to watch.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchAsk {
    /// Resume after this event id; without it, only what happens from now on.
    pub after: Option<i64>,
    /// Only this belt's events.
    pub belt: Option<BeltId>,
}

/// One item of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    Event(Box<BeltEvent>),
    /// Without `after`: the id the stream starts after, to resume from.
    Bookmark(i64),
    /// The reader fell behind or its next events were pruned; the last id it was sent. Last item.
    Resync(i64),
}

impl WatchItem {
    fn id(&self) -> i64 {
        match self {
            WatchItem::Event(event) => event.id,
            WatchItem::Bookmark(id) | WatchItem::Resync(id) => *id,
        }
    }
}

/// Why the stream refuses to resume.
pub fn pruned_message(after: i64, pruned_through: i64) -> String {
    format!(
        "Events up to {pruned_through} were pruned, so the watch cannot resume after {after}; \
         list the belts again and watch from now."
    )
}

impl Belts {
    /// The role check first, then the resume point: an `after` whose successors were pruned is
    /// [`BeltError::Gone`]. The stream holds one of the caller's stream slots and ends when
    /// the caller's token expires (docs/api.md#streams).
    pub async fn watch(
        &self,
        caller: &Caller,
        project: &ProjectName,
        ask: Result<WatchAsk, Invalid>,
    ) -> Result<BoundedStream<WatchItem>, BeltError> {
        let ask = caller.permit(project, Access::Read, ask)?;
        let slot = self.streams.take(caller)?;
        let (start, first) = match ask.after {
            Some(after) => {
                let horizon = self.store.events_after(project, after, ask.belt, 0).await?;
                if horizon.pruned_through > after {
                    let message = pruned_message(after, horizon.pruned_through);
                    return Err(BeltError::Gone(message));
                }
                (after, None)
            }
            None => {
                let newest = self.store.newest_event_id().await?;
                (newest, Some(WatchItem::Bookmark(newest)))
            }
        };
        let (sender, receiver) = mpsc::channel(self.watch.buffer);
        let stalled = Arc::new(AtomicBool::new(false));
        // Joined after the start is known: a new hub holds what commits after it.
        let hub = self.hubs.join(project, start);
        let feed = Feed {
            store: self.store.clone(),
            hub,
            project: project.clone(),
            belt: ask.belt,
            last: start,
            stall: self.watch.stall,
            stalled: stalled.clone(),
            closing: self.watch.closing.clone(),
        };
        tokio::spawn(feed.run(sender));
        let sight = caller.output_sight(project);
        let items = reader(first, receiver, stalled, start).map(move |item| match item {
            WatchItem::Event(event) => WatchItem::Event(Box::new((*event).seen(sight))),
            other => other,
        });
        Ok(bounded(items, caller, slot, self.watch.closing.clone()))
    }
}

/// The reader's side: the bookmark, the buffered events, and `resync` when the feed gave up.
fn reader(
    first: Option<WatchItem>,
    receiver: mpsc::Receiver<WatchItem>,
    stalled: Arc<AtomicBool>,
    start: i64,
) -> impl Stream<Item = WatchItem> + Send + 'static {
    let state = (first, Some(receiver), start);
    futures::stream::unfold(state, move |(first, receiver, last)| {
        let stalled = stalled.clone();
        async move {
            if let Some(item) = first {
                return Some((item, (None, receiver, last)));
            }
            let mut receiver = receiver?;
            match receiver.recv().await {
                Some(item) => {
                    let id = item.id();
                    Some((item, (None, Some(receiver), id)))
                }
                None if stalled.load(Ordering::SeqCst) => {
                    Some((WatchItem::Resync(last), (None, None, last)))
                }
                None => None,
            }
        }
    })
}

/// The store's side of one stream.
struct Feed {
    store: Arc<dyn EventLog>,
    hub: Arc<Hub>,
    project: ProjectName,
    belt: Option<BeltId>,
    /// The last id handed to the buffer.
    last: i64,
    stall: Duration,
    stalled: Arc<AtomicBool>,
    closing: tokio::sync::watch::Receiver<bool>,
}

/// Why a feed ends.
enum End {
    /// The reader left.
    Left,
    /// The reader must re-list: set `stalled`, close the buffer.
    Resync,
}

impl Feed {
    async fn run(mut self, sender: mpsc::Sender<WatchItem>) {
        let mut news = self.hub.subscribe();
        let end = loop {
            news.borrow_and_update();
            if self.hub.failed() {
                break End::Left;
            }
            let more = match self.hub.after(self.last, self.belt, BATCH as usize) {
                Found::Events(events, seen) => self.send_found(&sender, events, seen).await,
                Found::TooOld => self.send_new(&sender).await,
            };
            match more {
                Ok(true) => continue,
                Ok(false) => {}
                Err(end) => break end,
            }
            let closing = self.closing.wait_for(|closing| *closing);
            tokio::select! {
                changed = news.changed() => if changed.is_err() { break End::Left },
                () = sender.closed() => break End::Left,
                _ = closing => break End::Left,
            }
        };
        if let End::Resync = end {
            self.stalled.store(true, Ordering::SeqCst);
        }
    }

    /// Buffers events the hub had; `true` when it may hold more after `seen`.
    async fn send_found(
        &mut self,
        sender: &mpsc::Sender<WatchItem>,
        events: Vec<Arc<BeltEvent>>,
        seen: i64,
    ) -> Result<bool, End> {
        let more = seen < self.hub.newest();
        for event in events {
            self.send(sender, BeltEvent::clone(&event)).await?;
        }
        self.last = self.last.max(seen);
        Ok(more)
    }

    /// Hands one event to the buffer, waiting at most the stall limit for room.
    async fn send(
        &mut self,
        sender: &mpsc::Sender<WatchItem>,
        event: BeltEvent,
    ) -> Result<(), End> {
        let id = event.id;
        let permit = match tokio::time::timeout(self.stall, sender.reserve()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(End::Left),
            Err(_) => return Err(End::Resync),
        };
        permit.send(WatchItem::Event(Box::new(event)));
        self.last = id;
        Ok(())
    }

    /// Reads one batch after the last id and buffers it; `true` when the batch was full (more
    /// may wait). A store that fails ends the stream: the reader resumes from its last id.
    async fn send_new(&mut self, sender: &mpsc::Sender<WatchItem>) -> Result<bool, End> {
        // Everything up to what the hub had read had committed before this read began.
        let reached = self.hub.newest();
        let batch = self
            .store
            .events_after(&self.project, self.last, self.belt, BATCH)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "watch stream ends: the store did not answer");
                End::Left
            })?;
        if batch.pruned_through > self.last {
            return Err(End::Resync);
        }
        let full = batch.events.len() as u64 == BATCH;
        for event in batch.events {
            self.send(sender, event).await?;
        }
        if !full {
            // A stream of one quiet belt is then caught up, though none of its events came.
            self.last = self.last.max(reached);
        }
        Ok(full)
    }
}
