//! Playbook queries for the postgres backend.

use async_trait::async_trait;

use super::*;
use crate::store::{NewVersion, PlaybookStore, check_base, now_micros};

#[async_trait]
impl PlaybookStore for PgStore {
    #[tracing::instrument(skip_all)]
    async fn current_playbooks(&self) -> StoreResult<Vec<PlaybookVersion>> {
        // COLLATE "C": byte order, the same as SQLite, whatever the
        // database's locale.
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT v.playbook_id, v.version, v.source, v.origin, v.author, v.created_at \
             FROM playbooks p \
             JOIN playbook_versions v ON v.playbook_id = p.id AND v.version = p.current_version \
             ORDER BY p.id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
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
             WHERE p.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(to_version).transpose()
    }

    #[tracing::instrument(skip_all, fields(id = %new.id, base_version = ?new.base_version))]
    async fn save_playbook(&self, new: NewVersion<'_>) -> StoreResult<PlaybookVersion> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = now_micros();

        let mut current: Option<i64> = sqlx::query_scalar(LOCK_PLAYBOOK)
            .bind(new.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        let mut created = false;
        if check_base(current, new.base_version)?.is_none() {
            // A concurrent creator makes this insert wait for its commit and
            // then do nothing; the row is then there to lock.
            let inserted = sqlx::query(
                "INSERT INTO playbooks (id, current_version, created_at, updated_at) \
                 VALUES ($1, 1, $2, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(new.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            if inserted.rows_affected() == 1 {
                created = true;
            } else {
                current = sqlx::query_scalar(LOCK_PLAYBOOK)
                    .bind(new.id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
        }

        let version = if created {
            1
        } else {
            let Some(current) = check_base(current, new.base_version)? else {
                // Only reachable if the row vanished between the two
                // statements; there is no delete, so treat it as a race.
                return Err(StoreError::Unavailable(
                    "the playbook changed during the save; try again".into(),
                ));
            };
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
            sqlx::query("UPDATE playbooks SET current_version = $1, updated_at = $2 WHERE id = $3")
                .bind(current + 1)
                .bind(now)
                .bind(new.id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            current + 1
        };

        sqlx::query(
            "INSERT INTO playbook_versions \
             (playbook_id, version, source, origin, author, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.id)
        .bind(version)
        .bind(new.source)
        .bind(new.origin.as_str())
        .bind(new.author)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        // Every replica's index follows (`replicas`); sent only on commit.
        notify_in(&mut tx, crate::store::PLAYBOOKS_CHANNEL, new.id).await?;
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
             FROM playbook_versions WHERE playbook_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
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
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(to_version).transpose()
    }
}
