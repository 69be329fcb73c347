//! `GET /api/v1/postmortems[?incident=ID]` and `GET /api/v1/postmortems/{id}`:
//! postmortems as JSON, read through the same loading code as the pages.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::store::Postmortem;
use crate::web::pages::postmortems::load_current;
use crate::web::{ApiError, AppState};

#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    /// Only the postmortem of this incident; empty means every postmortem.
    pub incident: Option<String>,
}

impl ListParams {
    /// The incident filter, checked so a typo is an error, not an empty list.
    pub fn incident(&self) -> Result<Option<i64>, ApiError> {
        match self
            .incident
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            None => Ok(None),
            Some(i) => match i.parse::<i64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_incident",
                    format!("incident must be an incident id (a whole number from 1), not `{i}`"),
                )
                .with_field("incident")),
            },
        }
    }
}

#[derive(Serialize)]
pub struct Summary {
    pub id: i64,
    pub incident: i64,
    pub title: String,
    /// The current version.
    pub version: i64,
    pub updated_at: String,
    pub updated_by: String,
}

impl Summary {
    pub fn of(p: &Postmortem) -> Summary {
        Summary {
            id: p.id,
            incident: p.incident_id,
            title: p.title.clone(),
            version: p.current_version,
            updated_at: p.updated_at.to_rfc3339(),
            updated_by: p.updated_by.clone(),
        }
    }
}

/// `GET /api/v1/postmortems?incident=`: most recently saved first.
pub async fn list_postmortems(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.kb.store();
    let found = match params.incident()? {
        Some(incident) => store
            .postmortem_for_incident(incident)
            .await?
            .into_iter()
            .collect(),
        None => store.postmortems().await?,
    };
    let list: Vec<Summary> = found.iter().map(Summary::of).collect();
    Ok(Json(serde_json::json!({ "postmortems": list })))
}

#[derive(Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub created_at: String,
    pub created_by: String,
    /// The current version's Markdown, byte for byte as saved.
    pub source: String,
}

/// `GET /api/v1/postmortems/{id}`: the postmortem and its current text.
pub async fn get_postmortem(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    let missing = || ApiError::not_found(format!("no postmortem with id `{id}`")).with_field("id");
    let number = id.parse::<i64>().map_err(|_| missing())?;
    let (pm, text) = load_current(&state, number).await?.ok_or_else(missing)?;
    Ok(Json(Detail {
        summary: Summary::of(&pm),
        created_at: pm.created_at.to_rfc3339(),
        created_by: pm.created_by,
        source: text.source,
    }))
}
