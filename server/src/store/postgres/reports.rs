//! Collector and report queries for the postgres backend.
//!
//! Report ids are `UUID` columns; the driver is built without its uuid
//! feature, so ids travel as text with an explicit `::uuid` / `::text` cast.

use std::collections::BTreeMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use sqlx::PgConnection;

use crate::store::reports::{
    TOKEN_HASH_LEN, clamp_limit, decode_labels, decode_uuid, dooms_batch, encode_labels,
    for_each_write, micros, replicate,
};
use crate::store::{
    BatchDone, BatchWrite, CollectorCredential, CollectorRecord, EventKind, Inserted, MatchSource,
    NewReport, ReportStore, ReportSummary, StoredReport, now_micros,
};

type Time = DateTime<Utc>;
type CollectorRow = (String, String, Time, Option<Time>, Option<Time>);
type SummaryRow = (String, String, String, String, Time, Time, Time);

const SELECT_COLLECTOR: &str = "SELECT name, labels, created_at, last_report_at, revoked_at \
     FROM collectors WHERE name = $1";

fn to_collector(row: CollectorRow) -> StoreResult<CollectorRecord> {
    let (name, labels, created_at, last_report_at, revoked_at) = row;
    Ok(CollectorRecord {
        name,
        labels: decode_labels(&labels)?,
        created_at,
        last_report_at,
        revoked_at,
    })
}

fn to_summary(row: SummaryRow) -> StoreResult<ReportSummary> {
    let (id, collector, host, labels, started_at, finished_at, received_at) = row;
    Ok(ReportSummary {
        report_id: decode_uuid(&id)?,
        collector,
        host,
        labels: decode_labels(&labels)?,
        started_at,
        finished_at,
        received_at,
    })
}

/// Inserts a report inside the caller's transaction: `Stored` (and the
/// collector's `last_report_at` moved) or `Existing` (nothing written).
/// A concurrent insert of the same id makes this wait for that
/// transaction and then do nothing.
async fn insert_in(conn: &mut PgConnection, new: &NewReport<'_>) -> StoreResult<Inserted> {
    let id = new.report_id.hyphenated().to_string();
    let received = micros(new.received_at);
    let inserted = sqlx::query(
        "INSERT INTO reports (report_id, collector, host, labels, started_at, finished_at, \
         received_at, body, answer) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (report_id) DO NOTHING",
    )
    .bind(&id)
    .bind(new.collector)
    .bind(new.host)
    .bind(encode_labels(new.labels))
    .bind(micros(new.started_at))
    .bind(micros(new.finished_at))
    .bind(received)
    .bind(new.body)
    .bind(new.answer)
    .execute(&mut *conn)
    .await
    .map_err(classify)?;
    if inserted.rows_affected() == 0 {
        let (collector, answer): (String, String) =
            sqlx::query_as("SELECT collector, answer FROM reports WHERE report_id = $1::uuid")
                .bind(&id)
                .fetch_one(&mut *conn)
                .await
                .map_err(classify)?;
        return Ok(Inserted::Existing { collector, answer });
    }
    sqlx::query(
        "UPDATE collectors SET last_report_at = $1 \
         WHERE name = $2 AND (last_report_at IS NULL OR last_report_at < $1)",
    )
    .bind(received)
    .bind(new.collector)
    .execute(&mut *conn)
    .await
    .map_err(classify)?;
    Ok(Inserted::Stored)
}

/// Records likely playbooks inside the caller's transaction.
async fn record_in(
    conn: &mut PgConnection,
    source: MatchSource,
    source_id: &str,
    playbooks: &[String],
) -> StoreResult<()> {
    if playbooks.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO playbook_matches (playbook, source, source_id, at) \
         SELECT p, $2, $3, $4 FROM unnest($1::text[]) AS p ON CONFLICT DO NOTHING",
    )
    .bind(playbooks)
    .bind(source.as_str())
    .bind(source_id)
    .bind(now_micros())
    .execute(&mut *conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// One write of a batch, inside its savepoint.
async fn write_one(conn: &mut PgConnection, write: &BatchWrite) -> StoreResult<BatchDone> {
    match write {
        BatchWrite::Report { report, likely } => {
            let inserted = insert_in(conn, &report.as_new()).await?;
            if inserted == Inserted::Stored {
                let id = report.report_id.hyphenated().to_string();
                record_in(conn, MatchSource::Report, &id, likely).await?;
            }
            Ok(BatchDone::Report(inserted))
        }
        BatchWrite::ReportEvent {
            incident_id,
            who,
            body,
            likely,
        } => {
            if super::incidents::fetch_incident(conn, *incident_id)
                .await?
                .is_none()
            {
                return Err(StoreError::NotFound);
            }
            let event =
                super::incidents::insert_event(conn, *incident_id, who, EventKind::Report, body)
                    .await?;
            record_in(
                conn,
                MatchSource::Incident,
                &incident_id.to_string(),
                likely,
            )
            .await?;
            Ok(BatchDone::Event(event))
        }
    }
}

fn unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl ReportStore for PgStore {
    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn add_collector(
        &self,
        name: &str,
        token_hash: &[u8; TOKEN_HASH_LEN],
        labels: &BTreeMap<String, String>,
    ) -> StoreResult<CollectorRecord> {
        let now = now_micros();
        let result = sqlx::query(
            "INSERT INTO collectors (name, token_hash, labels, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&token_hash[..])
        .bind(encode_labels(labels))
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(CollectorRecord {
                name: name.to_owned(),
                labels: labels.clone(),
                created_at: now,
                last_report_at: None,
                revoked_at: None,
            }),
            Err(e) if unique_violation(&e) => Err(StoreError::AlreadyExists(format!(
                "a collector named {name:?} already exists"
            ))),
            Err(e) => Err(classify(e)),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn collector_by_token_hash(
        &self,
        token_hash: &[u8; TOKEN_HASH_LEN],
    ) -> StoreResult<Option<CollectorCredential>> {
        let row: Option<(String, String, Time, Option<Time>, Option<Time>, Vec<u8>)> =
            sqlx::query_as(
                "SELECT name, labels, created_at, last_report_at, revoked_at, token_hash \
                 FROM collectors WHERE token_hash = $1",
            )
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|(name, labels, created, last, revoked, hash)| {
            Ok(CollectorCredential {
                collector: to_collector((name, labels, created, last, revoked))?,
                token_hash: hash,
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn collector(&self, name: &str) -> StoreResult<Option<CollectorRecord>> {
        let row: Option<CollectorRow> = sqlx::query_as(SELECT_COLLECTOR)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(to_collector).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn collectors(&self) -> StoreResult<Vec<CollectorRecord>> {
        // COLLATE "C": byte order, as in SQLite.
        let rows: Vec<CollectorRow> = sqlx::query_as(
            "SELECT name, labels, created_at, last_report_at, revoked_at \
             FROM collectors ORDER BY name COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_collector).collect()
    }

    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn revoke_collector(&self, name: &str) -> StoreResult<CollectorRecord> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        sqlx::query("UPDATE collectors SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now_micros())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let row: Option<CollectorRow> = sqlx::query_as(SELECT_COLLECTOR)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        row.map(to_collector)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(report_id = %new.report_id, collector = %new.collector))]
    async fn insert_report(&self, new: NewReport<'_>) -> StoreResult<Inserted> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let inserted = insert_in(&mut tx, &new).await?;
        if inserted == Inserted::Stored {
            // synchronous_commit (on by default): durable when COMMIT returns.
            tx.commit().await.map_err(classify)?;
        } else {
            tx.rollback().await.map_err(classify)?;
        }
        Ok(inserted)
    }

    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn write_batch(&self, writes: &[BatchWrite]) -> Vec<StoreResult<BatchDone>> {
        if writes.is_empty() {
            return Vec::new();
        }
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(e) => return for_each_write(&classify(e), writes.len()),
        };
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            // A failed statement aborts a PostgreSQL transaction: each write
            // has its savepoint, so only that write is undone.
            let step = async {
                sqlx::query("SAVEPOINT batch_write")
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                let done = write_one(&mut tx, write).await;
                if let Err(e) = &done {
                    if dooms_batch(e) {
                        return Err(replicate(e));
                    }
                    sqlx::query("ROLLBACK TO SAVEPOINT batch_write")
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                sqlx::query("RELEASE SAVEPOINT batch_write")
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                Ok(done)
            };
            let outcome = step.await;
            match outcome {
                Ok(done) => results.push(done),
                Err(e) => {
                    let _ = tx.rollback().await;
                    return for_each_write(&e, writes.len());
                }
            }
        }
        // synchronous_commit: the whole batch is durable when COMMIT returns.
        if let Err(e) = tx.commit().await {
            return for_each_write(&classify(e), writes.len());
        }
        results
    }

    #[tracing::instrument(skip_all, fields(report_id = %report_id))]
    async fn report(&self, report_id: Uuid) -> StoreResult<Option<StoredReport>> {
        type Row = (
            String,
            String,
            String,
            String,
            Time,
            Time,
            Time,
            String,
            String,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT report_id::text, collector, host, labels, started_at, finished_at, \
             received_at, body, answer FROM reports WHERE report_id = $1::uuid",
        )
        .bind(report_id.hyphenated().to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(|(a, b, c, d, e, f, g, body, answer)| {
            Ok(StoredReport {
                summary: to_summary((a, b, c, d, e, f, g))?,
                body,
                answer,
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(collector = ?collector, limit = limit))]
    async fn recent_reports(
        &self,
        collector: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ReportSummary>> {
        // Two statements, so each uses its index.
        let query = match collector {
            Some(c) => sqlx::query_as(
                "SELECT report_id::text, collector, host, labels, started_at, finished_at, \
                 received_at FROM reports WHERE collector = $2 \
                 ORDER BY received_at DESC, report_id DESC LIMIT $1",
            )
            .bind(clamp_limit(limit))
            .bind(c),
            None => sqlx::query_as(
                "SELECT report_id::text, collector, host, labels, started_at, finished_at, \
                 received_at FROM reports ORDER BY received_at DESC, report_id DESC LIMIT $1",
            )
            .bind(clamp_limit(limit)),
        };
        let rows: Vec<SummaryRow> = query.fetch_all(&self.pool).await.map_err(classify)?;
        rows.into_iter().map(to_summary).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn recent_start_times(&self, per_collector: i64) -> StoreResult<Vec<(String, Time)>> {
        // One short index walk per collector (reports_collector_started),
        // rather than a window over the whole table.
        let rows: Vec<(String, Time)> = sqlx::query_as(
            "SELECT c.name, r.started_at FROM collectors c \
             CROSS JOIN LATERAL ( \
               SELECT started_at FROM reports WHERE collector = c.name \
               ORDER BY started_at DESC LIMIT $1 \
             ) r ORDER BY c.name COLLATE \"C\", r.started_at DESC",
        )
        .bind(clamp_limit(per_collector))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows)
    }
}
