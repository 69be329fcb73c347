use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::incidents::{IncidentRow, open_rows};
use super::library::{Card, LayerCount, layer_counts};
use super::render;
use crate::web::AppState;

/// Searches an engineer might start with, shown as one-click examples.
const EXAMPLES: [&str; 6] = [
    "502 Bad Gateway",
    "ndots",
    "exactly 60 seconds",
    "CLOSE_WAIT",
    "table full",
    "SYN flood",
];

#[derive(Template)]
#[template(path = "home.html")]
struct HomeView {
    title: &'static str,
    query: String,
    examples: &'static [&'static str],
    layers: Vec<LayerCount>,
    cards: Vec<Card>,
    /// Open incidents, newest first: what on-call needs before anything else.
    rows: Vec<IncidentRow>,
}

pub async fn view_home_get(State(state): State<AppState>) -> Response {
    let list = state.kb.list();
    render(&HomeView {
        title: "Faultline",
        query: String::new(),
        examples: &EXAMPLES,
        layers: layer_counts(&list),
        cards: list.iter().map(|c| Card::of(c)).collect(),
        rows: open_rows(&state).await,
    })
}
