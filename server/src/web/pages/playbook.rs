use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::render;
use crate::core::markdown::to_safe_html;
use crate::core::playbook::{Playbook, SectionKind};
use crate::web::render::DocKey;
use crate::web::{AppState, PageError};

#[derive(Clone)]
pub struct SectionView {
    pub key: &'static str,
    pub heading: &'static str,
    pub html: String,
}

#[derive(Clone)]
pub struct StepView {
    pub number: usize,
    pub title: String,
    pub html: String,
}

/// The sections (Investigation apart) and the numbered steps of a
/// playbook as HTML, for `playbook_body.html` (the playbook page and the
/// editor's preview).
pub fn body_views(p: &Playbook) -> (Vec<SectionView>, Vec<StepView>) {
    let sections = SectionKind::ALL
        .into_iter()
        .filter(|k| *k != SectionKind::Investigation)
        .filter_map(|k| {
            p.section(k).map(|s| SectionView {
                key: k.key(),
                heading: k.heading(),
                html: to_safe_html(&s.markdown),
            })
        })
        .collect();
    let steps = p
        .steps()
        .into_iter()
        .map(|s| StepView {
            number: s.number,
            title: s.title,
            html: to_safe_html(&s.markdown),
        })
        .collect();
    (sections, steps)
}

#[derive(Template)]
#[template(path = "playbook.html")]
struct PlaybookView {
    title: String,
    query: String,
    id: String,
    alert: String,
    layer: &'static str,
    tags: Vec<String>,
    version: i64,
    updated: String,
    origin: &'static str,
    sections: Vec<SectionView>,
    steps: Vec<StepView>,
    stats: super::feedback::Stats,
    /// Set when `/r/{alertname}` opened this playbook for an unmapped alert.
    alert_notice: Option<super::alert_routes::AlertNotice>,
}

#[derive(Deserialize)]
pub struct PlaybookParams {
    /// The unmapped alert whose `/r/` link opened this page.
    alert: Option<String>,
}

pub async fn view_playbook_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<PlaybookParams>,
) -> Result<Response, PageError> {
    let c = state
        .kb
        .get(&id)
        .ok_or_else(|| PageError::not_found(format!("There is no playbook called “{id}”.")))?;
    let p = &c.playbook;
    let key = DocKey::Playbook(p.meta.id.clone(), c.version.version);
    let parsed = p.clone();
    let body = state
        .renderer
        .cached(key, move || body_views(&parsed))
        .await?;
    let (sections, steps) = (body.0.clone(), body.1.clone());
    let feedback = state
        .kb
        .store()
        .playbook_feedback(&id)
        .await
        .map_err(crate::web::ApiError::from)?;
    Ok(render(&PlaybookView {
        title: p.meta.title.clone(),
        query: String::new(),
        id: p.meta.id.clone(),
        alert: p.meta.alert.clone(),
        layer: p.meta.layer.as_str(),
        tags: p.meta.tags.clone(),
        version: c.version.version,
        updated: c
            .version
            .created_at
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        origin: c.version.origin.as_str(),
        sections,
        steps,
        stats: super::feedback::Stats::of(&feedback),
        alert_notice: super::alert_routes::notice_for_opened(&state, params.alert).await?,
    }))
}
