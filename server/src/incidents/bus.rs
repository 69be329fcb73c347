//! The in-process event bus: every timeline append is published here after
//! it is durable, and the incident pages' event streams (SSE) listen.
//!
//! A `tokio::sync::broadcast` channel: a listener that falls behind by more
//! than [`CAPACITY`] events is told it lagged and reloads what it shows.
//! On PostgreSQL the events other replicas append arrive here too
//! (`replicas`: LISTEN/NOTIFY, [`Bus::publish_remote`]), so a page on any
//! replica is live. Events this process made also go to a local channel
//! ([`Bus::subscribe_local`]): outbound notifications (`notify`) act on
//! those alone, so each change is told once whatever the replica count.

use tokio::sync::{broadcast, watch};

use crate::store::IncidentEvent;

/// Events kept for a slow listener.
pub const CAPACITY: usize = 256;

/// Events kept for a slow local listener (the notification dispatcher,
/// which reads the store for each incident that changed).
pub const LOCAL_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<IncidentEvent>,
    /// Events appended by this process only.
    local: broadcast::Sender<IncidentEvent>,
    /// `true` once the server drains: live streams end.
    closing: watch::Sender<bool>,
    /// Bumped when events may have been missed (this replica lost its
    /// notices from the others for a while): live pages reload.
    resyncs: watch::Sender<u64>,
}

impl Default for Bus {
    fn default() -> Bus {
        Bus {
            sender: broadcast::channel(CAPACITY).0,
            local: broadcast::channel(LOCAL_CAPACITY).0,
            closing: watch::channel(false).0,
            resyncs: watch::channel(0).0,
        }
    }
}

impl Bus {
    /// Tells every listener of an event this process appended; nobody
    /// listening is fine.
    pub fn publish(&self, event: &IncidentEvent) {
        let _ = self.sender.send(event.clone());
        let _ = self.local.send(event.clone());
    }

    /// Tells the live pages of an event another replica appended.
    pub fn publish_remote(&self, event: &IncidentEvent) {
        let _ = self.sender.send(event.clone());
    }

    /// Every event: this process's and other replicas'.
    pub fn subscribe(&self) -> broadcast::Receiver<IncidentEvent> {
        self.sender.subscribe()
    }

    /// Events this process appended.
    pub fn subscribe_local(&self) -> broadcast::Receiver<IncidentEvent> {
        self.local.subscribe()
    }

    /// Tells every live stream to reload what it shows: events may have
    /// been missed.
    pub fn resync(&self) {
        self.resyncs.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes on each [`Bus::resync`].
    pub fn resyncs(&self) -> watch::Receiver<u64> {
        self.resyncs.subscribe()
    }

    /// Ends every live stream (on shutdown), and those opened later at once.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes `true` when the bus closes.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::store::EventKind;

    fn event(id: i64) -> IncidentEvent {
        IncidentEvent {
            id,
            incident_id: 1,
            at: Utc::now(),
            who: "t".into(),
            kind: EventKind::Note,
            body: json!({"text": "x"}),
        }
    }

    #[test]
    fn other_replicas_events_reach_the_pages_but_not_local_listeners() {
        let bus = Bus::default();
        let mut pages = bus.subscribe();
        let mut local = bus.subscribe_local();
        bus.publish(&event(1));
        bus.publish_remote(&event(2));
        assert_eq!(pages.try_recv().unwrap().id, 1);
        assert_eq!(pages.try_recv().unwrap().id, 2);
        assert_eq!(local.try_recv().unwrap().id, 1);
        assert!(local.try_recv().is_err(), "a remote event is not local");
    }
}
