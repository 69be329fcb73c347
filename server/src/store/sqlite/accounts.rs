//! Account queries for the sqlite backend.

use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};

use super::*;
use crate::store::accounts::{decode_role, describe_change};
use crate::store::{
    AccountStore, ApiToken, AuditEntry, NewAudit, NewSession, Role, Session, User, UserChange,
    now_micros,
};

type UserRow = (i64, String, String, i64, String, String);
type TokenRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

// Macros rather than consts so `concat!` builds static query text.
macro_rules! user_columns {
    () => {
        "id, name, role, disabled, created_at, updated_at"
    };
}
macro_rules! token_columns {
    () => {
        "id, name, token_hash, role, created_by, created_at, last_used_at, revoked_at"
    };
}

fn to_user(row: UserRow) -> StoreResult<User> {
    let (id, name, role, disabled, created_at, updated_at) = row;
    Ok(User {
        id,
        name,
        role: decode_role(&role)?,
        disabled: disabled != 0,
        created_at: parse_time(&created_at)?,
        updated_at: parse_time(&updated_at)?,
    })
}

fn to_token(row: TokenRow) -> StoreResult<ApiToken> {
    let (id, name, token_hash, role, created_by, created_at, last_used_at, revoked_at) = row;
    Ok(ApiToken {
        id,
        name,
        token_hash,
        role: decode_role(&role)?,
        created_by,
        created_at: parse_time(&created_at)?,
        last_used_at: last_used_at.as_deref().map(parse_time).transpose()?,
        revoked_at: revoked_at.as_deref().map(parse_time).transpose()?,
    })
}

/// A unique-constraint violation becomes `AlreadyExists(what)`.
fn unique(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::AlreadyExists(what.to_owned())
        }
        _ => classify(e),
    }
}

async fn audit(tx: &mut Transaction<'_, Sqlite>, entry: NewAudit<'_>) -> StoreResult<()> {
    sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(format_time(now_micros()))
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.detail)
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl AccountStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
        actor: &str,
    ) -> StoreResult<User> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let stamp = format_time(now_micros());
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (name, password_hash, role, disabled, created_at, updated_at) \
             VALUES (?, ?, ?, 0, ?, ?) RETURNING ",
            user_columns!(),
            ""
        ))
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(&stamp)
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique(&format!("a user named {name:?}")))?;
        let detail = format!("role={role}");
        audit(
            &mut tx,
            NewAudit {
                actor,
                action: "user.create",
                target: name,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await.map_err(classify)?;
        to_user(row)
    }

    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<(User, String)>> {
        let row: Option<(i64, String, String, i64, String, String, String)> =
            sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                ", password_hash FROM users WHERE name = ?"
            ))
            .bind(name)
            .fetch_optional(&self.readers)
            .await
            .map_err(classify)?;
        row.map(|(id, name, role, disabled, c, u, hash)| {
            Ok((to_user((id, name, role, disabled, c, u))?, hash))
        })
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY name"
        ))
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_user).collect()
    }

    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn update_user(&self, name: &str, change: UserChange, actor: &str) -> StoreResult<User> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let stamp = format_time(now_micros());
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET role = coalesce(?, role), disabled = coalesce(?, disabled), \
             password_hash = coalesce(?, password_hash), updated_at = ? \
             WHERE name = ? RETURNING ",
            user_columns!(),
            ""
        ))
        .bind(change.role.map(Role::as_str))
        .bind(change.disabled.map(i64::from))
        .bind(change.password_hash.as_deref())
        .bind(&stamp)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let user = to_user(row)?;
        if change.role.is_some() || change.disabled == Some(true) || change.password_hash.is_some()
        {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(user.id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        let detail = describe_change(&change);
        audit(
            &mut tx,
            NewAudit {
                actor,
                action: "user.update",
                target: name,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await.map_err(classify)?;
        Ok(user)
    }

    #[tracing::instrument(skip_all)]
    async fn create_session(&self, new: NewSession<'_>) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        if let Some(old) = new.replaces {
            sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        let stamp = format_time(now_micros());
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(new.id_hash)
        .bind(new.user_id)
        .bind(new.csrf_token)
        .bind(&stamp)
        .bind(&stamp)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn session(&self, id_hash: &str) -> StoreResult<Option<Session>> {
        #[allow(clippy::type_complexity)]
        let row: Option<(
            i64,
            String,
            String,
            i64,
            String,
            String,
            String,
            String,
            String,
        )> = sqlx::query_as(
            "SELECT u.id, u.name, u.role, u.disabled, u.created_at, u.updated_at, \
                 s.csrf_token, s.created_at, s.last_seen_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
        )
        .bind(id_hash)
        .fetch_optional(&self.readers)
        .await
        .map_err(classify)?;
        row.map(|(id, name, role, disabled, uc, uu, csrf, sc, seen)| {
            Ok(Session {
                user: to_user((id, name, role, disabled, uc, uu))?,
                csrf_token: csrf,
                created_at: parse_time(&sc)?,
                last_seen_at: parse_time(&seen)?,
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn touch_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?")
            .bind(format_time(now_micros()))
            .bind(id_hash)
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_expired_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?")
            .bind(format_time(idle_before))
            .bind(format_time(created_before))
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        actor: &str,
    ) -> StoreResult<ApiToken> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let row: TokenRow = sqlx::query_as(concat!(
            "INSERT INTO api_tokens (name, token_hash, role, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING ",
            token_columns!(),
            ""
        ))
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(actor)
        .bind(format_time(now_micros()))
        .fetch_one(&mut *tx)
        .await
        .map_err(unique("a token with this value"))?;
        let detail = format!("role={role}");
        audit(
            &mut tx,
            NewAudit {
                actor,
                action: "token.create",
                target: name,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await.map_err(classify)?;
        to_token(row)
    }

    #[tracing::instrument(skip_all)]
    async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE token_hash = ?"
        ))
        .bind(token_hash)
        .fetch_optional(&self.readers)
        .await
        .map_err(classify)?;
        row.map(to_token).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn touch_api_token(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
            .bind(format_time(now_micros()))
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_token).collect()
    }

    #[tracing::instrument(skip_all, fields(id = id))]
    async fn revoke_api_token(&self, id: i64, actor: &str) -> StoreResult<ApiToken> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? \
             RETURNING ",
            token_columns!(),
            ""
        ))
        .bind(format_time(now_micros()))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let token = to_token(row)?;
        audit(
            &mut tx,
            NewAudit {
                actor,
                action: "token.revoke",
                target: &token.name,
                detail: "",
            },
        )
        .await?;
        tx.commit().await.map_err(classify)?;
        Ok(token)
    }

    #[tracing::instrument(skip_all, fields(action = %entry.action))]
    async fn record_audit(&self, entry: NewAudit<'_>) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(classify)?;
        audit(&mut tx, entry).await?;
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn recent_audit(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, at, actor, action, target, detail FROM audit_log \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(|(id, at, actor, action, target, detail)| {
                Ok(AuditEntry {
                    id,
                    at: parse_time(&at)?,
                    actor,
                    action,
                    target,
                    detail,
                })
            })
            .collect()
    }
}
