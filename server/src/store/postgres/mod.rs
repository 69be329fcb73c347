//! PostgreSQL backend: one pool; saves lock the playbook row.
//!
//! `save_playbook` runs in a transaction that takes `SELECT … FOR UPDATE` on
//! the playbook row, so two saves from the same base version serialise and
//! the second sees the first's version and gets `Conflict`.

mod accounts;
mod feedback;
mod incidents;
mod notifications;
mod playbooks;
mod postmortems;
mod reports;
mod retention;
mod study;

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::{
    ACQUIRE_TIMEOUT, CONNECT_TIMEOUT, PlaybookVersion, Store, StoreError, StoreResult, classify,
    decode_origin,
};

/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 10;

type VersionRow = (String, i64, String, String, Option<String>, DateTime<Utc>);

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadLocation(format!("cannot read the PostgreSQL URL: {e}")))?
            .application_name("faultline");
        let server = match options.get_socket() {
            Some(socket) => format!("{} (socket)", socket.display()),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };

        // One plain connection first: it fails fast and says why (the pool
        // would retry a refused connection until its timeout), and it runs
        // the migrations under their advisory lock.
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "PostgreSQL at {server} did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| connect_error(&server, &options, e))?;
        let migrated = sqlx::migrate!("../migrations/postgres")
            // `run_direct` rather than `run`: `run`'s `Acquire<'a>` bound
            // makes this future fail to prove `Send` ("not general enough").
            .run_direct(None, &mut conn, false)
            .await;
        let _ = conn.close().await;
        migrated?;

        let pool = tokio::time::timeout(
            CONNECT_TIMEOUT,
            PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone()),
        )
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "PostgreSQL at {server} did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| connect_error(&server, &options, e))?;
        tracing::info!(%server, "connected to PostgreSQL store");
        Ok(PgStore { pool })
    }
}

/// Turns a failed connection attempt into a short message. The URL (and so
/// any password in it) is never repeated.
fn connect_error(server: &str, options: &PgConnectOptions, error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Io(e) => {
            StoreError::Unavailable(format!("cannot reach PostgreSQL at {server}: {e}"))
        }
        sqlx::Error::Tls(e) => {
            StoreError::Unavailable(format!("TLS with PostgreSQL at {server} failed: {e}"))
        }
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
            "PostgreSQL at {server} did not answer within {} s",
            ACQUIRE_TIMEOUT.as_secs()
        )),
        sqlx::Error::Configuration(e) => {
            StoreError::BadLocation(format!("bad PostgreSQL settings: {e}"))
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_authorization_specification, invalid_password
            Some("28000" | "28P01") => StoreError::Unavailable(format!(
                "PostgreSQL at {server} refused the login for user {:?}: {}",
                options.get_username(),
                db.message()
            )),
            // invalid_catalog_name
            Some("3D000") => StoreError::BadLocation(format!(
                "PostgreSQL at {server} has no database {:?}; create it first",
                options.get_database().unwrap_or(options.get_username())
            )),
            _ => classify(error),
        },
        _ => classify(error),
    }
}

fn to_version(row: VersionRow) -> StoreResult<PlaybookVersion> {
    let (id, version, source, origin, author, created_at) = row;
    Ok(PlaybookVersion {
        id,
        version,
        source,
        origin: decode_origin(&origin)?,
        author,
        created_at,
    })
}

const SELECT_VERSION: &str = "SELECT playbook_id, version, source, origin, author, created_at \
     FROM playbook_versions WHERE playbook_id = $1 AND version = $2";

const LOCK_PLAYBOOK: &str = "SELECT current_version FROM playbooks WHERE id = $1 FOR UPDATE";

#[async_trait]
impl Store for PgStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    #[tracing::instrument(skip_all, fields(channel = %channel))]
    async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        notify_in(&mut conn, channel, payload).await
    }

    fn pg_pool(&self) -> Option<PgPool> {
        Some(self.pool.clone())
    }
}

/// `pg_notify(channel, payload)` on `conn`: inside a transaction the notice
/// is sent when (and only if) it commits. Payloads are limited to 8000 bytes
/// by PostgreSQL: send an id, not the data.
pub async fn notify_in(
    conn: &mut sqlx::PgConnection,
    channel: &str,
    payload: &str,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await
        .map_err(classify)?;
    Ok(())
}
