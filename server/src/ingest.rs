//! Report ingest as a service: collector tokens, parsing a sent report,
//! storing it once, the answer, and how fresh each collector is.
//!
//! HTTP lives in `web::api::reports`; this module knows nothing of it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use faultline_probe::report::{Report, SchemaError};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::core::matcher::Diagnosis;
use crate::kb::KnowledgeBase;
use crate::store::{
    BatchDone, BatchWrite, CollectorRecord, DynStore, Inserted, NewReport, ReportRow, StoreError,
    StoreResult, TOKEN_HASH_LEN,
};

// ---- Collector tokens --------------------------------------------------------

/// Every collector token starts with this, so a leaked one is recognisable
/// (secret scanners) and a user token pasted by mistake is refused early.
pub const TOKEN_PREFIX: &str = "flc_";
/// Random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;
/// Characters after the prefix: base64url of 32 bytes, unpadded.
const TOKEN_BODY_LEN: usize = 43;

/// A new random collector token: `flc_` + 32 random bytes in base64url.
///
/// `rand::rng()` is a CSPRNG (ChaCha12) seeded from the operating system.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", base64url(&bytes))
}

/// Whether `token` has the shape of a collector token (not whether it is
/// valid): anything else is "malformed" (401) rather than "unknown" (403).
pub fn well_formed_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|body| {
        body.len() == TOKEN_BODY_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The stored form of a token.
///
/// A plain SHA-256 is the right hash here, unlike for passwords: the token
/// carries 256 random bits, so there is nothing to guess or brute-force
/// from the hash, and a fast hash keeps every report's authentication cheap.
/// Slow, salted hashes (argon2) are for low-entropy secrets people choose.
pub fn hash_token(token: &str) -> [u8; TOKEN_HASH_LEN] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two token hashes in constant time. The store finds the row by
/// hash (an index lookup can only leak which hash prefix exists, not the
/// token); this second comparison does not branch on the bytes.
pub fn hashes_match(presented: &[u8; TOKEN_HASH_LEN], stored: &[u8]) -> bool {
    stored.len() == TOKEN_HASH_LEN && bool::from(presented.as_slice().ct_eq(stored))
}

/// Unpadded base64url (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Registers a collector and returns its token, to be shown once.
pub async fn add_collector(
    store: &DynStore,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> StoreResult<(CollectorRecord, String)> {
    let token = generate_token();
    let record = store
        .add_collector(name, &hash_token(&token), labels)
        .await?;
    Ok((record, token))
}

/// The collector reports pulled from Prometheus are stored under. Nobody
/// holds its token, so nothing can send as it; the name is reserved.
pub const PULLED_COLLECTOR: &str = crate::core::prometheus::SOURCE;

/// Checks a collector name: what a host name or a pod name can be.
pub fn valid_collector_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("a collector name has 1 to 128 characters".into());
    }
    if name == PULLED_COLLECTOR {
        return Err(format!(
            "the collector name {name:?} is reserved for evidence pulled from Prometheus"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
    {
        return Err(format!(
            "collector name {name:?}: use letters, digits and - _ . : @ only"
        ));
    }
    Ok(())
}

// ---- Parsing a sent report -----------------------------------------------------

/// Why a sent body is not a report.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    /// Not JSON at all (400).
    Malformed {
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON, but not a valid v1 report (422); each error names its path.
    Invalid(Vec<SchemaError>),
}

/// Parses and validates a report body.
pub fn parse_report(body: &[u8]) -> Result<Report, ParseError> {
    // Syntax first, so "not JSON" (with where) is told apart from "JSON of
    // the wrong shape" (with which field).
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        return Err(ParseError::Malformed {
            line: e.line(),
            column: e.column(),
            message: message.strip_suffix(&suffix).unwrap_or(&message).to_owned(),
        });
    }
    let report = Report::from_json(body).map_err(ParseError::Invalid)?;
    readable(body)?;
    Ok(report)
}

/// Refuses JSON that would be stored but not read back. Reads parse a
/// stored body as a JSON value, which is stricter than skipping over the
/// fields a report does not use: a number past f64 (`1e400`), a lone
/// surrogate (`"\ud800"`) or nesting deeper than 128 passes the one and
/// fails the other, so such a report answered 500 on every read.
fn readable(body: &[u8]) -> Result<(), ParseError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, Value>(&mut de)
        .map(drop)
        .map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let suffix = format!(" at line {} column {}", inner.line(), inner.column());
            let message = inner.to_string();
            ParseError::Invalid(vec![SchemaError {
                path: if path == "." { String::new() } else { path },
                message: format!(
                    "{}: a report must hold only JSON that reads back as sent",
                    message.strip_suffix(&suffix).unwrap_or(&message)
                ),
            }])
        })
}

/// Applies the labels the collector was registered with (`faultline
/// collector add web-1 --label host=web-1`, or the admin page) to its
/// report: they override what the report says of itself, and a `host`
/// label is the report's host. So an operator decides which host a probe's
/// evidence is about, and reports join the incidents labelled with it. The
/// body is stored as sent; the stored summary and the incident routing use
/// these labels.
pub fn apply_collector_labels(collector: &CollectorRecord, report: &mut Report) {
    for (k, v) in &collector.labels {
        report.collector.labels.insert(k.clone(), v.clone());
    }
    if let Some(host) = collector.labels.get("host").filter(|h| !h.is_empty()) {
        report.collector.host = host.clone();
    }
}

// ---- Storing and answering -------------------------------------------------------

/// The outcome of a send.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Stored now; the answer as sent.
    Stored { answer: String },
    /// A resend: the first answer, with `"stored": false`.
    Replayed { answer: String },
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The report id was first sent by another collector.
    #[error("report {0} was already sent by another collector")]
    OtherCollector(uuid::Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one place the matcher's diagnosis enters the ingest answer (and so
/// the stored answer that resends get back): the summary of
/// `crate::diagnose` against the current playbooks, the same JSON as
/// `POST /api/v1/diagnose`. `null` if it cannot be serialized.
pub fn diagnosis_for(kb: &KnowledgeBase, report: &Report) -> Value {
    summary_json(&diagnose(kb, report))
}

fn diagnose(kb: &KnowledgeBase, report: &Report) -> Diagnosis {
    let matcher = crate::diagnose::matcher_for(kb);
    crate::diagnose::diagnose(&matcher, report)
}

fn summary_json(diagnosis: &Diagnosis) -> Value {
    serde_json::to_value(diagnosis.summary()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "diagnosis did not serialize");
        Value::Null
    })
}

/// The answer to a stored report, as text: the same bytes are kept and sent
/// again (with `"stored":false`) on every resend.
fn answer_text(report: &Report, received_at: DateTime<Utc>, diagnosis: &Value) -> String {
    format!(
        "{{\"report_id\":\"{}\",\"stored\":true,\"received_at\":\"{}\",\"diagnosis\":{}}}",
        report.report_id.hyphenated(),
        received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        serde_json::to_string(diagnosis).unwrap_or_else(|_| "null".into())
    )
}

/// The first answer as a resend gets it: only `stored` differs.
fn replayed(answer: &str) -> String {
    answer.replacen("\"stored\":true", "\"stored\":false", 1)
}

/// Stores a validated report for the authenticated `collector`, once.
///
/// The report is durable when this returns `Ok` (SQLite `synchronous=FULL`,
/// PostgreSQL `synchronous_commit`): it goes through `writer`, the group
/// commit, which answers only after the transaction holding it (and the
/// playbooks likely in its diagnosis) has committed. A resend stores
/// nothing and returns the first answer; concurrent sends of one report
/// race on the primary key. A new report comes back with its diagnosis, for
/// the incident it may open or join.
pub async fn ingest(
    kb: &KnowledgeBase,
    writer: &GroupCommit,
    collector: &CollectorRecord,
    report: &Report,
    body: &str,
) -> Result<(Accepted, Option<Diagnosis>), IngestError> {
    let store = kb.store();
    // A resend is common (lost acks, spool replays): answer it without work.
    if let Some(existing) = store.report(report.report_id).await? {
        return replay(
            collector,
            report,
            existing.summary.collector,
            &existing.answer,
        )
        .map(|a| (a, None));
    }
    let received_at = crate::store::now_micros();
    let diagnosis = diagnose(kb, report);
    let answer = answer_text(report, received_at, &summary_json(&diagnosis));
    let likely = diagnosis.likely().map(|c| c.playbook.clone()).collect();
    let done = writer
        .write(BatchWrite::Report {
            report: ReportRow {
                report_id: report.report_id,
                collector: collector.name.clone(),
                host: report.collector.host.clone(),
                labels: report.collector.labels.clone(),
                started_at: report.started_at,
                finished_at: report.finished_at,
                received_at,
                body: body.to_owned(),
                answer: answer.clone(),
            },
            likely,
        })
        .await?;
    match done {
        BatchDone::Report(Inserted::Stored) => Ok((Accepted::Stored { answer }, Some(diagnosis))),
        BatchDone::Report(Inserted::Existing {
            collector: first,
            answer,
        }) => replay(collector, report, first, &answer).map(|a| (a, None)),
        BatchDone::Event(_) => Err(IngestError::Store(StoreError::Database(
            sqlx::Error::Protocol("the group commit answered a report with an event".into()),
        ))),
    }
}

/// Stores a report pulled from Prometheus as a sent one is stored (once,
/// durable, its diagnosis as the answer) under [`PULLED_COLLECTOR`],
/// registered on first use with a token nobody is given. Returns the
/// diagnosis summary.
pub async fn store_pulled(kb: &KnowledgeBase, report: &Report) -> StoreResult<Value> {
    let store = kb.store();
    if store.collector(PULLED_COLLECTOR).await?.is_none() {
        let labels = BTreeMap::from([("source".to_owned(), PULLED_COLLECTOR.to_owned())]);
        match add_collector(store, PULLED_COLLECTOR, &labels).await {
            // Dropping the token: nothing can send as this collector.
            Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let body = serde_json::to_string(report).map_err(|e| {
        StoreError::Database(sqlx::Error::Protocol(format!(
            "a pulled report did not serialize: {e}"
        )))
    })?;
    let received_at = crate::store::now_micros();
    let diagnosis = diagnosis_for(kb, report);
    let answer = answer_text(report, received_at, &diagnosis);
    store
        .insert_report(NewReport {
            report_id: report.report_id,
            collector: PULLED_COLLECTOR,
            host: &report.collector.host,
            labels: &report.collector.labels,
            started_at: report.started_at,
            finished_at: report.finished_at,
            received_at,
            body: &body,
            answer: &answer,
        })
        .await?;
    crate::feedback::record_report_matches(store, report.report_id, &diagnosis).await;
    Ok(diagnosis)
}

fn replay(
    collector: &CollectorRecord,
    report: &Report,
    first: String,
    answer: &str,
) -> Result<Accepted, IngestError> {
    if first != collector.name {
        return Err(IngestError::OtherCollector(report.report_id));
    }
    Ok(Accepted::Replayed {
        answer: replayed(answer),
    })
}

// ---- Group commit -----------------------------------------------------------------

/// How the group commit batches (`ingest_batch_*` and `ingest_queue` in
/// the config).
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Writes in one transaction, at most.
    pub max_batch: usize,
    /// Under load, how long to wait for more writes before committing.
    pub max_wait: Duration,
    /// Writes waiting, at most; past this `write` answers `Unavailable`.
    pub queue: usize,
}

impl BatchOptions {
    pub fn from_config(config: &crate::config::Config) -> BatchOptions {
        BatchOptions {
            max_batch: config.ingest_batch_max.max(1),
            max_wait: Duration::from_millis(config.ingest_batch_wait_ms),
            queue: config.ingest_queue.max(1),
        }
    }
}

/// One writer for reports and their incident events: it takes every write
/// waiting (up to `max_batch`; under load it waits up to `max_wait` for
/// more), commits them in one transaction ([`crate::store::ReportStore::write_batch`])
/// and only then answers each. One fsync is so shared by every report of
/// the batch, and the CPU work (parsing, diagnosing) stays in the request
/// tasks, in parallel. The queue is bounded: when it is full the write is
/// refused at once (`Unavailable`, so 503 with `Retry-After`) rather than
/// waiting without bound.
///
/// The writer task starts with the first write (so building one needs no
/// runtime) and ends when the last handle is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    inner: std::sync::Arc<GroupInner>,
}

struct GroupInner {
    store: DynStore,
    options: BatchOptions,
    sender: std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>,
    batches: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

struct Job {
    write: BatchWrite,
    reply: tokio::sync::oneshot::Sender<StoreResult<BatchDone>>,
}

/// Transactions and writes the group commit has committed (or tried).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    pub batches: u64,
    pub writes: u64,
}

impl GroupCommit {
    pub fn new(store: DynStore, options: BatchOptions) -> GroupCommit {
        GroupCommit {
            inner: std::sync::Arc::new(GroupInner {
                store,
                options,
                sender: std::sync::OnceLock::new(),
                batches: Default::default(),
                writes: Default::default(),
            }),
        }
    }

    /// Queues one write and waits until its transaction has committed (or
    /// failed). `Unavailable` at once when the queue is full.
    pub async fn write(&self, write: BatchWrite) -> StoreResult<BatchDone> {
        use tokio::sync::mpsc::error::TrySendError;
        let sender = self.inner.sender.get_or_init(|| {
            let (sender, receiver) = tokio::sync::mpsc::channel(self.inner.options.queue);
            tokio::spawn(run_writer(self.inner.clone(), receiver));
            sender
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        match sender.try_send(Job { write, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(StoreError::Unavailable(format!(
                    "ingest is overloaded: {} writes are already waiting for the database",
                    self.inner.options.queue
                )));
            }
            Err(TrySendError::Closed(_)) => {
                return Err(StoreError::Unavailable(
                    "the ingest writer has stopped".into(),
                ));
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the ingest writer stopped before committing".into(),
            ))
        })
    }

    pub fn stats(&self) -> GroupStats {
        use std::sync::atomic::Ordering::Relaxed;
        GroupStats {
            batches: self.inner.batches.load(Relaxed),
            writes: self.inner.writes.load(Relaxed),
        }
    }
}

/// The writer: one batch at a time, each in a task of its own so a panic
/// fails that batch's writes (`Unavailable`) and not every later one. Holds
/// only a weak handle on the state, so it ends with the last `GroupCommit`.
async fn run_writer(
    inner: std::sync::Arc<GroupInner>,
    mut receiver: tokio::sync::mpsc::Receiver<Job>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let store = inner.store.clone();
    let options = inner.options;
    let weak = std::sync::Arc::downgrade(&inner);
    drop(inner);
    let mut last_batch = 0;
    while let Some(first) = receiver.recv().await {
        let mut jobs = vec![first];
        take_waiting(&mut receiver, &mut jobs, options.max_batch);
        if last_batch > 1 && !options.max_wait.is_zero() {
            let deadline = tokio::time::Instant::now() + options.max_wait;
            while jobs.len() < options.max_batch {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(job)) => {
                        jobs.push(job);
                        take_waiting(&mut receiver, &mut jobs, options.max_batch);
                    }
                    _ => break,
                }
            }
        }
        last_batch = jobs.len();
        let (writes, replies): (Vec<BatchWrite>, Vec<_>) =
            jobs.into_iter().map(|j| (j.write, j.reply)).unzip();
        if let Some(inner) = weak.upgrade() {
            inner.batches.fetch_add(1, Relaxed);
            inner.writes.fetch_add(writes.len() as u64, Relaxed);
        }
        let store = store.clone();
        let committed = tokio::spawn(async move { store.write_batch(&writes).await }).await;
        match committed {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            // Dropping the replies answers each `Unavailable`.
            Err(e) => tracing::error!(error = %e, "a group commit failed"),
        }
    }
}

/// Moves the writes already waiting into `jobs`, up to `max`.
fn take_waiting(receiver: &mut tokio::sync::mpsc::Receiver<Job>, jobs: &mut Vec<Job>, max: usize) {
    while jobs.len() < max {
        match receiver.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

// ---- Collector freshness -----------------------------------------------------------

/// Silence after which a collector is stale whatever its interval.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// A collector is stale after this many missed intervals.
pub const STALE_INTERVALS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectorStatus {
    /// Reported within its expected window.
    Fresh,
    /// Silent for more than 3 intervals, or more than 15 minutes.
    Stale,
    /// Never reported.
    Never,
    /// Its token was revoked.
    Revoked,
}

impl CollectorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CollectorStatus::Fresh => "fresh",
            CollectorStatus::Stale => "stale",
            CollectorStatus::Never => "never",
            CollectorStatus::Revoked => "revoked",
        }
    }
}

/// The interval a collector reports at: the median gap between the start
/// times of its recent reports (newest first or in any order). `None` with
/// fewer than two reports.
pub fn expected_interval(starts: &[DateTime<Utc>]) -> Option<Duration> {
    let mut sorted = starts.to_vec();
    sorted.sort_unstable();
    let mut gaps: Vec<Duration> = sorted
        .windows(2)
        .filter_map(|w| (w[1] - w[0]).to_std().ok())
        .filter(|d| !d.is_zero())
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// Fresh, stale, never or revoked, as of `now`.
///
/// Stale: silent for more than three expected intervals, or for more than
/// 15 minutes, whichever comes first (with no known interval, 15 minutes).
pub fn collector_status(
    collector: &CollectorRecord,
    interval: Option<Duration>,
    now: DateTime<Utc>,
) -> CollectorStatus {
    if collector.revoked_at.is_some() {
        return CollectorStatus::Revoked;
    }
    let Some(last) = collector.last_report_at else {
        return CollectorStatus::Never;
    };
    let silent = (now - last).to_std().unwrap_or(Duration::ZERO);
    let limit = interval.map_or(STALE_AFTER, |i| (i * STALE_INTERVALS).min(STALE_AFTER));
    if silent > limit {
        CollectorStatus::Stale
    } else {
        CollectorStatus::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn record(last: Option<i64>, revoked: bool) -> CollectorRecord {
        CollectorRecord {
            name: "node-1".into(),
            labels: BTreeMap::new(),
            created_at: at(0),
            last_report_at: last.map(at),
            revoked_at: revoked.then(|| at(1)),
        }
    }

    #[test]
    fn tokens_are_random_well_formed_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(well_formed_token(&a), "{a}");
        assert_eq!(a.len(), TOKEN_PREFIX.len() + TOKEN_BODY_LEN);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(hashes_match(&hash_token(&a), &hash_token(&a)));
        assert!(!hashes_match(&hash_token(&a), &hash_token(&b)));
        assert!(!hashes_match(&hash_token(&a), &hash_token(&a)[..31]));
        for bad in [
            "",
            "flc_",
            "flu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "flc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "flc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
            "flc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(!well_formed_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        // RFC 4648 §10, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn collector_names() {
        assert!(valid_collector_name("node-5.prod:eu@k8s").is_ok());
        for bad in ["", "a b", "<script>", &"x".repeat(129), "prometheus"] {
            assert!(valid_collector_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_json_gives_line_and_column_invalid_gives_the_path() {
        match parse_report(b"{\n  \"schema\": ,\n}") {
            Err(ParseError::Malformed { line, column, .. }) => {
                assert_eq!((line, column), (2, 13));
            }
            other => panic!("{other:?}"),
        }
        match parse_report(br#"{"schema": "faultline.report.v1"}"#) {
            Err(ParseError::Invalid(errors)) => {
                assert!(errors[0].message.contains("report_id"), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_replay_with_only_stored_changed() {
        let report = Report::new(faultline_probe::report::Collector {
            name: "n".into(),
            host: "h".into(),
            labels: BTreeMap::new(),
        });
        let answer = answer_text(&report, at(5), &serde_json::json!({"stored": true}));
        let v: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["stored"], true);
        assert_eq!(v["received_at"], "2027-01-15T08:00:05.000000Z");
        let again: Value = serde_json::from_str(&replayed(&answer)).unwrap();
        assert_eq!(again["stored"], false);
        assert_eq!(again["diagnosis"], v["diagnosis"]);
        assert_eq!(again["received_at"], v["received_at"]);
    }

    #[test]
    fn interval_is_the_median_gap() {
        assert_eq!(expected_interval(&[]), None);
        assert_eq!(expected_interval(&[at(0)]), None);
        assert_eq!(expected_interval(&[at(0), at(0)]), None);
        let starts = [at(240), at(0), at(60), at(120), at(185), at(1000)];
        assert_eq!(expected_interval(&starts), Some(Duration::from_secs(60)));
    }

    #[test]
    fn status_fresh_stale_never_revoked() {
        let now = at(10_000);
        let minute = Some(Duration::from_secs(60));
        assert_eq!(
            collector_status(&record(None, false), minute, now),
            CollectorStatus::Never
        );
        assert_eq!(
            collector_status(&record(Some(9_990), true), minute, now),
            CollectorStatus::Revoked
        );
        // 3 × 60 s.
        assert_eq!(
            collector_status(&record(Some(10_000 - 170), false), minute, now),
            CollectorStatus::Fresh
        );
        assert_eq!(
            collector_status(&record(Some(10_000 - 190), false), minute, now),
            CollectorStatus::Stale
        );
        // Unknown interval, or a long one: 15 minutes.
        for interval in [None, Some(Duration::from_secs(3600))] {
            assert_eq!(
                collector_status(&record(Some(10_000 - 800), false), interval, now),
                CollectorStatus::Fresh
            );
            assert_eq!(
                collector_status(&record(Some(10_000 - 901), false), interval, now),
                CollectorStatus::Stale
            );
        }
        // A clock ahead of ours is not stale.
        assert_eq!(
            collector_status(&record(Some(10_060), false), minute, now),
            CollectorStatus::Fresh
        );
    }
}
