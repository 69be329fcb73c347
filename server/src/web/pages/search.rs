use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::alert_routes::AlertNotice;
use super::render;
use crate::search::{Hit, SearchResults};
use crate::web::api::search::{SearchParams, run};
use crate::web::{ApiError, AppState, PageError};

pub struct Facet {
    pub name: String,
    pub count: u64,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchView {
    title: String,
    query: String,
    tag: String,
    layer: String,
    error: String,
    total: usize,
    hits: Vec<Hit>,
    tags: Vec<Facet>,
    layers: Vec<Facet>,
    /// Why `/r/{alertname}` shows these results rather than a playbook.
    alert_notice: Option<AlertNotice>,
}

impl SearchView {
    pub fn new(query: String, tag: String, layer: String) -> SearchView {
        SearchView {
            title: if query.is_empty() {
                "Search".into()
            } else {
                format!("{query} – search")
            },
            query,
            tag,
            layer,
            error: String::new(),
            total: 0,
            hits: Vec::new(),
            tags: Vec::new(),
            layers: Vec::new(),
            alert_notice: None,
        }
    }

    /// The results of an alert name's words, under the notice that says why
    /// no playbook opened.
    pub fn for_alert(words: String, results: SearchResults, notice: AlertNotice) -> SearchView {
        let mut view = SearchView::new(words, String::new(), String::new());
        view.title = format!("{} – no playbook mapped", notice.alertname);
        view.show(results);
        view.alert_notice = Some(notice);
        view
    }

    fn show(&mut self, results: SearchResults) {
        let facets = |counts: std::collections::BTreeMap<String, u64>| {
            counts
                .into_iter()
                .map(|(name, count)| Facet { name, count })
                .collect()
        };
        self.total = results.total;
        self.hits = results.hits;
        self.tags = facets(results.tags);
        self.layers = facets(results.layers);
    }
}

pub async fn view_search_get(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Response, PageError> {
    let mut view = SearchView::new(
        params.q.clone().unwrap_or_default(),
        params.tag.clone().unwrap_or_default(),
        params.layer.clone().unwrap_or_default(),
    );
    match run(&state, params.request()).await {
        Ok(results) => view.show(results),
        // A bad query is shown on the page, next to the box to fix it.
        Err(ApiError {
            status, message, ..
        }) if status.is_client_error() => view.error = message,
        Err(e) => return Err(e.into()),
    }
    Ok(render(&view))
}
