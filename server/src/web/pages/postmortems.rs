//! Postmortems: `/postmortems` (the list), `POST /incidents/{id}/postmortem`
//! (draft one from the incident, or open the one it has), `/postmortems/{id}`
//! (rendered, charts inline), `/postmortems/{id}/edit` (the text with a live
//! preview; a stale base is a 409 page with both texts),
//! `/postmortems/{id}/history` (versions and diffs) and
//! `/postmortems/{id}/export.md` (one self-contained Markdown file).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::collectors::ago;
use super::editor::{ConflictView, ErrorLine, normalize};
use super::history::{Compare, VersionRow};
use super::observation_view::ObservationView;
use super::{render, render_with};
use crate::core::clause::Truth;
use crate::core::diff::{LineDiff, line_diff};
use crate::core::placeholders;
use crate::core::playbook::SectionKind;
use crate::core::postmortem::{
    self, Basis, ChartKey, ChartSource, DraftDiagnosis, DraftEvent, DraftEvidence, DraftIncident,
    DraftInput, DraftObservation, DraftStep, DraftTable, EventFacts, PmSection, Postmortem,
};
use crate::incidents::{self, Evidence};
use crate::kb::KbError;
use crate::postmortems::{self as service, label};
use crate::store::{
    EventKind, Incident, IncidentEvent, NewPostmortem, Postmortem as StoredPostmortem,
    PostmortemVersion, Role, StoreError,
};
use crate::web::auth::{CurrentUser, signed_in};
use crate::web::charts::postmortem as charts;
use crate::web::render::DocKey;
use crate::web::{ApiError, AppState, PageError};

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Whether the caller may write postmortems (templates show the buttons).
pub fn can_write() -> bool {
    signed_in().is_some_and(|u| u.can(Role::Responder))
}

fn no_postmortem(id: i64) -> PageError {
    PageError::not_found(format!("There is no postmortem {id}."))
}

/// The postmortem `id` and its current version, `None` when there is no such
/// postmortem (the pages and the JSON API each say so their own way). A
/// missing current version is a broken store, not a missing postmortem.
pub(crate) async fn load_current(
    state: &AppState,
    id: i64,
) -> Result<Option<(StoredPostmortem, PostmortemVersion)>, ApiError> {
    let store = state.kb.store();
    let Some(pm) = store.postmortem(id).await? else {
        return Ok(None);
    };
    let text = store
        .postmortem_version(id, pm.current_version)
        .await?
        .ok_or_else(|| {
            tracing::error!(
                id,
                version = pm.current_version,
                "current postmortem text missing"
            );
            ApiError::internal()
        })?;
    Ok(Some((pm, text)))
}

/// The postmortem `id`, or the 404 page.
async fn find(state: &AppState, id: i64) -> Result<StoredPostmortem, PageError> {
    state
        .kb
        .store()
        .postmortem(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| no_postmortem(id))
}

/// The postmortem `id` and its current version, or the 404 page.
async fn find_current(
    state: &AppState,
    id: i64,
) -> Result<(StoredPostmortem, PostmortemVersion), PageError> {
    load_current(state, id)
        .await?
        .ok_or_else(|| no_postmortem(id))
}

// ---- The draft --------------------------------------------------------------------------

/// A timeline event as the draft reads it.
fn draft_event(e: &IncidentEvent) -> DraftEvent {
    let b = &e.body;
    let facts = match e.kind {
        EventKind::Alert => EventFacts::Alert {
            firing: b["status"].as_str() != Some("resolved"),
            starts_at: b["startsAt"].as_str().and_then(postmortem::parse_time),
        },
        EventKind::Status => EventFacts::Status {
            to: b["to"].as_str().unwrap_or_default().to_owned(),
        },
        // Outbound message records are the server's, not a responder's.
        EventKind::Note if b.get("unrecognised").is_none() && b.get("notification").is_none() => {
            EventFacts::Note
        }
        _ => EventFacts::Other,
    };
    DraftEvent {
        at: e.at,
        who: e.who.clone(),
        kind: e.kind.as_str().to_owned(),
        text: incidents::describe(e),
        facts,
    }
}

/// Rows of a table a postmortem keeps.
const KEPT_ROWS: usize = 10;

/// The rows that mattered: those with a number other than zero (all rows of
/// a table without numbers), largest first when the table is long, at most
/// [`KEPT_ROWS`]. Returns them and how many were left out.
fn rows_that_mattered(rows: &[Vec<String>], more: usize) -> (Vec<Vec<String>>, usize) {
    let number = |c: &str| c.trim_end_matches('%').parse::<f64>().ok();
    let numeric = rows
        .iter()
        .any(|r| r.iter().skip(1).any(|c| number(c).is_some()));
    let mut kept: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| !numeric || r.iter().skip(1).any(|c| number(c).is_none_or(|n| n != 0.0)))
        .collect();
    if numeric && kept.len() > KEPT_ROWS {
        let size = |r: &Vec<String>| {
            r.iter()
                .skip(1)
                .filter_map(|c| number(c))
                .fold(0.0_f64, f64::max)
        };
        kept.sort_by(|a, b| size(b).total_cmp(&size(a)));
    }
    let left_out = rows.len() + more - kept.len().min(KEPT_ROWS);
    (
        kept.into_iter().take(KEPT_ROWS).cloned().collect(),
        left_out,
    )
}

/// Whether an observation says nothing: no chart, every fact empty, no row.
fn says_nothing(view: &ObservationView) -> bool {
    view.charts.is_empty()
        && view.raw.is_none()
        && view
            .facts
            .iter()
            .all(|(_, v)| matches!(v.as_str(), "none" | "—" | "" | "0"))
        && view.tables.iter().all(|t| t.rows.is_empty())
}

/// One observation summarised: its facts, the rows of its tables that
/// mattered, the keys of its charts, and what it told the diagnosis.
fn draft_observation(
    o: &faultline_probe::report::Observation,
    source: &ChartSource,
    n: usize,
    uses: &BTreeMap<&'static str, Vec<String>>,
) -> Option<DraftObservation> {
    let view = ObservationView::of(o);
    if says_nothing(&view) {
        return None;
    }
    let tables = view
        .tables
        .iter()
        .filter(|t| !t.rows.is_empty())
        .map(|t| {
            let (rows, left_out) = rows_that_mattered(&t.rows, t.more);
            DraftTable {
                caption: t.caption.clone(),
                headers: t.headers.iter().map(|h| (*h).to_owned()).collect(),
                rows,
                left_out,
            }
        })
        .filter(|t| !t.rows.is_empty())
        .collect();
    Some(DraftObservation {
        uses: uses.get(view.kind.as_str()).cloned().unwrap_or_default(),
        tables,
        title: view.title,
        facts: view.facts,
        charts: (1..=view.charts.len())
            .map(|chart| {
                ChartKey {
                    source: source.clone(),
                    observation: n,
                    chart,
                }
                .to_string()
            })
            .collect(),
    })
}

fn draft_evidence(
    evidence: &Evidence,
    uses: &BTreeMap<&'static str, Vec<String>>,
) -> Vec<DraftEvidence> {
    let mut out: Vec<DraftEvidence> = Vec::new();
    for r in &evidence.reports {
        let source = ChartSource::Report(r.summary.report_id);
        out.push(DraftEvidence {
            source: format!("Report from {}", r.summary.collector),
            at: r.summary.received_at,
            who: r.summary.collector.clone(),
            link: Some(format!("/reports/{}", r.summary.report_id.hyphenated())),
            observations: r
                .report
                .observations
                .iter()
                .enumerate()
                .filter_map(|(i, o)| draft_observation(o, &source, i + 1, uses))
                .collect(),
        });
    }
    for p in &evidence.pastes {
        let source = ChartSource::Paste(p.event.id);
        out.push(DraftEvidence {
            source: format!("Pasted {}", p.formats.join(", ")),
            at: p.event.at,
            who: p.event.who.clone(),
            link: None,
            observations: p
                .observations
                .iter()
                .enumerate()
                .filter_map(|(i, o)| draft_observation(o, &source, i + 1, uses))
                .collect(),
        });
    }
    out.sort_by_key(|e| e.at);
    out
}

/// Everything the draft is written from, read from the incident.
async fn draft_input(
    state: &AppState,
    incident: &Incident,
    events: &[IncidentEvent],
) -> Result<DraftInput, ApiError> {
    let kb = &state.kb;
    let evidence = incidents::evidence(kb, events).await?;
    let diagnosis = incidents::diagnose(kb, &evidence.merged(incident));
    let confirmed = crate::feedback::confirmed_playbook(kb.store(), incident.id).await?;
    let (playbook, basis) = match (confirmed, &incident.playbook) {
        (Some(p), _) => (Some(p), Basis::Confirmed),
        (None, Some(p)) => (Some(p.clone()), Basis::Chosen),
        (None, None) => (
            diagnosis.likely().next().map(|c| c.playbook.clone()),
            Basis::TopCandidate,
        ),
    };
    let current = playbook.as_deref().and_then(|p| kb.get(p));
    let candidate = playbook
        .as_deref()
        .and_then(|p| diagnosis.candidates.iter().find(|c| c.playbook == p));
    let ticks = kb.store().ticks(incident.id).await?;
    let steps = match &current {
        Some(c) => {
            let all = c.playbook.steps();
            ticks
                .iter()
                .filter(|t| t.playbook == c.playbook.id())
                .filter_map(|t| {
                    let step = all.iter().find(|s| s.number as i64 == t.step)?;
                    Some(DraftStep {
                        number: step.number,
                        markdown: placeholders::fill(&step.markdown, &incident.labels).text,
                        done_by: t.ticked_by.clone(),
                        done_at: t.ticked_at,
                    })
                })
                .collect()
        }
        None => Vec::new(),
    };
    Ok(DraftInput {
        id: 1,
        incident: DraftIncident {
            id: incident.id,
            title: incident.title.clone(),
            severity: incident.severity.clone(),
            status: incident.status.as_str().to_owned(),
            labels: incident.labels.clone(),
            opened_at: incident.opened_at,
            opened_by: incident.opened_by.clone(),
            resolved_at: incident.resolved_at,
        },
        events: events.iter().map(draft_event).collect(),
        reports: evidence
            .reports
            .iter()
            .map(|r| r.summary.report_id.hyphenated().to_string())
            .collect(),
        evidence: draft_evidence(&evidence, &super::diagnosis::uses(&diagnosis)),
        diagnosis: current.map(|c| DraftDiagnosis {
            playbook: c.playbook.id().to_owned(),
            title: c.playbook.meta.title.clone(),
            basis,
            score: candidate.map(|c| c.score),
            held: candidate
                .map(|c| {
                    c.clauses
                        .iter()
                        .filter(|cl| cl.state == Truth::True)
                        .map(|cl| {
                            let seen: Vec<String> = cl
                                .observed
                                .iter()
                                .map(|(k, v)| format!("{k} = {v}"))
                                .collect();
                            if seen.is_empty() {
                                cl.says.clone()
                            } else {
                                format!("{} (seen: {})", cl.says, seen.join(", "))
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
            root_cause: c
                .playbook
                .section_markdown(SectionKind::RootCause)
                .to_owned(),
            fix: c.playbook.section_markdown(SectionKind::Fix).to_owned(),
            prevention: c
                .playbook
                .section_markdown(SectionKind::Prevention)
                .to_owned(),
        }),
        steps,
    })
}

/// `POST /incidents/{id}/postmortem`: drafts the incident's postmortem, or
/// opens the one it already has.
pub async fn view_incident_postmortem_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(incident_id): Path<i64>,
) -> Result<Response, PageError> {
    let store = state.kb.store();
    if let Some(existing) = store
        .postmortem_for_incident(incident_id)
        .await
        .map_err(ApiError::from)?
    {
        return Ok(Redirect::to(&format!("/postmortems/{}", existing.id)).into_response());
    }
    let incident = store
        .incident(incident_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| PageError::not_found(format!("There is no incident {incident_id}.")))?;
    let events = store.events(incident_id).await.map_err(ApiError::from)?;
    let input = draft_input(&state, &incident, &events).await?;
    // Written once to check it, then again with the id the store gives it
    // (the same text apart from that number, so it cannot fail then).
    postmortem::draft(&input).map_err(|e| {
        tracing::error!(error = %e, "the draft does not parse");
        PageError::internal()
    })?;
    let write = move |id: i64| {
        let mut input = input.clone();
        input.id = id;
        postmortem::draft(&input)
            .map(|p| p.source().to_owned())
            .unwrap_or_default()
    };
    let who = user.actor();
    let (created, _) = store
        .create_postmortem(NewPostmortem {
            incident_id,
            title: &incident.title,
            who: &who,
            draft: &write,
        })
        .await
        .map_err(ApiError::from)?;
    if let Some(v) = store
        .postmortem_version(created.id, created.current_version)
        .await
        .map_err(ApiError::from)?
        && let Ok(p) = Postmortem::parse(&label(created.id), &v.source)
        && let Err(e) = state.kb.postmortem_saved(&p).await
    {
        tracing::warn!(error = %e, "new postmortem not pinned or indexed");
    }
    Ok(Redirect::to(&format!("/postmortems/{}", created.id)).into_response())
}

// ---- The list ---------------------------------------------------------------------------

pub struct PostmortemRow {
    pub id: i64,
    pub title: String,
    pub incident_id: i64,
    pub incident_title: String,
    pub incident_status: String,
    pub version: i64,
    pub updated: String,
    pub updated_iso: String,
    pub updated_by: String,
}

#[derive(Template)]
#[template(path = "postmortems.html")]
struct ListView {
    title: &'static str,
    query: String,
    rows: Vec<PostmortemRow>,
}

pub async fn view_postmortems_get(State(state): State<AppState>) -> Result<Response, PageError> {
    let store = state.kb.store();
    let list = store.postmortems().await.map_err(ApiError::from)?;
    let now = Utc::now();
    let mut rows = Vec::with_capacity(list.len());
    for p in list {
        let incident = store
            .incident(p.incident_id)
            .await
            .map_err(ApiError::from)?;
        rows.push(PostmortemRow {
            id: p.id,
            title: p.title,
            incident_id: p.incident_id,
            incident_title: incident
                .as_ref()
                .map(|i| i.title.clone())
                .unwrap_or_default(),
            incident_status: incident
                .map_or_else(|| "not here".to_owned(), |i| i.status.as_str().to_owned()),
            version: p.current_version,
            updated: ago(p.updated_at, now),
            updated_iso: when(p.updated_at),
            updated_by: p.updated_by,
        });
    }
    Ok(render(&ListView {
        title: "Postmortems",
        query: String::new(),
        rows,
    }))
}

// ---- One postmortem ---------------------------------------------------------------------

pub struct PmSectionView {
    pub key: &'static str,
    pub heading: &'static str,
    pub html: String,
    /// The action items as a table (the `## Action items` section).
    pub items: Vec<ActionItemView>,
    pub items_done: usize,
}

pub struct ActionItemView {
    pub text: String,
    /// "unassigned" when nobody is named.
    pub owner: String,
    pub due: String,
    pub done: bool,
    /// Not done and past its date.
    pub overdue: bool,
}

fn item_views(p: &Postmortem) -> Vec<ActionItemView> {
    let today = Utc::now().date_naive();
    p.action_items()
        .into_iter()
        .map(|i| ActionItemView {
            owner: i.owner.clone().unwrap_or_else(|| "unassigned".into()),
            due: i
                .due
                .map_or_else(|| "—".into(), |d| d.format("%Y-%m-%d").to_string()),
            overdue: !i.done && i.due.is_some_and(|d| d < today),
            done: i.done,
            text: i.text,
        })
        .collect()
}

/// A chart as the page shows it: the SVG inline, or why it is missing.
fn figure(svgs: &BTreeMap<String, String>, key: &str, caption: &str) -> String {
    let caption = crate::web::charts::escape(caption);
    match svgs.get(key) {
        Some(svg) => format!(
            "<figure class=\"chart-box pm-chart\">{svg}<figcaption>{caption}</figcaption></figure>"
        ),
        None => format!(
            "<p class=\"pm-chart-missing muted\">Chart “{caption}” cannot be drawn: its evidence is no longer stored.</p>"
        ),
    }
}

/// Each section's Markdown rendered, charts still to draw.
type Parts = Vec<(PmSection, Vec<postmortem::Rendered>)>;

fn render_parts(p: &Postmortem) -> Parts {
    p.sections
        .iter()
        .map(|s| (s.kind, postmortem::section_parts(&s.markdown)))
        .collect()
}

/// The sections as HTML with the charts drawn inline. A stored version
/// (`Some(version)`) is rendered once and cached; unsaved text each time.
async fn section_views(
    state: &AppState,
    p: &Postmortem,
    version: Option<i64>,
) -> Result<Vec<PmSectionView>, ApiError> {
    let keys: Vec<String> = p.charts().into_iter().map(|c| c.key).collect();
    let svgs = charts::draw(&state.kb, p.meta.incident, &keys).await?;
    let parsed = p.clone();
    let parts: Arc<Parts> = match version {
        Some(v) => {
            let key = DocKey::Postmortem(p.meta.id, v);
            state
                .renderer
                .cached(key, move || render_parts(&parsed))
                .await?
        }
        None => Arc::new(state.renderer.run(move || render_parts(&parsed)).await?),
    };
    let mut items = Some(item_views(p));
    let done = p.action_items().iter().filter(|i| i.done).count();
    Ok(parts
        .iter()
        .map(|(kind, parts)| PmSectionView {
            items_done: done,
            key: kind.key(),
            heading: kind.heading(),
            html: postmortem::assemble(parts, &|key, caption| figure(&svgs, key, caption)),
            items: if *kind == PmSection::ActionItems {
                items.take().unwrap_or_default()
            } else {
                Vec::new()
            },
        })
        .collect())
}

/// The front matter, for people.
pub struct HeadView {
    pub incident: i64,
    pub playbook: Option<String>,
    pub window: String,
    pub reports: Vec<String>,
    /// Sections still empty (a draft).
    pub empty: Vec<&'static str>,
}

impl HeadView {
    fn of(p: &Postmortem) -> HeadView {
        let m = &p.meta;
        let start = postmortem::parse_time(&m.impact_start);
        let end = m.impact_end.as_deref().and_then(postmortem::parse_time);
        let window = match (start, end) {
            (Some(s), Some(e)) => format!("{} → {}", when(s), when(e)),
            (Some(s), None) => format!("from {} (not over)", when(s)),
            _ => String::new(),
        };
        HeadView {
            incident: m.incident,
            playbook: m.playbook.clone(),
            window,
            reports: m.reports.clone(),
            empty: p
                .empty_sections()
                .into_iter()
                .map(PmSection::heading)
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "postmortem.html")]
struct PostmortemView {
    title: String,
    query: String,
    id: i64,
    version: i64,
    updated: String,
    updated_by: String,
    head: HeadView,
    sections: Vec<PmSectionView>,
    can_write: bool,
    /// The stored text does not parse (an import from a laxer version).
    broken: Option<String>,
}

pub async fn view_postmortem_get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (pm, text) = find_current(&state, id).await?;
    let mut view = PostmortemView {
        title: pm.title.clone(),
        query: String::new(),
        id,
        version: pm.current_version,
        updated: when(pm.updated_at),
        updated_by: pm.updated_by,
        head: HeadView {
            incident: pm.incident_id,
            playbook: None,
            window: String::new(),
            reports: Vec::new(),
            empty: Vec::new(),
        },
        sections: Vec::new(),
        can_write: can_write(),
        broken: None,
    };
    match Postmortem::parse(&label(id), &text.source) {
        Ok(p) => {
            view.head = HeadView::of(&p);
            view.sections = section_views(&state, &p, Some(text.version)).await?;
        }
        Err(e) => view.broken = Some(e.to_string()),
    }
    Ok(render(&view))
}

// ---- Editor -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "postmortem_editor.html")]
struct EditorView {
    title: String,
    query: String,
    id: i64,
    source: String,
    base_version: i64,
    errors: Vec<ErrorLine>,
    notice: Option<String>,
    conflict: Option<ConflictView>,
    sections: Vec<PmSectionView>,
}

impl EditorView {
    /// The page for `source`, with its preview (or its error) filled in.
    async fn new(
        state: &AppState,
        id: i64,
        source: String,
        base_version: i64,
    ) -> Result<EditorView, ApiError> {
        let mut view = EditorView {
            title: format!("Edit postmortem {id}"),
            query: String::new(),
            id,
            source,
            base_version,
            errors: Vec::new(),
            notice: None,
            conflict: None,
            sections: Vec::new(),
        };
        match Postmortem::parse(&label(id), &view.source) {
            Ok(p) => view.sections = section_views(state, &p, None).await?,
            Err(e) => view.errors.push(ErrorLine::of(&e, &view.source)),
        }
        Ok(view)
    }
}

pub async fn view_postmortem_edit_get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (_, text) = find_current(&state, id).await?;
    let view = EditorView::new(&state, id, text.source, text.version).await?;
    Ok(render(&view))
}

#[derive(Deserialize)]
pub struct EditForm {
    source: String,
    #[serde(default)]
    base_version: i64,
    /// save (the default), check or rebase.
    #[serde(default)]
    intent: String,
}

pub async fn view_postmortem_edit_post(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    user: CurrentUser,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    let source = normalize(&form.source);
    let mut view = EditorView::new(&state, id, source, form.base_version).await?;
    match form.intent.as_str() {
        "check" => {}
        "rebase" => {
            let current = find(&state, id).await?;
            view.base_version = current.current_version;
            view.notice = Some(format!(
                "Your text is now based on version {}. Nothing is saved yet: check the \
                 other change is kept in your text, then save.",
                current.current_version
            ));
        }
        _ if !view.errors.is_empty() => {}
        _ => {
            let saved = service::save(
                &state.kb,
                id,
                &view.source,
                &user.actor(),
                view.base_version,
            )
            .await;
            match saved {
                Ok(_) => return Ok(Redirect::to(&format!("/postmortems/{id}")).into_response()),
                Err(KbError::Invalid(e)) => view.errors = vec![ErrorLine::of(&e, &view.source)],
                Err(KbError::Store(StoreError::Conflict { current })) => {
                    view.conflict =
                        Some(conflict(&state, id, view.base_version, current, &view.source).await?);
                    return Ok(render_with(StatusCode::CONFLICT, &view));
                }
                Err(KbError::Store(StoreError::NotFound)) => return Err(no_postmortem(id)),
                Err(e) => return Err(ApiError::from(e).into()),
            }
        }
    }
    let status = if view.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render_with(status, &view))
}

async fn conflict(
    state: &AppState,
    id: i64,
    base: i64,
    current: i64,
    mine: &str,
) -> Result<ConflictView, PageError> {
    let store = state.kb.store();
    let theirs = store
        .postmortem_version(id, current)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(PageError::internal)?;
    let base = store
        .postmortem_version(id, base)
        .await
        .map_err(ApiError::from)?;
    Ok(ConflictView {
        version: theirs.version,
        author: theirs.saved_by.clone(),
        when: when(theirs.saved_at),
        diff: line_diff(&theirs.source, mine),
        their_change: base.map(|b| line_diff(&b.source, &theirs.source)),
        source: theirs.source,
    })
}

#[derive(Template)]
#[template(path = "postmortem_preview.html")]
struct PreviewView {
    sections: Vec<PmSectionView>,
}

/// `POST /api/v1/postmortems/preview` `{"source"}`: the rendered sections
/// with their charts, or the error with its line. Invalid text is an answer
/// (200, `"valid": false`), as for playbooks.
pub async fn preview(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    struct SourceBody {
        source: String,
    }
    let body: SourceBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not {{\"source\": \"…\"}} JSON: {e}"),
        )
    })?;
    let source = normalize(&body.source);
    let p = match Postmortem::parse("postmortem", &source) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Json(json!({
                "valid": false,
                "errors": [{"line": e.line, "message": e.message}],
                "html": null,
            })));
        }
    };
    let html = PreviewView {
        sections: section_views(&state, &p, None).await?,
    }
    .render()
    .map_err(|e| {
        tracing::error!(error = %e, "template failed");
        ApiError::internal()
    })?;
    Ok(Json(
        json!({"valid": true, "errors": [], "title": p.meta.title, "html": html}),
    ))
}

// ---- History ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "postmortem_history.html")]
struct HistoryView {
    title: String,
    query: String,
    id: i64,
    pm_title: String,
    current: i64,
    rows: Vec<VersionRow>,
    a: i64,
    b: i64,
    diff: Option<LineDiff>,
}

pub async fn view_postmortem_history_get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<Compare>,
) -> Result<Response, PageError> {
    let pm = find(&state, id).await?;
    let versions = state
        .kb
        .store()
        .postmortem_history(id)
        .await
        .map_err(ApiError::from)?;
    let current = pm.current_version;
    let (a, b, diff) = q.pick(current, versions.len(), |v| {
        versions
            .iter()
            .find(|x| x.version == v)
            .map(|x| x.source.as_str())
            .ok_or_else(|| PageError::not_found(format!("Postmortem {id} has no version {v}.")))
    })?;
    let rows = versions
        .iter()
        .map(|v| VersionRow {
            version: v.version,
            when: when(v.saved_at),
            when_iso: v.saved_at.to_rfc3339(),
            author: v.saved_by.clone(),
            origin: "edit",
        })
        .collect();
    Ok(render(&HistoryView {
        title: format!("History of postmortem {id}"),
        query: String::new(),
        id,
        pm_title: pm.title,
        current,
        rows,
        a,
        b,
        diff,
    }))
}

// ---- Export -----------------------------------------------------------------------------

/// `GET /postmortems/{id}/export.md`: the newest text as one file, each chart
/// inlined as an SVG `data:` URI so the file stands alone.
/// Where links in an export point: `public_url`, else this request's host
/// (https when the session cookie is marked secure, which says TLS is in
/// front), else nowhere (links stay site-relative).
fn public_base(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(url) = &state.config.public_url {
        return Some(url.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if state.config.security.secure_cookies {
        "https"
    } else {
        "http"
    };
    crate::config::public_url(&format!("{scheme}://{host}")).ok()
}

pub async fn view_postmortem_export_get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let (pm, text) = find_current(&state, id).await?;
    let keys: Vec<String> = match Postmortem::parse(&label(id), &text.source) {
        Ok(p) => p.charts().into_iter().map(|c| c.key).collect(),
        Err(_) => Vec::new(),
    };
    let svgs = charts::draw(&state.kb, pm.incident_id, &keys)
        .await
        .map_err(ApiError::from)?;
    let body = postmortem::with_chart_urls(&text.source, &|key| {
        svgs.get(key).map(|svg| charts::data_uri(svg))
    });
    let body = match public_base(&state, &headers) {
        Some(base) => postmortem::absolute_links(&body, &base),
        None => body,
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"postmortem-{id}.md\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[(&str, &str)]) -> Vec<Vec<String>> {
        cells
            .iter()
            .map(|(a, b)| vec![(*a).to_owned(), (*b).to_owned()])
            .collect()
    }

    #[test]
    fn postmortem_tables_keep_the_rows_that_mattered() {
        // Log patterns: the ones seen, not the twelve watched.
        let patterns = rows(&[
            ("upstream prematurely closed", "0"),
            ("too many open files", "931"),
            ("connection reset by peer", "0"),
            ("no live upstreams", "12"),
        ]);
        let (kept, left) = rows_that_mattered(&patterns, 0);
        assert_eq!(
            kept,
            rows(&[("too many open files", "931"), ("no live upstreams", "12")])
        );
        assert_eq!(left, 2);
        // A long table: the largest first, at most ten, the rest counted.
        let many: Vec<(String, String)> =
            (1..=25).map(|n| (format!("c{n}"), n.to_string())).collect();
        let many: Vec<Vec<String>> = many
            .iter()
            .map(|(a, b)| vec![a.clone(), b.clone()])
            .collect();
        let (kept, left) = rows_that_mattered(&many, 5);
        assert_eq!(kept.len(), KEPT_ROWS);
        assert_eq!(kept[0][1], "25");
        assert_eq!(left, 20);
        // Text tables keep their rows.
        let text = rows(&[("eth0", "up"), ("lo", "up")]);
        assert_eq!(rows_that_mattered(&text, 0), (text.clone(), 0));
    }
}
