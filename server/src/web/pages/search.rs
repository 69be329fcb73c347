use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::render;
use crate::search::Hit;
use crate::web::api::search::{SearchParams, run};
use crate::web::{ApiError, AppState, PageError};

pub struct Facet {
    pub name: String,
    pub count: u64,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchView {
    title: String,
    query: String,
    tag: String,
    layer: String,
    error: String,
    total: usize,
    hits: Vec<Hit>,
    tags: Vec<Facet>,
    layers: Vec<Facet>,
}

pub async fn view_search_get(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Response, PageError> {
    let query = params.q.clone().unwrap_or_default();
    let mut view = SearchView {
        title: if query.is_empty() {
            "Search".into()
        } else {
            format!("{query} – search")
        },
        query,
        tag: params.tag.clone().unwrap_or_default(),
        layer: params.layer.clone().unwrap_or_default(),
        error: String::new(),
        total: 0,
        hits: Vec::new(),
        tags: Vec::new(),
        layers: Vec::new(),
    };
    match run(&state, params.request()).await {
        Ok(results) => {
            view.total = results.total;
            view.hits = results.hits;
            view.tags = results
                .tags
                .into_iter()
                .map(|(name, count)| Facet { name, count })
                .collect();
            view.layers = results
                .layers
                .into_iter()
                .map(|(name, count)| Facet { name, count })
                .collect();
        }
        // A bad query is shown on the page, next to the box to fix it.
        Err(ApiError {
            status, message, ..
        }) if status.is_client_error() => view.error = message,
        Err(e) => return Err(e.into()),
    }
    Ok(render(&view))
}
