//! Playbook queries for the sqlite backend.

use async_trait::async_trait;

use super::*;
use crate::store::{NewVersion, PlaybookStore, check_base, now_micros};

#[async_trait]
impl PlaybookStore for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn current_playbooks(&self) -> StoreResult<Vec<PlaybookVersion>> {
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT v.playbook_id, v.version, v.source, v.origin, v.author, v.created_at \
             FROM playbooks p \
             JOIN playbook_versions v ON v.playbook_id = p.id AND v.version = p.current_version \
             ORDER BY p.id",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_version).collect()
    }

    #[tracing::instrument(skip_all, fields(id = %id))]
    async fn current_playbook(&self, id: &str) -> StoreResult<Option<PlaybookVersion>> {
        let row: Option<VersionRow> = sqlx::query_as(
            "SELECT v.playbook_id, v.version, v.source, v.origin, v.author, v.created_at \
             FROM playbooks p \
             JOIN playbook_versions v ON v.playbook_id = p.id AND v.version = p.current_version \
             WHERE p.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.readers)
        .await
        .map_err(classify)?;
        row.map(to_version).transpose()
    }

    #[tracing::instrument(skip_all, fields(id = %new.id, base_version = ?new.base_version))]
    async fn save_playbook(&self, new: NewVersion<'_>) -> StoreResult<PlaybookVersion> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT current_version FROM playbooks WHERE id = ?")
                .bind(new.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
        let now = now_micros();
        let stamp = format_time(now);

        let version = match check_base(current, new.base_version)? {
            None => {
                sqlx::query(
                    "INSERT INTO playbooks (id, current_version, created_at, updated_at) \
                     VALUES (?, 1, ?, ?)",
                )
                .bind(new.id)
                .bind(&stamp)
                .bind(&stamp)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                1
            }
            Some(current) => {
                let row: VersionRow = sqlx::query_as(SELECT_VERSION)
                    .bind(new.id)
                    .bind(current)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                if row.2 == new.source {
                    tx.rollback().await.map_err(classify)?;
                    return to_version(row);
                }
                sqlx::query(
                    "UPDATE playbooks SET current_version = ?, updated_at = ? WHERE id = ?",
                )
                .bind(current + 1)
                .bind(&stamp)
                .bind(new.id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                current + 1
            }
        };

        sqlx::query(
            "INSERT INTO playbook_versions \
             (playbook_id, version, source, origin, author, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(new.id)
        .bind(version)
        .bind(new.source)
        .bind(new.origin.as_str())
        .bind(new.author)
        .bind(&stamp)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;

        Ok(PlaybookVersion {
            id: new.id.to_owned(),
            version,
            source: new.source.to_owned(),
            origin: new.origin,
            author: new.author.map(str::to_owned),
            created_at: now,
        })
    }

    #[tracing::instrument(skip_all, fields(id = %id))]
    async fn playbook_history(&self, id: &str) -> StoreResult<Vec<PlaybookVersion>> {
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT playbook_id, version, source, origin, author, created_at \
             FROM playbook_versions WHERE playbook_id = ? ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_version).collect()
    }

    #[tracing::instrument(skip_all, fields(id = %id, version = version))]
    async fn playbook_version(
        &self,
        id: &str,
        version: i64,
    ) -> StoreResult<Option<PlaybookVersion>> {
        let row: Option<VersionRow> = sqlx::query_as(SELECT_VERSION)
            .bind(id)
            .bind(version)
            .fetch_optional(&self.readers)
            .await
            .map_err(classify)?;
        row.map(to_version).transpose()
    }
}
