use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use crate::core::playbook::{Layer, SectionKind, Step};
use crate::kb::Current;
use crate::web::{ApiError, AppState};

#[derive(Debug, Deserialize, Default)]
pub struct Filter {
    pub tag: Option<String>,
    pub layer: Option<String>,
}

impl Filter {
    /// Checks the layer name so a typo is an error, not an empty list.
    pub fn validate(&self) -> Result<(), ApiError> {
        match self.layer.as_deref().filter(|l| !l.is_empty()) {
            Some(l) if Layer::parse(l).is_none() => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_layer",
                format!(
                    "unknown layer `{l}`; one of: {}",
                    Layer::ALL.map(Layer::as_str).join(", ")
                ),
            )
            .with_field("layer")),
            _ => Ok(()),
        }
    }

    pub fn matches(&self, c: &Current) -> bool {
        let meta = &c.playbook.meta;
        let tag_ok = self
            .tag
            .as_deref()
            .is_none_or(|t| t.is_empty() || meta.tags.iter().any(|x| x == t));
        let layer_ok = self
            .layer
            .as_deref()
            .is_none_or(|l| l.is_empty() || meta.layer.as_str() == l);
        tag_ok && layer_ok
    }
}

#[derive(Serialize)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub alert: String,
    pub tags: Vec<String>,
    pub layer: &'static str,
    pub version: i64,
    pub origin: &'static str,
    pub updated_at: String,
}

impl Summary {
    pub fn of(c: &Current) -> Summary {
        let meta = &c.playbook.meta;
        Summary {
            id: meta.id.clone(),
            title: meta.title.clone(),
            alert: meta.alert.clone(),
            tags: meta.tags.clone(),
            layer: meta.layer.as_str(),
            version: c.version.version,
            origin: c.version.origin.as_str(),
            updated_at: c.version.created_at.to_rfc3339(),
        }
    }
}

pub async fn list_playbooks(
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    filter.validate()?;
    let list: Vec<Summary> = state
        .kb
        .list()
        .iter()
        .filter(|c| filter.matches(c))
        .map(|c| Summary::of(c))
        .collect();
    Ok(Json(serde_json::json!({ "playbooks": list })))
}

#[derive(Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub author: Option<String>,
    pub sections: BTreeMap<&'static str, String>,
    pub steps: Vec<Step>,
    pub source: String,
    /// How it fared (see `crate::feedback` for each count).
    pub feedback: FeedbackCounts,
}

#[derive(Serialize)]
pub struct FeedbackCounts {
    /// Reports plus incidents it was a likely match for.
    pub matched: i64,
    #[serde(flatten)]
    pub counts: crate::store::PlaybookFeedback,
}

pub async fn get_playbook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    let c = state.kb.get(&id).ok_or_else(|| {
        ApiError::not_found(format!("no playbook with id `{id}`")).with_field("id")
    })?;
    let counts = state.kb.store().playbook_feedback(&id).await?;
    let sections = SectionKind::ALL
        .into_iter()
        .filter_map(|k| c.playbook.section(k).map(|s| (k.key(), s.markdown.clone())))
        .collect();
    Ok(Json(Detail {
        summary: Summary::of(&c),
        author: c.version.author.clone(),
        sections,
        steps: c.playbook.steps(),
        source: c.playbook.source().to_owned(),
        feedback: FeedbackCounts {
            matched: counts.matched(),
            counts,
        },
    }))
}
