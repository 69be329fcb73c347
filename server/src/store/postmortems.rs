//! Postmortems and every version of their text.
//!
//! A postmortem is one Markdown file (see `core::postmortem`); the store
//! keeps each saved text whole, so a version reads back byte for byte. The
//! title is kept beside the text for lists; callers pass it parsed from the
//! text on every save.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreResult;

/// The channel every postmortem save notifies (PostgreSQL), with the
/// postmortem's id as payload, so each replica re-indexes it.
pub const POSTMORTEMS_CHANNEL: &str = "faultline_postmortems";

/// A postmortem with its newest version's author and time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Postmortem {
    pub id: i64,
    pub incident_id: i64,
    pub title: String,
    pub current_version: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Who saved the current version, and when.
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// One saved text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostmortemVersion {
    pub postmortem_id: i64,
    pub version: i64,
    pub source: String,
    pub saved_by: String,
    pub saved_at: DateTime<Utc>,
}

/// The text of a new postmortem, written once its id is known (the id is
/// part of the text's front matter).
pub type DraftText<'a> = &'a (dyn Fn(i64) -> String + Send + Sync);

/// A postmortem to create from an incident.
pub struct NewPostmortem<'a> {
    pub incident_id: i64,
    pub title: &'a str,
    pub who: &'a str,
    pub draft: DraftText<'a>,
}

/// A new version of a postmortem.
#[derive(Debug, Clone)]
pub struct SavePostmortem<'a> {
    pub id: i64,
    pub title: &'a str,
    pub source: &'a str,
    pub who: &'a str,
    /// The version the writer started from; a newer current version is
    /// `Conflict`. `None` appends without a check (imports).
    pub base_version: Option<i64>,
}

/// A postmortem read from a file: created with its own id and incident when
/// new, else its text becomes the newest version.
#[derive(Debug, Clone)]
pub struct ImportPostmortem<'a> {
    pub id: i64,
    pub incident_id: i64,
    pub title: &'a str,
    pub source: &'a str,
    pub who: &'a str,
}

#[async_trait]
pub trait PostmortemStore {
    /// Creates the incident's postmortem at version 1, or returns the one it
    /// already has. The flag says whether this call created it.
    async fn create_postmortem(&self, new: NewPostmortem<'_>) -> StoreResult<(Postmortem, bool)>;
    async fn postmortem(&self, id: i64) -> StoreResult<Option<Postmortem>>;
    async fn postmortem_for_incident(&self, incident_id: i64) -> StoreResult<Option<Postmortem>>;
    /// Every postmortem, most recently saved first.
    async fn postmortems(&self) -> StoreResult<Vec<Postmortem>>;
    /// The newest text of every postmortem (for the search index).
    async fn current_postmortem_texts(&self) -> StoreResult<Vec<PostmortemVersion>>;
    async fn postmortem_version(
        &self,
        id: i64,
        version: i64,
    ) -> StoreResult<Option<PostmortemVersion>>;
    /// Every version, newest first.
    async fn postmortem_history(&self, id: i64) -> StoreResult<Vec<PostmortemVersion>>;
    /// Appends a version (nothing when the text is unchanged); `NotFound`
    /// without the postmortem, `Conflict` on a stale base.
    async fn save_postmortem(&self, save: SavePostmortem<'_>) -> StoreResult<PostmortemVersion>;
    /// Creates or appends (see [`ImportPostmortem`]).
    async fn import_postmortem(
        &self,
        import: ImportPostmortem<'_>,
    ) -> StoreResult<PostmortemVersion>;
}
