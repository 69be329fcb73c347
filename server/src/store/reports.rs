//! Collectors (the probes allowed to send reports) and the reports they sent.
//!
//! A report is stored once per `report_id`: the insert is
//! `ON CONFLICT (report_id) DO NOTHING`, so concurrent sends of the same
//! report race on the primary key and exactly one wins; the others get the
//! stored answer back. The collector's `last_report_at` moves in the same
//! transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{StoreError, StoreResult};

/// Length of a token hash (SHA-256).
pub const TOKEN_HASH_LEN: usize = 32;

/// A registered collector. The token is never kept, only its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectorRecord {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub last_report_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A collector found by its token hash, with the stored hash so the caller
/// can compare it in constant time.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorCredential {
    pub collector: CollectorRecord,
    pub token_hash: Vec<u8>,
}

/// A report to store.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub report_id: Uuid,
    /// The authenticated collector (the token's, not the body's claim).
    pub collector: &'a str,
    pub host: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// The JSON text as received.
    pub body: &'a str,
    /// The JSON answer sent for it.
    pub answer: &'a str,
}

/// A report to store, owned: what a group commit holds while the request
/// that sent it waits for the answer.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub report_id: Uuid,
    pub collector: String,
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub body: String,
    pub answer: String,
}

impl ReportRow {
    pub fn as_new(&self) -> NewReport<'_> {
        NewReport {
            report_id: self.report_id,
            collector: &self.collector,
            host: &self.host,
            labels: &self.labels,
            started_at: self.started_at,
            finished_at: self.finished_at,
            received_at: self.received_at,
            body: &self.body,
            answer: &self.answer,
        }
    }
}

/// One write of a group commit ([`ReportStore::write_batch`]).
#[derive(Debug, Clone)]
pub enum BatchWrite {
    /// A report, stored once (as [`ReportStore::insert_report`]), with the
    /// playbooks likely in its diagnosis (`playbook_matches`, source
    /// `report`) when it is new.
    Report {
        report: ReportRow,
        likely: Vec<String>,
    },
    /// A report event on an open incident's timeline (as
    /// `IncidentStore::append_event` with kind `report`), with the
    /// incident's likely playbooks (`playbook_matches`, source `incident`).
    ReportEvent {
        incident_id: i64,
        who: String,
        body: serde_json::Value,
        likely: Vec<String>,
    },
}

/// What one [`BatchWrite`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchDone {
    Report(Inserted),
    Event(super::IncidentEvent),
}

/// What [`ReportStore::insert_report`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The report is new and now durable.
    Stored,
    /// A report with this id was already stored (a resend): nothing was
    /// written; here is who sent it first and what they were answered.
    Existing { collector: String, answer: String },
}

/// A stored report without its body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSummary {
    pub report_id: Uuid,
    pub collector: String,
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// A stored report with the text received and the answer sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub summary: ReportSummary,
    pub body: String,
    pub answer: String,
}

/// Collectors and reports.
#[async_trait]
pub trait ReportStore {
    /// Registers a collector; `AlreadyExists` when the name is taken.
    async fn add_collector(
        &self,
        name: &str,
        token_hash: &[u8; TOKEN_HASH_LEN],
        labels: &BTreeMap<String, String>,
    ) -> StoreResult<CollectorRecord>;
    /// The collector holding this token hash, revoked or not.
    async fn collector_by_token_hash(
        &self,
        token_hash: &[u8; TOKEN_HASH_LEN],
    ) -> StoreResult<Option<CollectorCredential>>;
    /// One collector by name.
    async fn collector(&self, name: &str) -> StoreResult<Option<CollectorRecord>>;
    /// Every collector, ordered by name.
    async fn collectors(&self) -> StoreResult<Vec<CollectorRecord>>;
    /// Revokes a collector's token; its reports stay. Returns the record as
    /// it now is (revoking twice keeps the first time). `NotFound` when no
    /// collector has that name.
    async fn revoke_collector(&self, name: &str) -> StoreResult<CollectorRecord>;
    /// Stores a report once (see [`Inserted`]); durable when this returns.
    async fn insert_report(&self, new: NewReport<'_>) -> StoreResult<Inserted>;
    /// Group commit: every write in one transaction, each under its own
    /// savepoint, so one that fails (a constraint, an incident gone) is
    /// undone alone and its batch-mates still commit. An error that dooms
    /// the transaction (busy, disk full, a lost connection, the commit
    /// itself) fails every write of the batch, and nothing is stored. One
    /// answer per write, in order; all durable when this returns.
    async fn write_batch(&self, writes: &[BatchWrite]) -> Vec<StoreResult<BatchDone>>;
    /// One report with its body and answer.
    async fn report(&self, report_id: Uuid) -> StoreResult<Option<StoredReport>>;
    /// The newest reports first (by arrival), optionally of one collector.
    async fn recent_reports(
        &self,
        collector: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ReportSummary>>;
    /// For every collector, the `started_at` of its `per_collector` newest
    /// reports, newest first: enough to tell its reporting interval.
    async fn recent_start_times(
        &self,
        per_collector: i64,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>>;
}

/// The same error for every write of a failed batch (`StoreError` is not
/// `Clone`: driver errors are carried over as their text).
pub(crate) fn for_each_write(error: &StoreError, writes: usize) -> Vec<StoreResult<BatchDone>> {
    (0..writes).map(|_| Err(replicate(error))).collect()
}

pub(crate) fn replicate(error: &StoreError) -> StoreError {
    match error {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict { current } => StoreError::Conflict { current: *current },
        StoreError::AlreadyExists(s) => StoreError::AlreadyExists(s.clone()),
        StoreError::BadLocation(s) => StoreError::BadLocation(s.clone()),
        StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
        other => StoreError::Database(sqlx::Error::Protocol(other.to_string())),
    }
}

/// Whether an error inside a batch dooms the whole transaction (rather
/// than the one write, undone to its savepoint).
pub(crate) fn dooms_batch(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(_))
}

/// Labels column text -> map, refusing what the server never writes.
pub(crate) fn decode_labels(text: &str) -> StoreResult<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("bad labels {text:?} in the database: {e}").into(),
        ))
    })
}

pub(crate) fn encode_labels(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}

pub(crate) fn decode_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("bad report id {text:?} in the database: {e}").into(),
        ))
    })
}

/// Times as both backends keep them (microseconds).
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// Caps list sizes so one request cannot ask for the whole table.
pub const MAX_LIST: i64 = 1000;

pub(crate) fn clamp_limit(limit: i64) -> i64 {
    limit.clamp(1, MAX_LIST)
}
