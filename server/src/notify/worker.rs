//! The dispatcher: from timeline appends to messages on target queues, and
//! the per-target sending tasks that record how each delivery ended.
//!
//! What counts as what, per batch of appends to one incident:
//! - *opened*: the batch holds the incident's first timeline event. The
//!   message carries the diagnosis it opened with.
//! - *diagnosis*: evidence arrived (a report, a paste, an alert) and the
//!   top likely candidate of the whole incident's diagnosis is now one that
//!   was not told yet (kept per incident; after a restart, read back from
//!   the last delivery note). Not sent along with *opened*, which says it.
//! - *verdict*: a verdict note (one message per verdict).
//! - *resolved*: a status change to resolved.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, watch};

use super::deliver::{Outcome, Policy, Sender};
use super::message::{Context, Message, VerdictPart};
use super::target::{Kind, Target, Trigger, WebhookUrl, route};
use super::{Links, Settings, WHO, is_delivery_note};
use crate::core::matcher::Diagnosis;
use crate::incidents::bus::Bus;
use crate::kb::KnowledgeBase;
use crate::store::{EventKind, Incident, IncidentEvent, StoreResult, Verdict};

/// Buckets kept before full ones (idle incidents) are dropped.
const BUCKETS_KEPT: usize = 1024;

/// Messages per incident: a burst, then one per `refill`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Limiter {
    burst: f64,
    refill: Duration,
    buckets: HashMap<i64, Bucket>,
}

impl Limiter {
    fn new(burst: u32, refill: Duration) -> Limiter {
        Limiter {
            burst: f64::from(burst.max(1)),
            refill: refill.max(Duration::from_millis(1)),
            buckets: HashMap::new(),
        }
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let gained = now.duration_since(b.at).as_secs_f64() / self.refill.as_secs_f64();
        (b.tokens + gained).min(self.burst)
    }

    fn allow(&mut self, incident: i64, now: Instant) -> bool {
        if self.buckets.len() > BUCKETS_KEPT {
            let burst = self.burst;
            let full: Vec<i64> = self
                .buckets
                .iter()
                .filter(|(_, b)| self.refilled(b, now) >= burst)
                .map(|(id, _)| *id)
                .collect();
            for id in full {
                self.buckets.remove(&id);
            }
        }
        let tokens = match self.buckets.get(&incident) {
            Some(b) => self.refilled(b, now),
            None => self.burst,
        };
        let allowed = tokens >= 1.0;
        self.buckets.insert(
            incident,
            Bucket {
                tokens: if allowed { tokens - 1.0 } else { tokens },
                at: now,
            },
        );
        allowed
    }
}

/// One message for one target.
struct Job {
    incident_id: i64,
    trigger: Trigger,
    target: String,
    kind: Kind,
    url: WebhookUrl,
    body: Arc<Vec<u8>>,
    /// The top likely candidate the message told.
    top: Option<String>,
}

/// A target's queue and the task sending from it.
struct Queue {
    kind: Kind,
    url: WebhookUrl,
    jobs: mpsc::Sender<Job>,
}

/// What the sending tasks share.
#[derive(Clone)]
struct Shared {
    kb: Arc<KnowledgeBase>,
    bus: Bus,
    sender: Sender,
    policy: Policy,
}

pub(super) struct Dispatcher {
    shared: Shared,
    links: Arc<Links>,
    settings: Settings,
    limiter: Limiter,
    /// Per incident, the top likely candidate last told (`None`: nothing
    /// likely was).
    told: HashMap<i64, Option<String>>,
    queues: HashMap<String, Queue>,
}

impl Dispatcher {
    pub(super) fn new(
        kb: Arc<KnowledgeBase>,
        bus: Bus,
        links: Arc<Links>,
        settings: &Settings,
    ) -> Dispatcher {
        Dispatcher {
            shared: Shared {
                kb,
                bus,
                sender: Sender::new(settings.timeout()),
                policy: Policy::from_settings(settings),
            },
            links,
            settings: settings.clone(),
            limiter: Limiter::new(settings.burst, Duration::from_secs(settings.refill_s)),
            told: HashMap::new(),
            queues: HashMap::new(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut events: broadcast::Receiver<IncidentEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                e = events.recv() => e,
                _ = stop.wait_for(|s| *s) => break,
            };
            let mut batch = Vec::new();
            match first {
                Ok(e) => batch.push(e),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "notifications fell behind; some incident changes were not considered"
                    );
                }
                Err(RecvError::Closed) => break,
            }
            // Whatever else is waiting joins this round, so a burst of
            // appends to one incident is considered once.
            loop {
                match events.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(TryRecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "notifications fell behind; some incident changes were not considered"
                        );
                    }
                    Err(_) => break,
                }
            }
            let mut incidents: Vec<i64> = Vec::new();
            for e in &batch {
                if !incidents.contains(&e.incident_id) {
                    incidents.push(e.incident_id);
                }
            }
            for id in incidents {
                let of: Vec<&IncidentEvent> =
                    batch.iter().filter(|e| e.incident_id == id).collect();
                if let Err(e) = self.consider(id, &of).await {
                    tracing::warn!(error = %e, incident_id = id, "notifications for this change not sent");
                }
            }
        }
    }

    /// Works out what the appends mean for the incident and queues the
    /// messages.
    async fn consider(&mut self, id: i64, batch: &[&IncidentEvent]) -> StoreResult<()> {
        let batch: Vec<&IncidentEvent> = batch
            .iter()
            .copied()
            .filter(|e| !is_delivery_note(e))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let kb = self.shared.kb.clone();
        let targets = super::targets(&kb, &self.settings).await?;
        if targets.is_empty() {
            return Ok(());
        }
        let store = kb.store();
        let Some(incident) = store.incident(id).await? else {
            return Ok(());
        };
        let routed: Vec<Target> = route(&targets, &incident.labels)
            .into_iter()
            .cloned()
            .collect();
        if routed.is_empty() {
            return Ok(());
        }
        let timeline = store.events(id).await?;
        let opened = timeline
            .first()
            .is_some_and(|first| batch.iter().any(|e| e.id == first.id));
        let evidence_arrived = batch.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::Report | EventKind::Paste | EventKind::Alert
            )
        });
        let verdicts: Vec<&IncidentEvent> = batch
            .iter()
            .copied()
            .filter(|e| e.kind == EventKind::Note && e.body["verdict"].is_string())
            .collect();
        let resolved = batch
            .iter()
            .any(|e| e.kind == EventKind::Status && e.body["to"].as_str() == Some("resolved"));
        if !(opened || evidence_arrived || resolved || !verdicts.is_empty()) {
            return Ok(());
        }
        let evidence = crate::incidents::evidence(&kb, &timeline).await?;
        let diagnosis = crate::incidents::diagnose(&kb, &evidence.merged(&incident));
        let top = diagnosis.likely().next().map(|c| c.playbook.clone());
        let told = match self.told.get(&id) {
            Some(told) => told.clone(),
            None => told_before(&timeline),
        };

        let mut messages: Vec<(Trigger, Option<VerdictPart>)> = Vec::new();
        if opened {
            messages.push((Trigger::Opened, None));
        } else if evidence_arrived && top.is_some() && top != told {
            messages.push((Trigger::Diagnosis, None));
        }
        for v in verdicts {
            messages.push((Trigger::Verdict, Some(self.verdict_part(v))));
        }
        if resolved {
            messages.push((Trigger::Resolved, None));
        }
        for (trigger, verdict) in messages {
            let wanted: Vec<&Target> = routed.iter().filter(|t| t.wants(trigger)).collect();
            if wanted.is_empty() {
                continue;
            }
            if !self.limiter.allow(id, Instant::now()) {
                self.held_back(id, trigger).await;
                continue;
            }
            if matches!(trigger, Trigger::Opened | Trigger::Diagnosis) {
                self.told.insert(id, top.clone());
            }
            let message = self.message(&incident, &diagnosis, trigger, verdict).await;
            let mut bodies: HashMap<Kind, Arc<Vec<u8>>> = HashMap::new();
            for t in wanted {
                let body = bodies
                    .entry(t.kind)
                    .or_insert_with(|| Arc::new(message.render(t.kind).to_string().into_bytes()))
                    .clone();
                self.enqueue(Job {
                    incident_id: id,
                    trigger,
                    target: t.name.clone(),
                    kind: t.kind,
                    url: t.url.clone(),
                    body,
                    top: message.likely.clone(),
                })
                .await;
            }
        }
        if resolved {
            // Reopened later, it is read back from the timeline.
            self.told.remove(&id);
        }
        Ok(())
    }

    fn verdict_part(&self, e: &IncidentEvent) -> VerdictPart {
        let playbook = e.body["playbook"].as_str().unwrap_or_default().to_owned();
        let title = self
            .shared
            .kb
            .get(&playbook)
            .map_or_else(|| playbook.clone(), |c| c.playbook.meta.title.clone());
        VerdictPart {
            title,
            playbook,
            verdict: e.body["verdict"].as_str().unwrap_or_default().to_owned(),
            who: e.who.clone(),
            comment: e.body["comment"].as_str().map(str::to_owned),
        }
    }

    async fn message(
        &self,
        incident: &Incident,
        diagnosis: &Diagnosis,
        trigger: Trigger,
        verdict: Option<VerdictPart>,
    ) -> Message {
        let links = &self.links;
        let signer = match links.signer(self.shared.kb.store()).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "verdict links not signed: the key is not readable");
                None
            }
        };
        let now = Utc::now();
        let id = incident.id;
        let playbook_url = |p: &str| links.playbook(p);
        let verdict_urls = |p: &str| {
            signer.as_ref().map(|s| {
                (
                    links.verdict(s, id, p, Verdict::Right, now),
                    links.verdict(s, id, p, Verdict::Wrong, now),
                )
            })
        };
        Message::new(
            incident,
            diagnosis,
            Context {
                trigger,
                verdict,
                incident_url: links.incident(id),
                playbook_url: &playbook_url,
                verdict_urls: &verdict_urls,
                now,
            },
        )
    }

    /// Puts a job on its target's queue, starting the target's sending task
    /// (again, if the target's address or kind changed on `/admin`).
    async fn enqueue(&mut self, job: Job) {
        let stale = self
            .queues
            .get(&job.target)
            .is_some_and(|q| q.kind != job.kind || q.url != job.url || q.jobs.is_closed());
        if stale {
            self.queues.remove(&job.target);
        }
        let queue = self.queues.entry(job.target.clone()).or_insert_with(|| {
            let (jobs, rx) = mpsc::channel(self.settings.queue.max(1));
            tokio::spawn(send_all(self.shared.clone(), rx));
            Queue {
                kind: job.kind,
                url: job.url.clone(),
                jobs,
            }
        });
        if let Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) =
            queue.jobs.try_send(job)
        {
            let text = format!(
                "{} message “{}” to {} dropped: {} messages are already waiting for it",
                job.kind.label(),
                job.trigger.as_str(),
                job.target,
                self.settings.queue
            );
            let body = json!({
                "text": text,
                "notification": {
                    "target": job.target,
                    "kind": job.kind.as_str(),
                    "event": job.trigger.as_str(),
                    "outcome": "dropped",
                },
            });
            note(&self.shared, job.incident_id, &body).await;
        }
    }

    async fn held_back(&self, id: i64, trigger: Trigger) {
        let text = format!(
            "Notification “{}” not sent: this incident reached its limit of {} messages \
             (one more every {} s)",
            trigger.as_str(),
            self.settings.burst,
            self.settings.refill_s
        );
        let body = json!({
            "text": text,
            "notification": {"event": trigger.as_str(), "outcome": "rate_limited"},
        });
        note(&self.shared, id, &body).await;
    }
}

/// The top likely candidate the last *opened* or *diagnosis* delivery note
/// told, `None` when none did.
fn told_before(timeline: &[IncidentEvent]) -> Option<String> {
    timeline
        .iter()
        .rev()
        .filter(|e| is_delivery_note(e))
        .map(|e| &e.body["notification"])
        .find(|n| {
            matches!(n["event"].as_str(), Some("opened" | "diagnosis"))
                && !matches!(n["outcome"].as_str(), Some("rate_limited" | "dropped"))
        })
        .and_then(|n| n["top"].as_str().map(str::to_owned))
}

/// A target's sending task: one message at a time, in order, each recorded
/// on its incident's timeline. Ends when its queue is dropped and empty.
async fn send_all(shared: Shared, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let outcome = shared
            .sender
            .deliver(&job.url, job.body.clone(), &shared.policy)
            .await;
        record(&shared, &job, &outcome).await;
    }
}

async fn record(shared: &Shared, job: &Job, outcome: &Outcome) {
    let text = format!(
        "{} message “{}” to {}: {}",
        job.kind.label(),
        job.trigger.as_str(),
        job.target,
        outcome.describe()
    );
    let mut notification = json!({
        "target": job.target,
        "kind": job.kind.as_str(),
        "event": job.trigger.as_str(),
        "outcome": outcome.as_str(),
        "attempts": outcome.attempts(),
        "top": job.top,
    });
    match outcome {
        Outcome::Delivered { status, .. } => notification["status"] = json!(status),
        Outcome::Refused { status, detail, .. } => {
            notification["status"] = json!(status);
            notification["detail"] = json!(detail);
        }
        Outcome::GaveUp { last, .. } => notification["detail"] = json!(last),
    }
    if !matches!(outcome, Outcome::Delivered { .. }) {
        tracing::warn!(
            incident_id = job.incident_id,
            target_name = %job.target,
            target_url = %job.url,
            event = job.trigger.as_str(),
            outcome = %outcome.describe(),
            "notification not delivered"
        );
    }
    note(
        shared,
        job.incident_id,
        &json!({"text": text, "notification": notification}),
    )
    .await;
}

/// Appends a delivery note to the incident's timeline and tells its pages.
async fn note(shared: &Shared, incident_id: i64, body: &Value) {
    match shared
        .kb
        .store()
        .append_event(incident_id, WHO, EventKind::Note, body)
        .await
    {
        Ok(event) => shared.bus.publish(&event),
        Err(e) => {
            tracing::warn!(error = %e, incident_id, "notification outcome not recorded on the timeline")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_per_incident() {
        let mut l = Limiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!((0..3).all(|_| l.allow(1, t0)));
        assert!(!l.allow(1, t0), "the burst is spent");
        assert!(l.allow(2, t0), "another incident has its own");
        assert!(!l.allow(1, t0 + Duration::from_secs(30)));
        assert!(l.allow(1, t0 + Duration::from_secs(61)));
        assert!(!l.allow(1, t0 + Duration::from_secs(62)));
    }

    #[test]
    fn what_was_told_is_read_back_from_delivery_notes() {
        let note = |id: i64, event: &str, outcome: &str, top: Option<&str>| IncidentEvent {
            id,
            incident_id: 1,
            at: Utc::now(),
            who: WHO.into(),
            kind: EventKind::Note,
            body: json!({"text": "", "notification": {"event": event, "outcome": outcome, "top": top}}),
        };
        assert_eq!(told_before(&[]), None);
        let timeline = [
            note(1, "opened", "delivered", None),
            note(2, "diagnosis", "failed", Some("close-wait-leak")),
            note(3, "diagnosis", "rate_limited", Some("mtu-blackhole")),
            note(4, "verdict", "delivered", Some("other")),
        ];
        assert_eq!(told_before(&timeline).as_deref(), Some("close-wait-leak"));
    }
}
