//! Retention queries for the postgres backend. Pinned reports are skipped
//! with `NOT EXISTS` over the pins' primary key.

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::store::reports::decode_uuid;
use std::collections::BTreeMap;

use crate::store::retention::{RetentionStore, RolledUp, Unrolled, group_pins};

/// Pins the ids in `$1` for holder `$2`; those already pinned stay.
const INSERT_PINS: &str = "INSERT INTO report_pins (report_id, holder) \
     SELECT DISTINCT id::uuid, $2 FROM unnest($1::text[]) AS id \
     ON CONFLICT DO NOTHING";

#[async_trait]
impl RetentionStore for PgStore {
    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn reports_to_roll_up(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Unrolled>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT report_id::text, body FROM reports \
             WHERE rolled_up_at IS NULL AND received_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM report_pins p WHERE p.report_id = reports.report_id) \
             ORDER BY received_at LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let mut changed = 0;
        for r in rolled {
            changed += sqlx::query(
                "UPDATE reports SET body = $1, signals = $2, rolled_up_at = $3 \
                 WHERE report_id = $4::uuid AND rolled_up_at IS NULL",
            )
            .bind(&r.body)
            .bind(&r.signals)
            .bind(at)
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
               SELECT report_id FROM reports WHERE received_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM report_pins p WHERE p.report_id = reports.report_id) \
               ORDER BY received_at LIMIT $2)",
        )
        .bind(before)
        .bind(limit.max(1))
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(deleted.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(report_id = %report_id))]
    async fn report_signals(&self, report_id: Uuid) -> StoreResult<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT signals FROM reports WHERE report_id = $1::uuid")
                .bind(report_id.hyphenated().to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
        Ok(row.and_then(|(s,)| s))
    }

    #[tracing::instrument(skip_all, fields(holder = holder, n = reports.len()))]
    async fn set_report_pins(&self, holder: &str, reports: &[Uuid]) -> StoreResult<()> {
        let ids: Vec<String> = reports
            .iter()
            .map(|id| id.hyphenated().to_string())
            .collect();
        let mut tx = self.pool.begin().await.map_err(classify)?;
        sqlx::query("DELETE FROM report_pins WHERE holder = $1")
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query(INSERT_PINS)
            .bind(&ids)
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    async fn add_report_pins(&self, holder: &str, reports: &[Uuid]) -> StoreResult<()> {
        let ids: Vec<String> = reports
            .iter()
            .map(|id| id.hyphenated().to_string())
            .collect();
        sqlx::query(INSERT_PINS)
            .bind(&ids)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(holder = holder))]
    async fn report_pins(&self, holder: &str) -> StoreResult<Vec<Uuid>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT report_id::text FROM report_pins WHERE holder = $1 ORDER BY report_id",
        )
        .bind(holder)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(|(id,)| decode_uuid(id)).collect()
    }

    async fn all_report_pins(&self) -> StoreResult<BTreeMap<String, Vec<Uuid>>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT holder, report_id::text FROM report_pins ORDER BY holder, report_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        group_pins(rows)
    }
}
