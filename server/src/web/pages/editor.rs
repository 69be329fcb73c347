//! The playbook editor: `/playbooks/{id}/edit` and `/playbooks/new`.
//!
//! The page works without script: the form posts the text, and the answer
//! is the same page with the preview, the errors at their lines, the test
//! bench or, when someone saved first, the conflict. `static/editor.js`
//! adds the live preview and the line gutter over the same server calls.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::diagnosis::{CandidateView, candidate};
use super::playbook::{SectionView, StepView, body_views};
use super::render_with;
use crate::authoring::{self, BenchRun};
use crate::core::diff::{LineDiff, line_diff};
use crate::core::playbook::{Playbook, PlaybookError};
use crate::kb::{Current, KbError};
use crate::store::{Origin, Role, StoreError};
use crate::web::auth::{CurrentUser, signed_in};
use crate::web::{ApiError, AppState, PageError};

/// Stored reports offered to the test bench, newest first.
const REPORT_CHOICES: i64 = 50;

/// Whether the caller may edit playbooks (templates show the links).
pub fn can_edit() -> bool {
    signed_in().is_some_and(|u| u.can(Role::Editor))
}

/// A validation error with the text of its line.
pub struct ErrorLine {
    pub line: usize,
    pub message: String,
    pub excerpt: String,
}

impl ErrorLine {
    pub fn of(e: &PlaybookError, source: &str) -> ErrorLine {
        ErrorLine {
            line: e.line,
            message: e.message.clone(),
            excerpt: source
                .lines()
                .nth(e.line.saturating_sub(1))
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

pub struct ReportChoice {
    pub id: String,
    pub label: String,
    pub picked: bool,
}

/// Someone saved a newer version while this editor was open.
pub struct ConflictView {
    pub version: i64,
    pub author: String,
    pub when: String,
    pub source: String,
    /// From their version to the editor's text.
    pub diff: LineDiff,
    /// What they changed: from the version the editor started from to
    /// theirs (`None` when that version is gone).
    pub their_change: Option<LineDiff>,
}

pub struct BenchView {
    pub kind: &'static str,
    pub label: String,
    pub must_match: bool,
    pub fails: bool,
    pub problem: Option<String>,
    pub candidate: Option<CandidateView>,
}

impl BenchView {
    pub fn of(run: &BenchRun) -> BenchView {
        BenchView {
            kind: run.kind,
            label: run.label.clone(),
            must_match: run.must_match,
            fails: run.fails(),
            problem: run.problem.clone(),
            candidate: run.candidate.as_ref().map(candidate),
        }
    }
}

#[derive(Template)]
#[template(path = "editor.html")]
struct EditorView {
    title: String,
    query: String,
    is_new: bool,
    /// The playbook being edited ("" for a new one).
    id: String,
    action: String,
    source: String,
    base_version: i64,
    errors: Vec<ErrorLine>,
    notice: Option<String>,
    conflict: Option<ConflictView>,
    preview_title: String,
    sections: Vec<SectionView>,
    steps: Vec<StepView>,
    reports: Vec<ReportChoice>,
    bench: Option<Vec<BenchView>>,
}

impl EditorView {
    /// The page for `source`, with its preview (or its error) filled in.
    fn new(id: &str, source: String, base_version: i64) -> EditorView {
        let is_new = id.is_empty();
        let mut view = EditorView {
            title: if is_new {
                "New playbook".into()
            } else {
                format!("Edit {id}")
            },
            query: String::new(),
            is_new,
            id: id.to_owned(),
            action: if is_new {
                "/playbooks/new".into()
            } else {
                format!("/playbooks/{id}/edit")
            },
            source,
            base_version,
            errors: Vec::new(),
            notice: None,
            conflict: None,
            preview_title: String::new(),
            sections: Vec::new(),
            steps: Vec::new(),
            reports: Vec::new(),
            bench: None,
        };
        match Playbook::parse(&view.label(), &view.source) {
            Ok(p) => view.show(&p),
            Err(e) => view.errors.push(ErrorLine::of(&e, &view.source)),
        }
        view
    }

    fn label(&self) -> String {
        if self.is_new {
            "new playbook".into()
        } else {
            format!("{}.md", self.id)
        }
    }

    fn show(&mut self, p: &Playbook) {
        (self.sections, self.steps) = body_views(p);
        self.preview_title = p.meta.title.clone();
    }

    async fn with_reports(mut self, state: &AppState, picked: Option<Uuid>) -> EditorView {
        match state.kb.store().recent_reports(None, REPORT_CHOICES).await {
            Ok(list) => {
                self.reports = list
                    .into_iter()
                    .map(|r| ReportChoice {
                        picked: Some(r.report_id) == picked,
                        id: r.report_id.to_string(),
                        label: format!(
                            "{} · {} · {}",
                            r.received_at.format("%Y-%m-%d %H:%M"),
                            r.collector,
                            r.host
                        ),
                    })
                    .collect();
            }
            Err(e) => tracing::warn!(error = %e, "cannot list reports for the test bench"),
        }
        self
    }
}

/// Textareas send CRLF line endings; playbooks are stored with LF.
pub fn normalize(source: &str) -> String {
    source.replace("\r\n", "\n")
}

/// The 1-based line of the front matter's `id = …`, for errors about it.
fn id_line(source: &str) -> usize {
    source
        .lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix("id")
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |n| n + 1)
}

/// Validates and saves an edit of playbook `id` on top of `base_version`.
/// The text must keep the id: renaming is duplicating.
pub async fn save_edit(
    state: &AppState,
    id: &str,
    source: &str,
    base_version: i64,
    user: &CurrentUser,
) -> Result<Arc<Current>, KbError> {
    let label = format!("{id}.md");
    let playbook = Playbook::parse(&label, source)?;
    if playbook.id() != id {
        return Err(KbError::Invalid(PlaybookError::new(
            &label,
            id_line(source),
            format!(
                "the id cannot change while editing (it was `{id}`); to make a playbook with a new id, duplicate this one"
            ),
        )));
    }
    state
        .kb
        .save(
            &label,
            source,
            Origin::Edit,
            Some(&user.actor()),
            Some(base_version),
        )
        .await
}

#[derive(Deserialize)]
pub struct NewQuery {
    from: Option<String>,
}

pub async fn view_new_get(
    State(state): State<AppState>,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let source = match q.from.as_deref().filter(|f| !f.is_empty()) {
        None => authoring::BLANK.to_owned(),
        Some(from) => {
            let c = state.kb.get(from).ok_or_else(|| {
                PageError::not_found(format!("There is no playbook called “{from}” to copy."))
            })?;
            authoring::duplicate(c.playbook.source(), &format!("{from}-copy"))
        }
    };
    let view = EditorView::new("", source, 0)
        .with_reports(&state, None)
        .await;
    Ok(render_with(StatusCode::OK, &view))
}

#[derive(Deserialize)]
pub struct EditQuery {
    /// Any value: open with the test bench already run (after a promotion).
    bench: Option<String>,
}

pub async fn view_editor_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    // The stored text, even when it no longer parses: the editor is where
    // it gets fixed.
    let current = state
        .kb
        .store()
        .current_playbook(&id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| PageError::not_found(format!("There is no playbook called “{id}”.")))?;
    let mut view = EditorView::new(&id, current.source, current.version);
    if q.bench.is_some()
        && let Ok(p) = Playbook::parse(&view.label(), &view.source)
    {
        let runs = authoring::test_bench(state.kb.store(), &p, &[])
            .await
            .map_err(ApiError::from)?;
        view.bench = Some(runs.iter().map(BenchView::of).collect());
    }
    let view = view.with_reports(&state, None).await;
    Ok(render_with(StatusCode::OK, &view))
}

#[derive(Deserialize)]
pub struct EditForm {
    source: String,
    #[serde(default)]
    base_version: i64,
    /// save (the default), check, bench or rebase.
    #[serde(default)]
    intent: String,
    /// A stored report for the test bench ("" for none).
    #[serde(default)]
    report: String,
}

pub async fn view_editor_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    user: CurrentUser,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    post(state, id, user, form).await
}

pub async fn view_new_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    post(state, String::new(), user, form).await
}

async fn post(
    state: AppState,
    id: String,
    user: CurrentUser,
    form: EditForm,
) -> Result<Response, PageError> {
    let source = normalize(&form.source);
    let picked = Uuid::parse_str(form.report.trim()).ok();
    let mut view = EditorView::new(&id, source, form.base_version);
    match form.intent.as_str() {
        "check" => {}
        "bench" => {
            if let Ok(p) = Playbook::parse(&view.label(), &view.source) {
                let runs = authoring::test_bench(state.kb.store(), &p, picked.as_slice())
                    .await
                    .map_err(ApiError::from)?;
                view.bench = Some(runs.iter().map(BenchView::of).collect());
            }
        }
        "rebase" => {
            let current = state
                .kb
                .store()
                .current_playbook(&id)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| PageError::not_found(format!("There is no playbook “{id}”.")))?;
            view.base_version = current.version;
            view.notice = Some(format!(
                "Your text is now based on version {}. Nothing is saved yet: check the \
                 other change is kept in your text, then save.",
                current.version
            ));
        }
        _ if !view.errors.is_empty() => {}
        _ => return save(&state, view, &user).await,
    }
    let status = if view.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render_with(
        status,
        &view.with_reports(&state, picked).await,
    ))
}

async fn save(
    state: &AppState,
    mut view: EditorView,
    user: &CurrentUser,
) -> Result<Response, PageError> {
    let result = if view.is_new {
        match Playbook::parse(&view.label(), &view.source) {
            Ok(p) => state
                .kb
                .save(
                    &format!("{}.md", p.id()),
                    &view.source,
                    Origin::Edit,
                    Some(&user.actor()),
                    Some(0),
                )
                .await
                .map_err(|e| match e {
                    KbError::Store(StoreError::Conflict { .. }) => {
                        KbError::Invalid(PlaybookError::new(
                            "new playbook",
                            id_line(&view.source),
                            format!(
                                "there is already a playbook with the id `{}`; choose another id",
                                p.id()
                            ),
                        ))
                    }
                    e => e,
                }),
            Err(e) => Err(KbError::Invalid(e)),
        }
    } else {
        save_edit(state, &view.id, &view.source, view.base_version, user).await
    };
    match result {
        Ok(saved) => {
            Ok(Redirect::to(&format!("/playbooks/{}", saved.playbook.id())).into_response())
        }
        Err(KbError::Invalid(e)) => {
            view.errors = vec![ErrorLine::of(&e, &view.source)];
            Ok(render_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &view.with_reports(state, None).await,
            ))
        }
        Err(KbError::Store(StoreError::Conflict { .. })) => {
            let theirs = state
                .kb
                .store()
                .current_playbook(&view.id)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(PageError::internal)?;
            let base = state
                .kb
                .store()
                .playbook_version(&view.id, view.base_version)
                .await
                .map_err(ApiError::from)?;
            view.conflict = Some(ConflictView {
                their_change: base.map(|b| line_diff(&b.source, &theirs.source)),
                version: theirs.version,
                author: theirs
                    .author
                    .clone()
                    .unwrap_or_else(|| theirs.origin.as_str().to_owned()),
                when: theirs
                    .created_at
                    .format("%Y-%m-%d %H:%M:%S UTC")
                    .to_string(),
                diff: line_diff(&theirs.source, &view.source),
                source: theirs.source,
            });
            Ok(render_with(
                StatusCode::CONFLICT,
                &view.with_reports(state, None).await,
            ))
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}
