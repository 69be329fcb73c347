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
    }))
}
