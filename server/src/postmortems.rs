//! Postmortems as a service: every save and import is validated, stored as
//! a new version, put in the search index and its cited reports pinned
//! (kept whole by retention), so store, index and pins agree.

use crate::core::postmortem::{Postmortem, PostmortemError};
use crate::kb::{KbError, KnowledgeBase};
use crate::store::{ImportPostmortem, PostmortemVersion, SavePostmortem, StoreError};

/// How a postmortem's text is named in errors and files.
pub fn label(id: i64) -> String {
    format!("postmortem-{id}.md")
}

/// The 1-based line of the front matter's `key = …`, for errors about it.
fn key_line(source: &str, key: &str) -> usize {
    source
        .lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |n| n + 1)
}

/// Validates and saves a new version of postmortem `id` on top of
/// `base_version`. Its id and incident cannot change in the text.
pub async fn save(
    kb: &KnowledgeBase,
    id: i64,
    source: &str,
    who: &str,
    base_version: i64,
) -> Result<(Postmortem, PostmortemVersion), KbError> {
    let label = label(id);
    let parsed = Postmortem::parse(&label, source)?;
    let stored = kb
        .store()
        .postmortem(id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if parsed.meta.id != id {
        return Err(PostmortemError::new(
            &label,
            key_line(source, "id"),
            format!("id: must stay {id}; a postmortem keeps its number"),
        )
        .into());
    }
    if parsed.meta.incident != stored.incident_id {
        return Err(PostmortemError::new(
            &label,
            key_line(source, "incident"),
            format!(
                "incident: must stay {}; this postmortem was drafted from that incident",
                stored.incident_id
            ),
        )
        .into());
    }
    let version = kb
        .store()
        .save_postmortem(SavePostmortem {
            id,
            title: &parsed.meta.title,
            source,
            who,
            base_version: Some(base_version),
        })
        .await?;
    kb.postmortem_saved(&parsed).await?;
    Ok((parsed, version))
}

/// Re-creates a postmortem from its file (an export): the same id,
/// incident and bytes. An existing postmortem gets the text as its newest
/// version, unless it already reads the same.
pub async fn import(
    kb: &KnowledgeBase,
    origin: &str,
    source: &str,
    who: &str,
) -> Result<(Postmortem, PostmortemVersion), KbError> {
    let parsed = Postmortem::parse(origin, source)?;
    let version = kb
        .store()
        .import_postmortem(ImportPostmortem {
            id: parsed.meta.id,
            incident_id: parsed.meta.incident,
            title: &parsed.meta.title,
            source,
            who,
        })
        .await?;
    kb.postmortem_saved(&parsed).await?;
    Ok((parsed, version))
}

/// Whether a file's text is a postmortem rather than a playbook: its front
/// matter names the incident it came from.
pub fn looks_like_postmortem(source: &str) -> bool {
    let mut lines = source.lines();
    if lines.next().map(str::trim_end) != Some("+++") {
        return false;
    }
    lines.take_while(|l| l.trim_end() != "+++").any(|l| {
        l.trim_start()
            .strip_prefix("incident")
            .is_some_and(|r| r.trim_start().starts_with('='))
    })
}
