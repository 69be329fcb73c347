//! Notification targets and server secrets for the sqlite backend.

use async_trait::async_trait;

use super::*;
use crate::store::notifications::{decode_target, encode_target};
use crate::store::{NewTarget, NotificationStore, StoredTarget, now_micros};

type TargetRow = (String, String, String, String, String, i64, String, String);

fn to_target(row: TargetRow) -> StoreResult<StoredTarget> {
    let (name, kind, url, labels, events, fallback, created_by, created_at) = row;
    let (labels, events) = decode_target(&labels, &events)?;
    Ok(StoredTarget {
        name,
        kind,
        url,
        labels,
        events,
        fallback: fallback != 0,
        created_by,
        created_at: parse_time(&created_at)?,
    })
}

#[async_trait]
impl NotificationStore for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn notification_targets(&self) -> StoreResult<Vec<StoredTarget>> {
        let rows: Vec<TargetRow> = sqlx::query_as(
            "SELECT name, kind, url, match_labels, events, fallback, created_by, created_at \
             FROM notification_targets ORDER BY name",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_target).collect()
    }

    #[tracing::instrument(skip_all, fields(name = new.name))]
    async fn add_notification_target(&self, new: NewTarget<'_>) -> StoreResult<StoredTarget> {
        let (labels, events) = encode_target(&new);
        let at = now_micros();
        sqlx::query(
            "INSERT INTO notification_targets (name, kind, url, match_labels, events, fallback, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.name)
        .bind(new.kind)
        .bind(new.url)
        .bind(&labels)
        .bind(&events)
        .bind(i64::from(new.fallback))
        .bind(new.who)
        .bind(format_time(at))
        .execute(&self.writer)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::AlreadyExists(format!("a notification target named {:?}", new.name))
            }
            _ => classify(e),
        })?;
        Ok(StoredTarget {
            name: new.name.to_owned(),
            kind: new.kind.to_owned(),
            url: new.url.to_owned(),
            labels: new.labels.clone(),
            events: new.events.to_vec(),
            fallback: new.fallback,
            created_by: new.who.to_owned(),
            created_at: at,
        })
    }

    #[tracing::instrument(skip_all)]
    async fn remove_notification_target(&self, name: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM notification_targets WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn server_secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        let (value,): (String,) = sqlx::query_as("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.writer)
            .await
            .map_err(classify)?;
        Ok(value)
    }
}
