//! Retention queries for the sqlite backend: each batch is one short
//! `BEGIN IMMEDIATE` on the writer, so ingest waits at most one batch.
//! Pinned reports are skipped with `NOT EXISTS` over the pins' primary key.

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::store::reports::decode_uuid;
use std::collections::BTreeMap;

use crate::store::retention::{RetentionStore, RolledUp, Unrolled, group_pins};

#[async_trait]
impl RetentionStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn reports_to_roll_up(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Unrolled>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT report_id, body FROM reports \
             WHERE rolled_up_at IS NULL AND received_at < ? \
             AND NOT EXISTS (SELECT 1 FROM report_pins p WHERE p.report_id = reports.report_id) \
             ORDER BY received_at LIMIT ?",
        )
        .bind(format_time(before))
        .bind(limit.max(1))
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(|(id, body)| {
                Ok(Unrolled {
                    report_id: decode_uuid(&id)?,
                    body,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(n = rolled.len()))]
    async fn roll_up_reports(&self, rolled: &[RolledUp], at: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let at = format_time(at);
        let mut changed = 0;
        for r in rolled {
            changed += sqlx::query(
                "UPDATE reports SET body = ?, signals = ?, rolled_up_at = ? \
                 WHERE report_id = ? AND rolled_up_at IS NULL",
            )
            .bind(&r.body)
            .bind(&r.signals)
            .bind(&at)
            .bind(r.report_id.hyphenated().to_string())
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected();
        }
        tx.commit().await.map_err(classify)?;
        Ok(changed)
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn delete_reports_before(&self, before: DateTime<Utc>, limit: i64) -> StoreResult<u64> {
        let deleted = sqlx::query(
            "DELETE FROM reports WHERE report_id IN ( \
               SELECT report_id FROM reports WHERE received_at < ? \
               AND NOT EXISTS (SELECT 1 FROM report_pins p WHERE p.report_id = reports.report_id) \
               ORDER BY received_at LIMIT ?)",
        )
        .bind(format_time(before))
        .bind(limit.max(1))
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(deleted.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(report_id = %report_id))]
    async fn report_signals(&self, report_id: Uuid) -> StoreResult<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT signals FROM reports WHERE report_id = ?")
                .bind(report_id.hyphenated().to_string())
                .fetch_optional(&self.readers)
                .await
                .map_err(classify)?;
        Ok(row.and_then(|(s,)| s))
    }

    #[tracing::instrument(skip_all, fields(holder = holder, n = reports.len()))]
    async fn set_report_pins(&self, holder: &str, reports: &[Uuid]) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        sqlx::query("DELETE FROM report_pins WHERE holder = ?")
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        insert_pins(&mut tx, holder, reports).await?;
        tx.commit().await.map_err(classify)
    }

    async fn add_report_pins(&self, holder: &str, reports: &[Uuid]) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        insert_pins(&mut tx, holder, reports).await?;
        tx.commit().await.map_err(classify)
    }

    #[tracing::instrument(skip_all, fields(holder = holder))]
    async fn report_pins(&self, holder: &str) -> StoreResult<Vec<Uuid>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT report_id FROM report_pins WHERE holder = ? ORDER BY report_id")
                .bind(holder)
                .fetch_all(&self.readers)
                .await
                .map_err(classify)?;
        rows.iter().map(|(id,)| decode_uuid(id)).collect()
    }

    async fn all_report_pins(&self) -> StoreResult<BTreeMap<String, Vec<Uuid>>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT holder, report_id FROM report_pins ORDER BY holder, report_id")
                .fetch_all(&self.readers)
                .await
                .map_err(classify)?;
        group_pins(rows)
    }
}

/// Pins `reports` for `holder`; those already pinned stay as they are.
async fn insert_pins(
    tx: &mut sqlx::SqliteConnection,
    holder: &str,
    reports: &[Uuid],
) -> StoreResult<()> {
    for id in reports {
        sqlx::query(
            "INSERT INTO report_pins (report_id, holder) VALUES (?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.hyphenated().to_string())
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    }
    Ok(())
}
