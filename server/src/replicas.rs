//! Several `faultline serve` replicas sharing one PostgreSQL.
//!
//! Every replica reads reports, incidents and accounts from the shared
//! database, so those need nothing more. What each replica holds in memory —
//! the parsed playbooks and the search index — must follow the edits made on
//! the others. A save notifies [`PLAYBOOKS_CHANNEL`] with the playbook id in
//! the same transaction (`pg_notify`, sent on commit); the task here listens
//! and calls [`KnowledgeBase::refresh`] for that one playbook.
//!
//! Notices sent while a replica is not listening are lost, so after every
//! (re)connection the task resyncs everything with [`KnowledgeBase::reload`]
//! and tells the live incident pages to reload ([`Bus::resync`]).
//! Reconnects back off exponentially with jitter, so replicas that lost the
//! database together do not come back in lockstep.
//!
//! Incident changes ride the same connection: every timeline append (a
//! note, a status change, new evidence and so the diagnosis) notifies
//! [`EVENTS_CHANNEL`] in its transaction with an [`EventNotice`] (ids only).
//! The task reads the event row and publishes it on this replica's incident
//! [`Bus`], so the live pages (SSE) of browsers on any replica see it. The
//! replica that made the change published it on its own bus already and
//! skips its own notices.
//!
//! Postmortem saves notify [`POSTMORTEMS_CHANNEL`] the same way; each
//! replica re-indexes that postmortem for search.
//!
//! On SQLite there is one process and nothing to follow: [`spawn`] starts no
//! task.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgNotification};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::incidents::bus::Bus;
use crate::kb::KnowledgeBase;
use crate::store::EventNotice;
pub use crate::store::{EVENTS_CHANNEL, PLAYBOOKS_CHANNEL, POSTMORTEMS_CHANNEL};

/// First reconnect delay; doubles per failure up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The running listener; [`ReplicaSync::stop`] ends it.
pub struct ReplicaSync {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Starts following other replicas' changes, if the store is shared
/// (PostgreSQL). Their incident events are published on `events`.
pub fn spawn(kb: Arc<KnowledgeBase>, events: Option<Bus>) -> ReplicaSync {
    let (stop, stopped) = watch::channel(false);
    let task = kb
        .store()
        .pg_pool()
        .map(|pool| tokio::spawn(run(kb, pool, events, stopped)));
    ReplicaSync { stop, task }
}

impl ReplicaSync {
    /// Whether a listener task runs (PostgreSQL).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the task and waits for it (it holds a pooled connection, so
    /// call this before closing the store).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
        {
            warn!("the replica listener did not stop within 5 s");
        }
    }
}

/// The delay before reconnect attempt `failures` (1, 2, …): exponential,
/// capped, with "equal jitter" (a random point in the upper half).
pub fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let ceiling = exp.min(BACKOFF_MAX);
    let half = ceiling / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Resolves when stop was asked for (or the handle was dropped).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // We reconnect ourselves, with backoff and a resync.
    listener.eager_reconnect(false);
    listener
        .listen_all([PLAYBOOKS_CHANNEL, EVENTS_CHANNEL, POSTMORTEMS_CHANNEL])
        .await?;
    Ok(listener)
}

async fn run(
    kb: Arc<KnowledgeBase>,
    pool: PgPool,
    events: Option<Bus>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        if failures > 0 {
            let delay = backoff(failures);
            debug!(?delay, failures, "reconnecting to the replica channel");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut stop) => return,
            }
        }
        let connected = tokio::select! {
            connected = listen(&pool) => connected,
            _ = stopped(&mut stop) => return,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(e) => {
                failures = failures.saturating_add(1);
                warn!(error = %e, failures, "cannot listen for other replicas' changes");
                continue;
            }
        };
        // Whatever was saved while no one listened (or since start): resync.
        let resynced = tokio::select! {
            r = async { kb.reload().await?; kb.reload_postmortems().await } => r,
            _ = stopped(&mut stop) => return,
        };
        if let Err(e) = resynced {
            failures = failures.saturating_add(1);
            warn!(error = %e, "resync with the shared database failed");
            continue;
        }
        // Incident events of the others may have gone unheard too.
        if let Some(bus) = &events {
            bus.resync();
        }
        info!(
            playbooks = kb.list().len(),
            "following other replicas' changes"
        );
        loop {
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = stopped(&mut stop) => return,
            };
            match received {
                Ok(Some(notice)) => handle(&kb, events.as_ref(), &notice).await,
                Ok(None) => {
                    warn!("lost the replica channel connection; reconnecting");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "replica channel failed; reconnecting");
                    break;
                }
            }
        }
        failures = 1;
    }
}

async fn handle(kb: &KnowledgeBase, events: Option<&Bus>, notice: &PgNotification) {
    match notice.channel() {
        PLAYBOOKS_CHANNEL => {
            let id = notice.payload();
            match kb.refresh(id).await {
                Ok(changed) => debug!(id, changed, "playbook refreshed from another replica"),
                Err(e) => warn!(id, error = %e, "cannot refresh a playbook another replica saved"),
            }
        }
        POSTMORTEMS_CHANNEL => {
            let Ok(id) = notice.payload().parse::<i64>() else {
                debug!(payload = notice.payload(), "not a postmortem id");
                return;
            };
            if let Err(e) = kb.refresh_postmortem(id).await {
                warn!(id, error = %e, "cannot re-index a postmortem another replica saved");
            }
        }
        EVENTS_CHANNEL => {
            if let Some(bus) = events {
                forward_event(kb, bus, notice.payload()).await;
            }
        }
        other => debug!(channel = other, "notice on an unknown channel"),
    }
}

/// Publishes the event another replica appended on this replica's bus.
async fn forward_event(kb: &KnowledgeBase, bus: &Bus, payload: &str) {
    let Some(notice) = EventNotice::decode(payload) else {
        debug!(payload, "not an incident event notice");
        return;
    };
    if notice.is_local() {
        return;
    }
    match kb.store().incident_event(notice.event_id).await {
        Ok(Some(event)) => bus.publish_remote(&event),
        // Deleted since (retention, an incident removed): nothing to show.
        Ok(None) => debug!(event = notice.event_id, "notified event is gone"),
        Err(e) => {
            warn!(event = notice.event_id, error = %e, "cannot read an event another replica appended")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for failures in 1..40 {
            let exp = BACKOFF_BASE
                .saturating_mul(1u32 << (failures - 1).min(16))
                .min(BACKOFF_MAX);
            let d = backoff(failures);
            assert!(d >= exp / 2 && d <= exp, "{failures}: {d:?} vs {exp:?}");
        }
        assert!(backoff(1) <= Duration::from_millis(100));
        assert!(backoff(40) >= Duration::from_secs(15));
        let samples: std::collections::BTreeSet<_> = (0..20).map(|_| backoff(8)).collect();
        assert!(samples.len() > 1, "no jitter: {samples:?}");
    }
}
