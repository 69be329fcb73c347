//! Postmortem queries for the sqlite backend.

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::*;
use crate::store::{
    ImportPostmortem, NewPostmortem, Postmortem, PostmortemStore, PostmortemVersion,
    SavePostmortem, now_micros,
};

type PostmortemRow = (i64, i64, String, i64, String, String, String, String);
type PmVersionRow = (i64, i64, String, String, String);

/// The columns of [`PostmortemRow`] (a macro so queries can `concat!` it).
macro_rules! select_postmortem {
    () => {
        "SELECT p.id, p.incident_id, p.title, p.current_version, \
     p.created_by, p.created_at, v.saved_by, v.saved_at \
     FROM postmortems p \
     JOIN postmortem_versions v ON v.postmortem_id = p.id AND v.version = p.current_version "
    };
}

/// The columns of [`PmVersionRow`].
macro_rules! select_version {
    () => {
        "SELECT postmortem_id, version, source, saved_by, saved_at FROM postmortem_versions "
    };
}

fn to_postmortem(row: PostmortemRow) -> StoreResult<Postmortem> {
    let (id, incident_id, title, current_version, created_by, created_at, updated_by, updated_at) =
        row;
    Ok(Postmortem {
        id,
        incident_id,
        title,
        current_version,
        created_by,
        created_at: parse_time(&created_at)?,
        updated_by,
        updated_at: parse_time(&updated_at)?,
    })
}

fn to_pm_version(row: PmVersionRow) -> StoreResult<PostmortemVersion> {
    let (postmortem_id, version, source, saved_by, saved_at) = row;
    Ok(PostmortemVersion {
        postmortem_id,
        version,
        source,
        saved_by,
        saved_at: parse_time(&saved_at)?,
    })
}

async fn insert_version(
    conn: &mut SqliteConnection,
    id: i64,
    version: i64,
    source: &str,
    who: &str,
    stamp: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO postmortem_versions (postmortem_id, version, source, saved_by, saved_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(version)
    .bind(source)
    .bind(who)
    .bind(stamp)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Appends `source` after `current` (unless unchanged) inside the caller's
/// transaction; returns the version that is current afterwards.
async fn append(
    conn: &mut SqliteConnection,
    id: i64,
    current: i64,
    title: &str,
    source: &str,
    who: &str,
) -> StoreResult<PostmortemVersion> {
    let row: PmVersionRow = sqlx::query_as(concat!(
        select_version!(),
        "WHERE postmortem_id = ? AND version = ?"
    ))
    .bind(id)
    .bind(current)
    .fetch_one(&mut *conn)
    .await
    .map_err(classify)?;
    if row.2 == source {
        return to_pm_version(row);
    }
    let now = now_micros();
    let stamp = format_time(now);
    sqlx::query("UPDATE postmortems SET current_version = ?, title = ? WHERE id = ?")
        .bind(current + 1)
        .bind(title)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
    insert_version(conn, id, current + 1, source, who, &stamp).await?;
    Ok(PostmortemVersion {
        postmortem_id: id,
        version: current + 1,
        source: source.to_owned(),
        saved_by: who.to_owned(),
        saved_at: now,
    })
}

impl SqliteStore {
    /// One postmortem by `query` (one bound id).
    async fn one_postmortem(
        &self,
        query: &'static str,
        value: i64,
    ) -> StoreResult<Option<Postmortem>> {
        let row: Option<PostmortemRow> = sqlx::query_as(query)
            .bind(value)
            .fetch_optional(&self.readers)
            .await
            .map_err(classify)?;
        row.map(to_postmortem).transpose()
    }
}

#[async_trait]
impl PostmortemStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(incident_id = new.incident_id))]
    async fn create_postmortem(&self, new: NewPostmortem<'_>) -> StoreResult<(Postmortem, bool)> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM postmortems WHERE incident_id = ?")
                .bind(new.incident_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
        if let Some(id) = existing {
            tx.rollback().await.map_err(classify)?;
            let found = self.postmortem(id).await?.ok_or(StoreError::NotFound)?;
            return Ok((found, false));
        }
        let now = now_micros();
        let stamp = format_time(now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO postmortems (incident_id, title, current_version, created_by, created_at) \
             VALUES (?, ?, 1, ?, ?) RETURNING id",
        )
        .bind(new.incident_id)
        .bind(new.title)
        .bind(new.who)
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        insert_version(&mut tx, id, 1, &(new.draft)(id), new.who, &stamp).await?;
        tx.commit().await.map_err(classify)?;
        Ok((
            Postmortem {
                id,
                incident_id: new.incident_id,
                title: new.title.to_owned(),
                current_version: 1,
                created_by: new.who.to_owned(),
                created_at: now,
                updated_by: new.who.to_owned(),
                updated_at: now,
            },
            true,
        ))
    }

    #[tracing::instrument(skip_all, fields(id = id))]
    async fn postmortem(&self, id: i64) -> StoreResult<Option<Postmortem>> {
        self.one_postmortem(concat!(select_postmortem!(), "WHERE p.id = ?"), id)
            .await
    }

    #[tracing::instrument(skip_all, fields(incident_id = incident_id))]
    async fn postmortem_for_incident(&self, incident_id: i64) -> StoreResult<Option<Postmortem>> {
        self.one_postmortem(
            concat!(select_postmortem!(), "WHERE p.incident_id = ?"),
            incident_id,
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn postmortems(&self) -> StoreResult<Vec<Postmortem>> {
        let rows: Vec<PostmortemRow> = sqlx::query_as(concat!(
            select_postmortem!(),
            "ORDER BY v.saved_at DESC, p.id DESC"
        ))
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_postmortem).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn current_postmortem_texts(&self) -> StoreResult<Vec<PostmortemVersion>> {
        let rows: Vec<PmVersionRow> = sqlx::query_as(
            "SELECT v.postmortem_id, v.version, v.source, v.saved_by, v.saved_at \
             FROM postmortems p \
             JOIN postmortem_versions v ON v.postmortem_id = p.id AND v.version = p.current_version \
             ORDER BY p.id",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_pm_version).collect()
    }

    #[tracing::instrument(skip_all, fields(id = id, version = version))]
    async fn postmortem_version(
        &self,
        id: i64,
        version: i64,
    ) -> StoreResult<Option<PostmortemVersion>> {
        let row: Option<PmVersionRow> = sqlx::query_as(concat!(
            select_version!(),
            "WHERE postmortem_id = ? AND version = ?"
        ))
        .bind(id)
        .bind(version)
        .fetch_optional(&self.readers)
        .await
        .map_err(classify)?;
        row.map(to_pm_version).transpose()
    }

    #[tracing::instrument(skip_all, fields(id = id))]
    async fn postmortem_history(&self, id: i64) -> StoreResult<Vec<PostmortemVersion>> {
        let rows: Vec<PmVersionRow> = sqlx::query_as(concat!(
            select_version!(),
            "WHERE postmortem_id = ? ORDER BY version DESC"
        ))
        .bind(id)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_pm_version).collect()
    }

    #[tracing::instrument(skip_all, fields(id = save.id, base_version = ?save.base_version))]
    async fn save_postmortem(&self, save: SavePostmortem<'_>) -> StoreResult<PostmortemVersion> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let current: i64 =
            sqlx::query_scalar("SELECT current_version FROM postmortems WHERE id = ?")
                .bind(save.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?
                .ok_or(StoreError::NotFound)?;
        if save.base_version.is_some_and(|base| base != current) {
            return Err(StoreError::Conflict { current });
        }
        let saved = append(&mut tx, save.id, current, save.title, save.source, save.who).await?;
        tx.commit().await.map_err(classify)?;
        Ok(saved)
    }

    #[tracing::instrument(skip_all, fields(id = import.id))]
    async fn import_postmortem(
        &self,
        import: ImportPostmortem<'_>,
    ) -> StoreResult<PostmortemVersion> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let current: Option<(i64, i64)> =
            sqlx::query_as("SELECT current_version, incident_id FROM postmortems WHERE id = ?")
                .bind(import.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
        let saved = match current {
            Some((_, incident)) if incident != import.incident_id => {
                return Err(StoreError::AlreadyExists(format!(
                    "postmortem {}, of incident {incident}",
                    import.id
                )));
            }
            Some((current, _)) => {
                append(
                    &mut tx,
                    import.id,
                    current,
                    import.title,
                    import.source,
                    import.who,
                )
                .await?
            }
            None => {
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM postmortems WHERE incident_id = ?")
                        .bind(import.incident_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(classify)?;
                if let Some(other) = taken {
                    return Err(StoreError::AlreadyExists(format!(
                        "postmortem {other} of incident {}",
                        import.incident_id
                    )));
                }
                let now = now_micros();
                let stamp = format_time(now);
                sqlx::query(
                    "INSERT INTO postmortems \
                     (id, incident_id, title, current_version, created_by, created_at) \
                     VALUES (?, ?, ?, 1, ?, ?)",
                )
                .bind(import.id)
                .bind(import.incident_id)
                .bind(import.title)
                .bind(import.who)
                .bind(&stamp)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                insert_version(&mut tx, import.id, 1, import.source, import.who, &stamp).await?;
                PostmortemVersion {
                    postmortem_id: import.id,
                    version: 1,
                    source: import.source.to_owned(),
                    saved_by: import.who.to_owned(),
                    saved_at: now,
                }
            }
        };
        tx.commit().await.map_err(classify)?;
        Ok(saved)
    }
}
