//! Authoring calls: preview and test bench for the editor's unsaved text,
//! and `PUT /api/v1/playbooks/{id}` for scripts.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::authoring;
use crate::core::playbook::Playbook;
use crate::web::auth::CurrentUser;
use crate::web::pages::editor::{BenchView, normalize, save_edit};
use crate::web::pages::playbook::{SectionView, StepView, body_views};
use crate::web::{ApiError, AppState};

/// The most stored reports one test bench run reads.
const MAX_PICKED: usize = 20;

#[derive(Deserialize)]
pub struct SourceBody {
    pub source: String,
}

#[derive(Serialize)]
struct ErrorJson {
    line: usize,
    message: String,
}

#[derive(Template)]
#[template(path = "playbook_preview.html")]
struct PreviewView {
    preview_title: String,
    sections: Vec<SectionView>,
    steps: Vec<StepView>,
}

/// The JSON body: 400 when it is not JSON, 422 naming the problem when it
/// is JSON of the wrong shape (errors are JSON like every API error).
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        )
    })
}

fn render(template: &impl Template) -> Result<String, ApiError> {
    template.render().map_err(|e| {
        tracing::error!(error = %e, "template failed");
        ApiError::internal()
    })
}

fn invalid(e: &crate::core::playbook::PlaybookError) -> Value {
    json!({
        "valid": false,
        "errors": [ErrorJson { line: e.line, message: e.message.clone() }],
        "html": null,
    })
}

/// `POST /api/v1/playbooks/preview` `{"source"}`: the rendered HTML (the
/// same Markdown rendering and sanitising as the playbook page) and the
/// validation errors with their lines. Invalid text is an answer, not an
/// error: 200 with `"valid": false`.
pub async fn preview(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: SourceBody = parse_body(&body)?;
    // Parsing checks size and nesting first; the rest is CPU work.
    state
        .renderer
        .run(move || preview_json(&body.source))
        .await?
}

fn preview_json(source: &str) -> Result<Json<Value>, ApiError> {
    let source = normalize(source);
    let p = match Playbook::parse("playbook", &source) {
        Ok(p) => p,
        Err(e) => return Ok(Json(invalid(&e))),
    };
    let (sections, steps) = body_views(&p);
    let html = render(&PreviewView {
        preview_title: p.meta.title.clone(),
        sections,
        steps,
    })?;
    Ok(Json(json!({
        "valid": true,
        "errors": [],
        "id": p.id(),
        "title": p.meta.title,
        "html": html,
    })))
}

#[derive(Deserialize)]
pub struct BenchBody {
    pub source: String,
    #[serde(default)]
    pub reports: Vec<Uuid>,
}

#[derive(Template)]
#[template(path = "testbench.html")]
struct BenchHtml {
    bench: Option<Vec<BenchView>>,
}

/// `POST /api/v1/playbooks/testbench` `{"source", "reports": [id]}`: the
/// unsaved playbook's clauses run against its examples and the picked
/// stored reports. 422 with the error's line when the text is invalid.
pub async fn testbench(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: BenchBody = parse_body(&body)?;
    if body.reports.len() > MAX_PICKED {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_reports",
            format!("pick at most {MAX_PICKED} reports"),
        )
        .with_field("reports"));
    }
    let source = normalize(&body.source);
    let p = Playbook::parse("playbook", &source).map_err(crate::kb::KbError::from)?;
    let runs = authoring::test_bench(state.kb.store(), &p, &body.reports).await?;
    let html = render(&BenchHtml {
        bench: Some(runs.iter().map(BenchView::of).collect()),
    })?;
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "kind": r.kind,
                "label": r.label,
                "must_match": r.must_match,
                "fails": r.fails(),
                "problem": r.problem,
                "candidate": r.candidate,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": runs, "html": html })))
}

#[derive(Deserialize)]
pub struct PutBody {
    pub source: String,
    pub base_version: i64,
}

/// `PUT /api/v1/playbooks/{id}` `{"source", "base_version"}`: saves a new
/// version. 409 `conflict` when `base_version` is not the newest, 422 with
/// the line when the text is invalid.
pub async fn put_playbook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    user: CurrentUser,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: PutBody = parse_body(&body)?;
    let source = normalize(&body.source);
    let saved = save_edit(&state, &id, &source, body.base_version, &user).await?;
    Ok(Json(json!({
        "id": saved.playbook.id(),
        "version": saved.version.version,
        "author": saved.version.author,
        "created_at": saved.version.created_at.to_rfc3339(),
    })))
}
