use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::search::{SearchRequest, SearchResults};
use crate::web::{ApiError, AppState};

#[derive(Debug, Deserialize, Default)]
pub struct SearchParams {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub layer: Option<String>,
    pub limit: Option<usize>,
}

impl SearchParams {
    pub fn request(&self) -> SearchRequest {
        SearchRequest {
            text: self.q.clone().unwrap_or_default(),
            tag: self.tag.clone().filter(|t| !t.is_empty()),
            layer: self.layer.clone().filter(|l| !l.is_empty()),
            limit: self.limit.unwrap_or(20),
        }
    }
}

/// Runs a search off the async workers: tantivy does blocking work.
pub async fn run(state: &AppState, request: SearchRequest) -> Result<SearchResults, ApiError> {
    let kb = state.kb.clone();
    tokio::task::spawn_blocking(move || kb.search(&request))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "search task failed");
            ApiError::internal()
        })?
        .map_err(ApiError::from)
}

pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    if params.q.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_query",
            "the `q` parameter is required",
        )
        .with_field("q"));
    }
    Ok(Json(run(&state, params.request()).await?))
}
