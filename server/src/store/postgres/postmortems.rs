//! Postmortem queries for the postgres backend. Saves lock the postmortem
//! row (`FOR UPDATE`), so two saves from the same base serialise and the
//! second gets `Conflict`.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::*;
use crate::store::{
    ImportPostmortem, NewPostmortem, POSTMORTEMS_CHANNEL, Postmortem, PostmortemStore,
    PostmortemVersion, SavePostmortem, now_micros,
};

type PostmortemRow = (
    i64,
    i64,
    String,
    i64,
    String,
    DateTime<Utc>,
    String,
    DateTime<Utc>,
);
type PmVersionRow = (i64, i64, String, String, DateTime<Utc>);

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

const LOCK_POSTMORTEM: &str = "SELECT current_version FROM postmortems WHERE id = $1 FOR UPDATE";

fn to_postmortem(row: PostmortemRow) -> Postmortem {
    let (id, incident_id, title, current_version, created_by, created_at, updated_by, updated_at) =
        row;
    Postmortem {
        id,
        incident_id,
        title,
        current_version,
        created_by,
        created_at,
        updated_by,
        updated_at,
    }
}

fn to_pm_version(row: PmVersionRow) -> PostmortemVersion {
    let (postmortem_id, version, source, saved_by, saved_at) = row;
    PostmortemVersion {
        postmortem_id,
        version,
        source,
        saved_by,
        saved_at,
    }
}

async fn insert_version(
    conn: &mut PgConnection,
    id: i64,
    version: i64,
    source: &str,
    who: &str,
    at: DateTime<Utc>,
) -> StoreResult<PostmortemVersion> {
    sqlx::query(
        "INSERT INTO postmortem_versions (postmortem_id, version, source, saved_by, saved_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(version)
    .bind(source)
    .bind(who)
    .bind(at)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(PostmortemVersion {
        postmortem_id: id,
        version,
        source: source.to_owned(),
        saved_by: who.to_owned(),
        saved_at: at,
    })
}

/// Appends `source` after `current` (unless unchanged) inside the caller's
/// transaction, which holds the row lock.
async fn append(
    conn: &mut PgConnection,
    id: i64,
    current: i64,
    title: &str,
    source: &str,
    who: &str,
) -> StoreResult<PostmortemVersion> {
    let row: PmVersionRow = sqlx::query_as(concat!(
        select_version!(),
        "WHERE postmortem_id = $1 AND version = $2"
    ))
    .bind(id)
    .bind(current)
    .fetch_one(&mut *conn)
    .await
    .map_err(classify)?;
    if row.2 == source {
        return Ok(to_pm_version(row));
    }
    sqlx::query("UPDATE postmortems SET current_version = $1, title = $2 WHERE id = $3")
        .bind(current + 1)
        .bind(title)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
    insert_version(conn, id, current + 1, source, who, now_micros()).await
}

impl PgStore {
    /// One postmortem by `query` (one bound id).
    async fn one_postmortem(
        &self,
        query: &'static str,
        value: i64,
    ) -> StoreResult<Option<Postmortem>> {
        let row: Option<PostmortemRow> = sqlx::query_as(query)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.map(to_postmortem))
    }
}

#[async_trait]
impl PostmortemStore for PgStore {
    #[tracing::instrument(skip_all, fields(incident_id = new.incident_id))]
    async fn create_postmortem(&self, new: NewPostmortem<'_>) -> StoreResult<(Postmortem, bool)> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = now_micros();
        // A concurrent creator for the same incident makes this wait for its
        // commit and then insert nothing.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO postmortems (incident_id, title, current_version, created_by, created_at) \
             VALUES ($1, $2, 1, $3, $4) ON CONFLICT (incident_id) DO NOTHING RETURNING id",
        )
        .bind(new.incident_id)
        .bind(new.title)
        .bind(new.who)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(id) = id else {
            tx.rollback().await.map_err(classify)?;
            let found = self
                .postmortem_for_incident(new.incident_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Ok((found, false));
        };
        insert_version(&mut tx, id, 1, &(new.draft)(id), new.who, now).await?;
        notify_in(&mut tx, POSTMORTEMS_CHANNEL, &id.to_string()).await?;
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
        self.one_postmortem(concat!(select_postmortem!(), "WHERE p.id = $1"), id)
            .await
    }

    #[tracing::instrument(skip_all, fields(incident_id = incident_id))]
    async fn postmortem_for_incident(&self, incident_id: i64) -> StoreResult<Option<Postmortem>> {
        self.one_postmortem(
            concat!(select_postmortem!(), "WHERE p.incident_id = $1"),
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
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().map(to_postmortem).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn current_postmortem_texts(&self) -> StoreResult<Vec<PostmortemVersion>> {
        let rows: Vec<PmVersionRow> = sqlx::query_as(
            "SELECT v.postmortem_id, v.version, v.source, v.saved_by, v.saved_at \
             FROM postmortems p \
             JOIN postmortem_versions v ON v.postmortem_id = p.id AND v.version = p.current_version \
             ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().map(to_pm_version).collect())
    }

    #[tracing::instrument(skip_all, fields(id = id, version = version))]
    async fn postmortem_version(
        &self,
        id: i64,
        version: i64,
    ) -> StoreResult<Option<PostmortemVersion>> {
        let row: Option<PmVersionRow> = sqlx::query_as(concat!(
            select_version!(),
            "WHERE postmortem_id = $1 AND version = $2"
        ))
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        Ok(row.map(to_pm_version))
    }

    #[tracing::instrument(skip_all, fields(id = id))]
    async fn postmortem_history(&self, id: i64) -> StoreResult<Vec<PostmortemVersion>> {
        let rows: Vec<PmVersionRow> = sqlx::query_as(concat!(
            select_version!(),
            "WHERE postmortem_id = $1 ORDER BY version DESC"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().map(to_pm_version).collect())
    }

    #[tracing::instrument(skip_all, fields(id = save.id, base_version = ?save.base_version))]
    async fn save_postmortem(&self, save: SavePostmortem<'_>) -> StoreResult<PostmortemVersion> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let current: i64 = sqlx::query_scalar(LOCK_POSTMORTEM)
            .bind(save.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
            .ok_or(StoreError::NotFound)?;
        if save.base_version.is_some_and(|base| base != current) {
            return Err(StoreError::Conflict { current });
        }
        let saved = append(&mut tx, save.id, current, save.title, save.source, save.who).await?;
        notify_in(&mut tx, POSTMORTEMS_CHANNEL, &save.id.to_string()).await?;
        tx.commit().await.map_err(classify)?;
        Ok(saved)
    }

    #[tracing::instrument(skip_all, fields(id = import.id))]
    async fn import_postmortem(
        &self,
        import: ImportPostmortem<'_>,
    ) -> StoreResult<PostmortemVersion> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = now_micros();
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO postmortems \
             (id, incident_id, title, current_version, created_by, created_at) \
             VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(import.id)
        .bind(import.incident_id)
        .bind(import.title)
        .bind(import.who)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let saved = if created.is_some() {
            // The id was given, not drawn: move the sequence past it so the
            // next drafted postmortem does not collide.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('postmortems', 'id'), \
                 (SELECT MAX(id) FROM postmortems))",
            )
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            insert_version(&mut tx, import.id, 1, import.source, import.who, now).await?
        } else {
            let current: Option<(i64, i64)> = sqlx::query_as(
                "SELECT current_version, incident_id FROM postmortems WHERE id = $1 FOR UPDATE",
            )
            .bind(import.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
            let current = match current {
                None => {
                    return Err(StoreError::AlreadyExists(format!(
                        "a postmortem of incident {}",
                        import.incident_id
                    )));
                }
                Some((_, incident)) if incident != import.incident_id => {
                    return Err(StoreError::AlreadyExists(format!(
                        "postmortem {}, of incident {incident}",
                        import.id
                    )));
                }
                Some((current, _)) => current,
            };
            append(
                &mut tx,
                import.id,
                current,
                import.title,
                import.source,
                import.who,
            )
            .await?
        };
        notify_in(&mut tx, POSTMORTEMS_CHANNEL, &import.id.to_string()).await?;
        tx.commit().await.map_err(classify)?;
        Ok(saved)
    }
}
