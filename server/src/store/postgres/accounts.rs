//! Account queries for the postgres backend.

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use super::*;
use crate::store::accounts::{decode_role, describe_change};
use crate::store::{
    AccountStore, ApiToken, AuditEntry, NewAudit, NewSession, Role, Session, User, UserChange,
    now_micros,
};

type UserRow = (i64, String, String, bool, DateTime<Utc>, DateTime<Utc>);
type TokenRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
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
        disabled,
        created_at,
        updated_at,
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
        created_at,
        last_used_at,
        revoked_at,
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

async fn audit(tx: &mut Transaction<'_, Postgres>, entry: NewAudit<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now_micros())
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
impl AccountStore for PgStore {
    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
        actor: &str,
    ) -> StoreResult<User> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = now_micros();
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (name, password_hash, role, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, FALSE, $4, $4) RETURNING ",
            user_columns!()
        ))
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
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
        #[allow(clippy::type_complexity)]
        let row: Option<(
            i64,
            String,
            String,
            bool,
            DateTime<Utc>,
            DateTime<Utc>,
            String,
        )> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
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
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_user).collect()
    }

    #[tracing::instrument(skip_all, fields(name = %name))]
    async fn update_user(&self, name: &str, change: UserChange, actor: &str) -> StoreResult<User> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET role = coalesce($1, role), disabled = coalesce($2, disabled), \
             password_hash = coalesce($3, password_hash), updated_at = $4 \
             WHERE name = $5 RETURNING ",
            user_columns!()
        ))
        .bind(change.role.map(Role::as_str))
        .bind(change.disabled)
        .bind(change.password_hash.as_deref())
        .bind(now_micros())
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
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
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
        let mut tx = self.pool.begin().await.map_err(classify)?;
        if let Some(old) = new.replaces {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(new.id_hash)
        .bind(new.user_id)
        .bind(new.csrf_token)
        .bind(now_micros())
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
            bool,
            DateTime<Utc>,
            DateTime<Utc>,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
        )> = sqlx::query_as(
            "SELECT u.id, u.name, u.role, u.disabled, u.created_at, u.updated_at, \
             s.csrf_token, s.created_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(|(id, name, role, disabled, uc, uu, csrf, sc, seen)| {
            Ok(Session {
                user: to_user((id, name, role, disabled, uc, uu))?,
                csrf_token: csrf,
                created_at: sc,
                last_seen_at: seen,
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn touch_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now_micros())
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
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
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(idle_before)
            .bind(created_before)
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let row: TokenRow = sqlx::query_as(concat!(
            "INSERT INTO api_tokens (name, token_hash, role, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            token_columns!()
        ))
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(actor)
        .bind(now_micros())
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
            " FROM api_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(to_token).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn touch_api_token(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id)
            .execute(&self.pool)
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
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_token).collect()
    }

    #[tracing::instrument(skip_all, fields(id = id))]
    async fn revoke_api_token(&self, id: i64, actor: &str) -> StoreResult<ApiToken> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 \
             RETURNING ",
            token_columns!()
        ))
        .bind(now_micros())
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
        let mut tx = self.pool.begin().await.map_err(classify)?;
        audit(&mut tx, entry).await?;
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn recent_audit(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<(i64, DateTime<Utc>, String, String, String, String)> = sqlx::query_as(
            "SELECT id, at, actor, action, target, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|(id, at, actor, action, target, detail)| AuditEntry {
                id,
                at,
                actor,
                action,
                target,
                detail,
            })
            .collect())
    }
}
