//! SQLite backend: one file, one writer connection, a few read-only readers.
//!
//! Every write goes through the single writer connection and read-modify-write
//! runs inside `BEGIN IMMEDIATE`, so writers never deadlock on lock upgrades
//! and another process holding the file waits `busy_timeout` at most. The
//! pools have a short acquire timeout: overload is `Unavailable`, not a hang.

mod accounts;
mod feedback;
mod incidents;
mod notifications;
mod playbooks;
mod postmortems;
mod reports;
mod retention;
mod study;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{
    ACQUIRE_TIMEOUT, CONNECT_TIMEOUT, DISK_FULL, PlaybookVersion, Store, StoreError, StoreResult,
    classify, decode_origin,
};

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-only connections; WAL lets them read while the writer writes.
const READERS: u32 = 4;
/// Less free space than this on the database's file system and `ping` says
/// the disk is full: SQLite needs room to append to its write-ahead log.
const MIN_FREE_BYTES: u64 = 1024 * 1024;
/// Fixed-width UTC, microseconds: sorts as text and round-trips exactly.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

type VersionRow = (String, i64, String, String, Option<String>, String);

/// Per-connection settings as SQLite reports them (see [`SqliteStore::pragmas`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlitePragmas {
    pub journal_mode: String,
    /// 2 is `FULL`.
    pub synchronous: i64,
    pub foreign_keys: i64,
    pub busy_timeout_ms: i64,
}

/// The SQLite store. Cloning shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// The database's directory, whose free space `ping` checks (none in
    /// memory).
    dir: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at a `sqlite:` URL and runs
    /// the migrations.
    pub async fn connect(url: &str) -> StoreResult<SqliteStore> {
        let rest = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let (path_part, params) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path_part == ":memory:" || params.split('&').any(|p| p == "mode=memory");
        if path_part.is_empty() && !in_memory {
            return Err(StoreError::BadLocation(
                "the SQLite URL names no file; use `sqlite:<path>`".into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadLocation(format!("cannot read the SQLite URL: {e}")))?;
        if !in_memory {
            prepare_directory(options.get_filename())?;
        }
        Self::open(options, in_memory).await
    }

    async fn open(options: SqliteConnectOptions, in_memory: bool) -> StoreResult<SqliteStore> {
        let path = options.get_filename().display().to_string();
        let dir = (!in_memory).then(|| database_dir(options.get_filename()));
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);

        let mut writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if in_memory {
            // The database lives as long as its last connection: keep one.
            writer = writer
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            writer = writer.after_release(|conn, _| Box::pin(keep_writer(conn)));
        }
        let writer = tokio::time::timeout(CONNECT_TIMEOUT, writer.connect_with(options.clone()))
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "opening SQLite database {path} took longer than {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| open_error(&path, e))?;

        {
            let mut conn = writer.acquire().await.map_err(|e| open_error(&path, e))?;
            // `run_direct` rather than `run`: `run`'s `Acquire<'a>` bound makes
            // this future fail to prove `Send` ("not general enough").
            sqlx::migrate!("../migrations/sqlite")
                .run_direct(None, &mut *conn, false)
                .await?;
        }

        let readers = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.read_only(true))
                .await
                .map_err(|e| open_error(&path, e))?
        };
        tracing::info!(%path, "opened SQLite store");
        Ok(SqliteStore {
            writer,
            readers,
            dir,
        })
    }

    /// Reads the settings back from the writer and from a reader connection.
    pub async fn pragmas(&self) -> StoreResult<(SqlitePragmas, SqlitePragmas)> {
        Ok((
            read_pragmas(&self.writer).await?,
            read_pragmas(&self.readers).await?,
        ))
    }
}

/// Creates the database's directory; rejects paths SQLite cannot take.
fn prepare_directory(file: &Path) -> StoreResult<()> {
    if file.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(StoreError::BadLocation(
            "the SQLite path contains a NUL byte".into(),
        ));
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::BadLocation(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

/// Whether the writer connection may go back to the pool. A write that
/// fails with a full disk (or an I/O error) makes SQLite roll the
/// transaction back by itself; sqlx's own `ROLLBACK` then fails, and the
/// connection believes it is still inside a transaction and refuses every
/// later `BEGIN`. Such a connection is closed; the pool opens a fresh one,
/// so writes work again once space returns.
async fn keep_writer(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queues its `ROLLBACK`; a ping runs after it.
    conn.ping().await?;
    let stuck = conn.is_in_transaction();
    if stuck {
        tracing::warn!("closing the SQLite writer: its transaction could not be rolled back");
    }
    Ok(!stuck)
}

/// The directory holding the database file (`.` for a bare file name).
fn database_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `Unavailable` when the database's file system is (nearly) full, so
/// `/readyz` says why writes fail before any write has tried. A file system
/// we cannot ask about is not held against readiness.
fn check_free_space(dir: &Path) -> StoreResult<()> {
    let Ok(stat) = rustix::fs::statvfs(dir) else {
        return Ok(());
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < MIN_FREE_BYTES {
        return Err(StoreError::Unavailable(format!(
            "{DISK_FULL} ({} KiB free)",
            free / 1024
        )));
    }
    Ok(())
}

/// Errors while opening the file are about the location, not the load.
fn open_error(path: &str, error: sqlx::Error) -> StoreError {
    let location = |detail: String| {
        StoreError::BadLocation(format!("cannot open SQLite database {path}: {detail}"))
    };
    match &error {
        sqlx::Error::Io(e) => location(e.to_string()),
        sqlx::Error::Configuration(e) => location(e.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            // PERM, READONLY, CANTOPEN, AUTH, NOTADB
            if matches!(code & 0xff, 3 | 8 | 14 | 23 | 26) {
                location(db.message().to_owned())
            } else {
                classify(error)
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
            "opening SQLite database {path} timed out (is another process holding it?)"
        )),
        _ => classify(error),
    }
}

async fn read_pragmas(pool: &SqlitePool) -> StoreResult<SqlitePragmas> {
    let mut conn = pool.acquire().await.map_err(classify)?;
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    Ok(SqlitePragmas {
        journal_mode,
        synchronous,
        foreign_keys,
        busy_timeout_ms,
    })
}

fn format_time(t: DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

fn parse_time(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(
                format!("bad time {s:?} in the database: {e}").into(),
            ))
        })
}

fn to_version(row: VersionRow) -> StoreResult<PlaybookVersion> {
    let (id, version, source, origin, author, created_at) = row;
    Ok(PlaybookVersion {
        id,
        version,
        source,
        origin: decode_origin(&origin)?,
        author,
        created_at: parse_time(&created_at)?,
    })
}

const SELECT_VERSION: &str = "SELECT playbook_id, version, source, origin, author, created_at \
     FROM playbook_versions WHERE playbook_id = ? AND version = ?";

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(classify)?;
        match &self.dir {
            Some(dir) => check_free_space(dir),
            None => Ok(()),
        }
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
