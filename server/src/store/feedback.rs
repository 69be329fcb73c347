//! Diagnosis feedback: engineers' verdicts on an incident's diagnosis, and
//! the record of every time a playbook was a likely match for evidence.
//!
//! A verdict is per (incident, playbook, engineer); giving another replaces
//! it, and the incident's verdict on a playbook is the newest of its
//! engineers' (ties broken by name, so both backends agree). Setting one
//! appends a `note` event to the incident's timeline in the same
//! transaction, so the timeline keeps every verdict ever given.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::{IncidentEvent, StoreError, StoreResult};

/// Whether the playbook was the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Right,
    Wrong,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Right => "right",
            Verdict::Wrong => "wrong",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "right" => Some(Verdict::Right),
            "wrong" => Some(Verdict::Wrong),
            _ => None,
        }
    }
}

/// One engineer's current verdict on one playbook of an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictRecord {
    pub incident_id: i64,
    pub playbook: String,
    pub who: String,
    pub verdict: Verdict,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// A verdict to record.
#[derive(Debug, Clone, Copy)]
pub struct NewVerdict<'a> {
    pub incident_id: i64,
    pub playbook: &'a str,
    pub who: &'a str,
    pub verdict: Verdict,
    pub comment: Option<&'a str>,
}

/// What evidence a playbook matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchSource {
    /// A report's own diagnosis, at ingest; the id is the report id.
    Report,
    /// An incident's diagnosis; the id is the incident id.
    Incident,
}

impl MatchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchSource::Report => "report",
            MatchSource::Incident => "incident",
        }
    }
}

/// How a playbook has fared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlaybookFeedback {
    /// Reports whose diagnosis at ingest had it likely.
    pub matched_reports: i64,
    /// Incidents whose diagnosis had it likely.
    pub matched_incidents: i64,
    /// Incidents whose verdict on it is right.
    pub confirmed: i64,
    /// Incidents whose verdict on it is wrong.
    pub marked_wrong: i64,
    /// The newest verdict on it, from anyone.
    pub last_verdict_at: Option<DateTime<Utc>>,
}

impl PlaybookFeedback {
    /// Every piece of evidence it matched.
    pub fn matched(&self) -> i64 {
        self.matched_reports + self.matched_incidents
    }
}

#[async_trait]
pub trait FeedbackStore {
    /// Records (or replaces) an engineer's verdict and appends its `note`
    /// event to the incident's timeline, in one transaction. `NotFound`
    /// when there is no such incident.
    async fn set_verdict(&self, new: NewVerdict<'_>)
    -> StoreResult<(VerdictRecord, IncidentEvent)>;
    /// Every engineer's current verdict on the incident, newest first.
    async fn verdicts(&self, incident_id: i64) -> StoreResult<Vec<VerdictRecord>>;
    /// Records that `playbooks` were likely for this evidence. Already
    /// recorded pairs are left alone; returns how many were new.
    async fn record_matches(
        &self,
        source: MatchSource,
        source_id: &str,
        playbooks: &[String],
    ) -> StoreResult<u64>;
    /// The counts for one playbook.
    async fn playbook_feedback(&self, playbook: &str) -> StoreResult<PlaybookFeedback>;
}

/// The timeline `note` a verdict appends: readable as any note (`text`),
/// with the verdict beside it for tools.
pub(crate) fn verdict_body(new: &NewVerdict<'_>) -> Value {
    let mut text = format!("Diagnosis {} marked {}", new.playbook, new.verdict.as_str());
    if let Some(c) = new.comment {
        text.push_str(": ");
        text.push_str(c);
    }
    json!({
        "text": text,
        "verdict": new.verdict.as_str(),
        "playbook": new.playbook,
        "comment": new.comment,
    })
}

pub(crate) fn decode_verdict(s: &str) -> StoreResult<Verdict> {
    Verdict::parse(s).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown verdict {s:?} in the database").into(),
        ))
    })
}

/// The incident's verdict per playbook (newest engineer's), from
/// [`FeedbackStore::verdicts`] (newest first).
pub fn current_verdicts(verdicts: &[VerdictRecord]) -> Vec<&VerdictRecord> {
    let mut seen: Vec<&VerdictRecord> = Vec::new();
    for v in verdicts {
        if !seen.iter().any(|s| s.playbook == v.playbook) {
            seen.push(v);
        }
    }
    seen
}
