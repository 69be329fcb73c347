//! The playbook tables: every version of every playbook, kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreResult;

/// Where a playbook version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Shipped inside the binary.
    Builtin,
    /// Imported from files.
    Import,
    /// Edited by a person.
    Edit,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Builtin => "builtin",
            Origin::Import => "import",
            Origin::Edit => "edit",
        }
    }

    pub fn parse(s: &str) -> Option<Origin> {
        match s {
            "builtin" => Some(Origin::Builtin),
            "import" => Some(Origin::Import),
            "edit" => Some(Origin::Edit),
            _ => None,
        }
    }
}

/// One stored version of a playbook: the exact source text and who made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaybookVersion {
    pub id: String,
    pub version: i64,
    pub source: String,
    pub origin: Origin,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A request to store a new version of a playbook.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub origin: Origin,
    pub author: Option<&'a str>,
    /// The version the writer started from; `None` creates the playbook (or
    /// appends without a check, for imports). A mismatch is a conflict.
    pub base_version: Option<i64>,
}

/// Playbooks and their versions.
#[async_trait]
pub trait PlaybookStore {
    /// The newest version of every playbook, ordered by id.
    async fn current_playbooks(&self) -> StoreResult<Vec<PlaybookVersion>>;
    /// The newest version of one playbook.
    async fn current_playbook(&self, id: &str) -> StoreResult<Option<PlaybookVersion>>;
    /// Appends a version; returns it with its number and time.
    async fn save_playbook(&self, new: NewVersion<'_>) -> StoreResult<PlaybookVersion>;
    /// Every version of one playbook, newest first.
    async fn playbook_history(&self, id: &str) -> StoreResult<Vec<PlaybookVersion>>;
    /// One version of one playbook.
    async fn playbook_version(
        &self,
        id: &str,
        version: i64,
    ) -> StoreResult<Option<PlaybookVersion>>;
}
