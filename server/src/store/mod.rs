//! Storage behind one trait, with one implementation per backend.
//!
//! The backend is picked from the database URL at start: `sqlite:` (the
//! default, a file under the data directory) or `postgres://`. [`connect`]
//! opens the backend, runs its embedded migrations (`migrations/sqlite/`,
//! `migrations/postgres/`) and hands back a [`DynStore`].
//!
//! Times are UTC everywhere: `TIMESTAMPTZ` in PostgreSQL, fixed-width RFC 3339
//! text with microseconds in SQLite, so both backends round-trip the same
//! value.

mod accounts;
mod feedback;
mod incidents;
mod notifications;
mod playbooks;
mod postgres;
mod postmortems;
mod reports;
mod retention;
mod sqlite;
mod study;

pub use accounts::{
    AccountStore, ApiToken, AuditEntry, NewAudit, NewSession, Role, Session, User, UserChange,
};
pub use feedback::{
    FeedbackStore, MatchSource, NewVerdict, PlaybookFeedback, Verdict, VerdictRecord,
    current_verdicts,
};
pub use incidents::{
    AlertDelivery, AlertOutcome, AlertRoute, EVENTS_CHANNEL, EventKind, EventNotice, Incident,
    IncidentEvent, IncidentFilter, IncidentStatus, IncidentStore, NewIncident, Tick, group_key,
    replica_origin,
};
pub use notifications::{NewTarget, NotificationStore, StoredTarget};
pub use playbooks::{NewVersion, Origin, PlaybookStore, PlaybookVersion};
pub use postmortems::{
    DraftText, ImportPostmortem, NewPostmortem, POSTMORTEMS_CHANNEL, Postmortem, PostmortemStore,
    PostmortemVersion, SavePostmortem,
};
pub use reports::{
    BatchDone, BatchWrite, CollectorCredential, CollectorRecord, Inserted, MAX_LIST, NewReport,
    ReportRow, ReportStore, ReportSummary, StoredReport, TOKEN_HASH_LEN,
};
pub use retention::{RetentionStore, RolledUp, Unrolled};
pub use study::{NewAttempt, ScheduleEntry, StudyAttempt, StudyStore, StudySummary};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: the current version is {current}")]
    Conflict { current: i64 },
    /// A unique name is taken (a user name).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("invalid database location: {0}")]
    BadLocation(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The whole store: one trait per table family, and connection upkeep.
#[async_trait]
pub trait Store:
    PlaybookStore
    + AccountStore
    + ReportStore
    + IncidentStore
    + StudyStore
    + RetentionStore
    + FeedbackStore
    + PostmortemStore
    + FeedbackStore
    + NotificationStore
    + Send
    + Sync
    + 'static
{
    /// Cheap round trip used by `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the connections; later calls fail with `Unavailable`. Call it
    /// on shutdown so SQLite checkpoints its write-ahead log.
    async fn close(&self) {}
    /// Tells every replica sharing this database about a change: PostgreSQL
    /// `pg_notify(channel, payload)`, delivered to listeners (`replicas`)
    /// when it commits. A single-process backend (SQLite) has no one else to
    /// tell: a no-op. Inside a PostgreSQL transaction use
    /// [`notify_in`] instead, so the notice goes out only if the
    /// change commits.
    async fn notify(&self, _channel: &str, _payload: &str) -> StoreResult<()> {
        Ok(())
    }
    /// The pool, on PostgreSQL: `replicas` listens for notices on it.
    fn pg_pool(&self) -> Option<sqlx::PgPool> {
        None
    }
}

/// The channel a playbook save notifies, with the playbook id as payload.
pub const PLAYBOOKS_CHANNEL: &str = "faultline_playbooks";

pub type DynStore = Arc<dyn Store>;

pub use postgres::{PgStore, notify_in};
pub use sqlite::{SqlitePragmas, SqliteStore};

/// How long opening a database may take before it is reported unavailable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for a pooled connection before the store answers
/// `Unavailable` (mapped to 503) instead of queueing without bound.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens the store named by `database_url` and brings its schema up to date.
///
/// Accepted schemes: `sqlite:` (a file; its directory and the file are created
/// when missing) and `postgres://` / `postgresql://`.
pub async fn connect(database_url: &str) -> StoreResult<DynStore> {
    let url = database_url.trim();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        let scheme = match url.split_once(':') {
            Some((scheme, _)) if !scheme.is_empty() => format!("`{scheme}:`"),
            _ => "no scheme".to_owned(),
        };
        Err(StoreError::BadLocation(format!(
            "unsupported database URL ({scheme}); use `sqlite:<path>` or \
             `postgres://user@host/database` (`postgresql://` also accepted)"
        )))
    }
}

/// The URL of the default SQLite database: `faultline.db` inside `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    let path = data_dir.join("faultline.db");
    let mut url = String::from("sqlite://");
    // sqlx percent-decodes the path and stops at `?`, so escape those.
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url
}

/// SQLite's primary result code for "database or disk is full".
const SQLITE_FULL: i32 = 13;

/// How an `Unavailable` error caused by a full disk starts: the web layer
/// tells users so (see `web::error`), since only an operator can fix it.
pub const DISK_FULL: &str = "the disk holding the database is full";

/// Sorts a driver error into what callers can act on: overload, lost
/// connections and a full disk become `Unavailable` (retry later; nothing
/// was written), the rest stays a database error.
pub(crate) fn classify(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("the database is closed".into()),
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("database connection failed: {e}")),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let sqlite_code = db
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .map(|_| code.parse::<i32>().map_or(0, |n| n & 0xff));
            // SQLite SQLITE_FULL; PostgreSQL disk_full (SQLSTATE 53100).
            if sqlite_code == Some(SQLITE_FULL) || (sqlite_code.is_none() && code == "53100") {
                return StoreError::Unavailable(format!("{DISK_FULL}: {}", db.message()));
            }
            let busy = if let Some(primary) = sqlite_code {
                // SQLite primary result codes BUSY and LOCKED.
                matches!(primary, 5 | 6)
            } else {
                // PostgreSQL: connection exceptions, shutdown, too many
                // connections, lock not available.
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "55P03"
            };
            if busy {
                StoreError::Unavailable(format!("the database is busy: {}", db.message()))
            } else {
                StoreError::Database(error)
            }
        }
        _ => StoreError::Database(error),
    }
}

/// Checks `base_version` against the stored `current` version.
///
/// `Ok(None)`: create the playbook at version 1. `Ok(Some(current))`: append
/// after `current` (unless the source is unchanged). `base_version: Some(0)`
/// means "create, and it must not exist yet"; any other `Some(v)` on a missing
/// playbook is `NotFound`.
pub(crate) fn check_base(
    current: Option<i64>,
    base_version: Option<i64>,
) -> StoreResult<Option<i64>> {
    match (current, base_version) {
        (None, None | Some(0)) => Ok(None),
        (None, Some(_)) => Err(StoreError::NotFound),
        (Some(current), Some(base)) if base != current => Err(StoreError::Conflict { current }),
        (Some(current), _) => Ok(Some(current)),
    }
}

/// Reads an origin column back, refusing values the schema should not allow.
pub(crate) fn decode_origin(s: &str) -> StoreResult<Origin> {
    Origin::parse(s).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown playbook origin {s:?} in the database").into(),
        ))
    })
}

/// The time stamp for a new row: now, at the microsecond precision both
/// backends store, so what `save_playbook` returns equals what it reads back.
pub(crate) fn now_micros() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}
