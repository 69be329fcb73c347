use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::render;
use crate::core::playbook::Layer;
use crate::kb::Current;
use crate::web::api::playbooks::Filter;
use crate::web::{AppState, PageError};

/// A playbook as a line in a list.
pub struct Card {
    pub id: String,
    pub title: String,
    pub alert: String,
    pub layer: &'static str,
    pub tags: Vec<String>,
}

impl Card {
    pub fn of(c: &Current) -> Card {
        let m = &c.playbook.meta;
        Card {
            id: m.id.clone(),
            title: m.title.clone(),
            alert: m.alert.clone(),
            layer: m.layer.as_str(),
            tags: m.tags.clone(),
        }
    }
}

pub struct LayerCount {
    pub name: &'static str,
    pub count: usize,
}

pub fn layer_counts(list: &[Arc<Current>]) -> Vec<LayerCount> {
    Layer::ALL
        .into_iter()
        .map(|l| LayerCount {
            name: l.as_str(),
            count: list.iter().filter(|c| c.playbook.meta.layer == l).count(),
        })
        .filter(|l| l.count > 0)
        .collect()
}

/// A playbook on the "not reviewed for a long time" list.
pub struct ReviewRow {
    pub id: String,
    pub title: String,
    /// When its newest version was saved, and by what.
    pub saved: String,
    pub origin: &'static str,
    pub days: i64,
}

fn review_rows(state: &AppState, list: &[Arc<Current>]) -> Vec<ReviewRow> {
    crate::feedback::not_reviewed(list, state.config.review_after_days, chrono::Utc::now())
        .into_iter()
        .map(|u| ReviewRow {
            id: u.current.playbook.id().to_owned(),
            title: u.current.playbook.meta.title.clone(),
            saved: u.current.version.created_at.format("%Y-%m-%d").to_string(),
            origin: u.current.version.origin.as_str(),
            days: u.days,
        })
        .collect()
}

pub struct TagCount {
    pub name: String,
    pub count: usize,
}

#[derive(Template)]
#[template(path = "library.html")]
struct LibraryView {
    title: &'static str,
    query: String,
    layer: String,
    tag: String,
    layers: Vec<LayerCount>,
    tags: Vec<TagCount>,
    cards: Vec<Card>,
    total: usize,
    review_after_days: u64,
    unreviewed: Vec<ReviewRow>,
}

pub async fn view_library_get(
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
) -> Result<Response, PageError> {
    filter.validate()?;
    let list = state.kb.list();
    let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &list {
        for t in &c.playbook.meta.tags {
            *tags.entry(t.as_str()).or_default() += 1;
        }
    }
    let cards: Vec<Card> = list
        .iter()
        .filter(|c| filter.matches(c))
        .map(|c| Card::of(c))
        .collect();
    Ok(render(&LibraryView {
        title: "Playbooks",
        query: String::new(),
        layer: filter.layer.clone().unwrap_or_default(),
        tag: filter.tag.clone().unwrap_or_default(),
        layers: layer_counts(&list),
        tags: tags
            .into_iter()
            .map(|(name, count)| TagCount {
                name: name.to_owned(),
                count,
            })
            .collect(),
        total: list.len(),
        cards,
        review_after_days: state.config.review_after_days,
        unreviewed: review_rows(&state, &list),
    }))
}
