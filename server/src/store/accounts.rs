//! The account tables: users, sessions, API tokens and the audit log.
//!
//! The store never sees a secret: passwords arrive as Argon2id PHC strings,
//! session ids and API tokens as the hex SHA-256 of the random value the
//! user holds. Every change to users and tokens writes its audit row in the
//! same transaction, so the log cannot miss a change that happened.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{StoreError, StoreResult};

/// What a person may do. Ordered: each role can do everything the ones
/// before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Works incidents and pastes evidence.
    Responder,
    /// Edits playbooks.
    Editor,
    /// Manages users, tokens and collectors.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Responder, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a role column back, refusing values the schema should not allow.
pub(crate) fn decode_role(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown role {s:?} in the database").into(),
        ))
    })
}

/// A person who can log in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to a user; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// A live session and whose it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A session to store at login.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// Hex SHA-256 of the cookie value.
    pub id_hash: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    /// The session this one replaces (rotation at login), deleted with it.
    pub replaces: Option<&'a str>,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// Hex SHA-256 of the token; compared in constant time by the caller.
    #[serde(skip)]
    pub token_hash: String,
    pub role: Role,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who: a user name, `cli` for the command line.
    pub actor: String,
    /// What, dotted: `user.create`, `token.revoke`, `login.ok`, …
    pub action: String,
    /// On what: a user or token name.
    pub target: String,
    pub detail: String,
}

/// An audit line to write.
#[derive(Debug, Clone, Copy)]
pub struct NewAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: &'a str,
}

/// Users, sessions, API tokens and the audit log.
#[async_trait]
pub trait AccountStore {
    /// Adds a user; a taken name is `AlreadyExists`. Audited as `user.create`.
    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
        actor: &str,
    ) -> StoreResult<User>;
    /// A user and their password hash, by name.
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<(User, String)>>;
    /// Every user, ordered by name.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Changes role, disabled flag or password. Disabling a user, changing
    /// their role or password ends their sessions. Audited as `user.update`.
    async fn update_user(&self, name: &str, change: UserChange, actor: &str) -> StoreResult<User>;

    /// Stores a session (and deletes the one it replaces).
    async fn create_session(&self, new: NewSession<'_>) -> StoreResult<()>;
    /// The session with this id hash, if its user still exists.
    async fn session(&self, id_hash: &str) -> StoreResult<Option<Session>>;
    /// Marks the session used now (for idle expiry).
    async fn touch_session(&self, id_hash: &str) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Deletes sessions idle since before `idle_before` or created before
    /// `created_before`; returns how many.
    async fn delete_expired_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Stores a new API token's hash. Audited as `token.create`.
    async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        actor: &str,
    ) -> StoreResult<ApiToken>;
    /// The token with this hash, revoked or not.
    async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    /// Marks the token used now.
    async fn touch_api_token(&self, id: i64) -> StoreResult<()>;
    /// Every token, newest first.
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// Revokes a token (idempotent). Audited as `token.revoke`.
    async fn revoke_api_token(&self, id: i64, actor: &str) -> StoreResult<ApiToken>;

    /// Writes one audit line on its own (logins, logouts).
    async fn record_audit(&self, entry: NewAudit<'_>) -> StoreResult<()>;
    /// The newest `limit` audit lines, newest first.
    async fn recent_audit(&self, limit: i64) -> StoreResult<Vec<AuditEntry>>;
}

/// Describes a change for the audit log: `role=editor disabled=true`.
pub(crate) fn describe_change(change: &UserChange) -> String {
    let mut parts = Vec::new();
    if let Some(role) = change.role {
        parts.push(format!("role={role}"));
    }
    if let Some(disabled) = change.disabled {
        parts.push(format!("disabled={disabled}"));
    }
    if change.password_hash.is_some() {
        parts.push("password changed".to_owned());
    }
    parts.join(" ")
}
