//! `GET /api/v1/incidents[?status=&label=k=v&since=&limit=]` (newest first)
//! and `GET /api/v1/incidents/{id}`: the incident, its timeline and its
//! diagnosis, read through the same assessment as the incident page.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::incidents::filter::{self, FilterText};
use crate::web::pages::assessment::assess;
use crate::web::{ApiError, AppState};

/// Incidents listed when no `limit` is given.
const DEFAULT_LIST: i64 = 50;

#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    /// `key=value`.
    #[serde(default)]
    label: String,
    /// A window (`90m`, `24h`, `7d`) or an RFC 3339 time.
    #[serde(default)]
    since: String,
    #[serde(default)]
    limit: String,
}

pub async fn list_incidents(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let text = FilterText {
        status: &params.status,
        label: &params.label,
        since: &params.since,
        limit: &params.limit,
    };
    let filter = filter::parse(&text, DEFAULT_LIST, Utc::now()).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_filter",
            e.message,
        )
        .with_field(e.field)
    })?;
    let incidents = state.kb.store().incidents(&filter).await?;
    Ok(Json(json!({ "incidents": incidents })))
}

/// The incident, its timeline, and `diagnosis`: the likely `matches` with
/// their clauses, the `next_steps`, every ranked candidate with its
/// `source` (`evidence`, `route`, `responder`, `alert`), the checklist
/// playbook, and the words its alerts were searched with.
pub async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let missing = || ApiError::not_found(format!("there is no incident {id}")).with_field("id");
    let number = id.parse::<i64>().map_err(|_| missing())?;
    let store = state.kb.store();
    let incident = store.incident(number).await?.ok_or_else(missing)?;
    let events = store.events(number).await?;
    let a = assess(&state.kb, &incident, &events).await?;
    let summary = a.diagnosis.summary();
    let checklist = a
        .checklist()
        .map(|c| json!({"playbook": c.playbook, "title": c.title, "source": c.source}));
    Ok(Json(json!({
        "incident": incident,
        "timeline": events,
        "diagnosis": {
            "matches": summary.matches,
            "next_steps": summary.next_steps,
            "candidates": a.candidates,
            "checklist": checklist,
            "alert_text": a.searched,
        },
        "hosts": a.hosts,
    })))
}
