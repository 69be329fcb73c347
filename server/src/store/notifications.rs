//! Outbound notification targets added on `/admin` (the config file's are
//! not stored), and the secrets the server makes once for itself.
//!
//! A target's URL is a credential (a Slack or Teams webhook address lets
//! anyone post to the channel): it is stored as given, since it must be sent,
//! and never shown whole again (see `notify::target::WebhookUrl`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, StoreResult};

/// A target as stored. `kind` and `events` are the names `notify` reads
/// (`webhook`, `slack`, `teams`; `opened`, `diagnosis`, `verdict`,
/// `resolved`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTarget {
    pub name: String,
    pub kind: String,
    pub url: String,
    /// Labels an incident must all carry (empty: every incident).
    pub labels: BTreeMap<String, String>,
    pub events: Vec<String>,
    /// Only incidents no other target's labels match.
    pub fallback: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A target to add.
#[derive(Debug, Clone, Copy)]
pub struct NewTarget<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub events: &'a [String],
    pub fallback: bool,
    pub who: &'a str,
}

#[async_trait]
pub trait NotificationStore {
    /// Every stored target, by name.
    async fn notification_targets(&self) -> StoreResult<Vec<StoredTarget>>;
    /// Adds a target; `AlreadyExists` when the name is taken.
    async fn add_notification_target(&self, new: NewTarget<'_>) -> StoreResult<StoredTarget>;
    /// Removes a target; `NotFound` when there is none by that name.
    async fn remove_notification_target(&self, name: &str) -> StoreResult<()>;
    /// The secret called `name`: the one stored, else `candidate`, stored
    /// now. Replicas racing to make one all get the first one stored.
    async fn server_secret(&self, name: &str, candidate: &str) -> StoreResult<String>;
}

/// The JSON a target's labels and events are stored as.
pub(crate) fn encode_target(new: &NewTarget<'_>) -> (String, String) {
    (
        serde_json::to_string(new.labels).unwrap_or_else(|_| "{}".into()),
        serde_json::to_string(new.events).unwrap_or_else(|_| "[]".into()),
    )
}

/// Reads a target's labels and events back.
pub(crate) fn decode_target(
    labels: &str,
    events: &str,
) -> StoreResult<(BTreeMap<String, String>, Vec<String>)> {
    let bad = |e: serde_json::Error| {
        StoreError::Database(sqlx::Error::Decode(
            format!("bad notification target in the database: {e}").into(),
        ))
    };
    Ok((
        serde_json::from_str(labels).map_err(bad)?,
        serde_json::from_str(events).map_err(bad)?,
    ))
}
