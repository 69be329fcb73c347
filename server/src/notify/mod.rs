//! Outbound notifications: a message to chat or a webhook when an incident
//! opens, its likely diagnosis changes, an engineer gives a verdict, and
//! when it is resolved.
//!
//! How it runs: every timeline append made in this process reaches the
//! incident [`Bus`]'s local channel once it is durable (other replicas'
//! appends do not: each replica tells about its own changes, so a message
//! goes out once). A dispatcher task ([`spawn`]) reads the appends, works
//! out what happened (see `worker`), builds the message once per receiver
//! format (`message`), routes it by the incident's labels (`target`), and
//! hands it to the queue of each target. Each target has its own queue and
//! sending task, so a receiver that hangs delays only its own messages,
//! never the incident page, ingest, or the other targets; every attempt has
//! a timeout, and failures are tried again with backoff and jitter
//! (`deliver`). How each delivery ended is appended to the incident's
//! timeline as a note (who: `notifications`), with the target's name and
//! never its address.
//!
//! Messages are rate limited per incident (a burst, then one per interval);
//! one held back is noted on the timeline. Queues live in memory: messages
//! still waiting when the server stops are not sent (the timeline shows
//! which were).

pub mod deliver;
pub mod links;
pub mod message;
pub mod settings;
pub mod target;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::incidents::bus::Bus;
use crate::kb::KnowledgeBase;
pub use links::{LinkError, Links, Signer};
pub use settings::{Settings, TargetSettings};
pub use target::{Kind, Source, Target, Trigger, WebhookUrl};

/// Who the delivery notes on the timeline are from.
pub const WHO: &str = "notifications";

/// The running dispatcher; [`Notifications::stop`] ends it.
pub struct Notifications {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Starts the dispatcher: from now on, this process's timeline appends are
/// considered for messages to the config file's targets and those added on
/// `/admin`.
pub fn spawn(
    kb: Arc<KnowledgeBase>,
    bus: Bus,
    links: Arc<Links>,
    settings: &Settings,
) -> Notifications {
    let (stop, stopped) = watch::channel(false);
    let events = bus.subscribe_local();
    let dispatcher = worker::Dispatcher::new(kb, bus, links, settings);
    let task = tokio::spawn(dispatcher.run(events, stopped));
    Notifications {
        stop,
        task: Some(task),
    }
}

impl Notifications {
    /// Stops taking new events; messages already queued keep going until
    /// the process ends.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
        {
            tracing::warn!("the notification dispatcher did not stop within 5 s");
        }
    }
}

/// The targets in force: the config file's, then those added on `/admin`
/// (a stored one named like a config one is skipped).
pub async fn targets(
    kb: &KnowledgeBase,
    settings: &Settings,
) -> crate::store::StoreResult<Vec<Target>> {
    let mut all: Vec<Target> = settings
        .targets
        .iter()
        .filter_map(Target::from_settings)
        .collect();
    for stored in kb.store().notification_targets().await? {
        if all.iter().any(|t| t.name == stored.name) {
            continue;
        }
        all.extend(Target::from_stored(stored));
    }
    Ok(all)
}

/// Whether a timeline event is one of our delivery notes (which must not
/// cause messages themselves).
pub fn is_delivery_note(event: &crate::store::IncidentEvent) -> bool {
    event.kind == crate::store::EventKind::Note && event.body.get("notification").is_some()
}

/// Sends a test message to one target now: one attempt with the usual
/// timeout, recorded nowhere (the admin page shows the outcome).
pub async fn send_test(links: &Links, settings: &Settings, target: &Target) -> deliver::Outcome {
    let now = chrono::Utc::now();
    let incident = crate::store::Incident {
        id: 0,
        title: "Test message from Faultline".to_owned(),
        status: crate::store::IncidentStatus::Open,
        severity: "info".to_owned(),
        labels: target.labels.clone(),
        playbook: None,
        opened_at: now,
        opened_by: WHO.to_owned(),
        resolved_at: None,
        group_key: None,
    };
    let diagnosis = crate::core::matcher::Diagnosis {
        candidates: Vec::new(),
        next_steps: Vec::new(),
    };
    let message = message::Message::new(
        &incident,
        &diagnosis,
        message::Context {
            trigger: Trigger::Opened,
            verdict: None,
            incident_url: format!("{}/incidents", links.base_url()),
            playbook_url: &|p| links.playbook(p),
            verdict_urls: &|_| None,
            now,
        },
    );
    let body = std::sync::Arc::new(message.render(target.kind).to_string().into_bytes());
    let policy = deliver::Policy {
        attempts: 1,
        ..deliver::Policy::from_settings(settings)
    };
    deliver::Sender::new(settings.timeout())
        .deliver(&target.url, body, &policy)
        .await
}
