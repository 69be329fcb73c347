//! `/reports` (recent reports, by collector), `/reports/{id}` (one report:
//! its observations with charts, and the diagnosis; responders attach it to
//! an open incident or open one from it) and `POST /reports/{id}/incident`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use faultline_probe::report::{Observation, Report};
use serde::Deserialize;
use uuid::Uuid;

use super::collectors::ago;
use super::diagnosis::DiagnosisView;
use super::observation_view::{ObservationView, TableView};
use super::render;
use crate::store::{IncidentFilter, IncidentStatus, Role, StoreError};
use crate::web::api::reports::ListParams;
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState, PageError};

pub struct ReportRow {
    pub id: String,
    pub collector: String,
    pub host: String,
    pub received: String,
    pub received_iso: String,
    pub duration: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsView {
    title: &'static str,
    query: String,
    collector: String,
    collectors: Vec<String>,
    rows: Vec<ReportRow>,
}

fn seconds(d: chrono::Duration) -> String {
    crate::web::units::seconds(d.num_milliseconds() as f64 / 1000.0)
}

pub async fn view_reports_get(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let (collector, limit) = params.parse()?;
    let store = state.kb.store();
    let reports = store
        .recent_reports(collector, limit)
        .await
        .map_err(ApiError::from)?;
    let collectors = store
        .collectors()
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let now = Utc::now();
    let rows = reports
        .into_iter()
        .map(|r| ReportRow {
            id: r.report_id.hyphenated().to_string(),
            received: ago(r.received_at, now),
            received_iso: r.received_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            duration: seconds(r.finished_at - r.started_at),
            collector: r.collector,
            host: r.host,
        })
        .collect();
    Ok(render(&ReportsView {
        title: "Reports",
        query: String::new(),
        collector: collector.unwrap_or_default().to_owned(),
        collectors,
        rows,
    }))
}

pub struct SkippedView {
    pub kind: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportView {
    title: String,
    query: String,
    id: String,
    collector: String,
    /// The name the report itself gave, when it differs from the token's.
    claimed_name: Option<String>,
    host: String,
    labels: Vec<(String, String)>,
    started: String,
    duration: String,
    received: String,
    /// The observations the diagnosis read, each saying for or against what.
    used: Vec<ObservationView>,
    /// The rest, shown folded.
    observations: Vec<ObservationView>,
    /// One row per network namespace the probe read apart (a node's pods).
    namespaces: Option<TableView>,
    /// Those namespaces' own socket tables, shown folded.
    namespace_observations: Vec<ObservationView>,
    skipped: Vec<SkippedView>,
    diagnosis: DiagnosisView,
    /// Open incidents this report can be attached to (responders only).
    open_incidents: Vec<(i64, String)>,
    /// Responders may open an incident from it.
    can_respond: bool,
    /// The title the "open an incident" form starts with.
    new_title: String,
    severities: [&'static str; 3],
}

/// Most open incidents offered on a report page.
const OPEN_INCIDENTS_OFFERED: i64 = 50;

pub async fn view_report_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let missing = || PageError::not_found(format!("There is no report with id {id}."));
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let stored = state
        .kb
        .store()
        .report(uuid)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(missing)?;
    let report: Report = serde_json::from_str(&stored.body).map_err(|e| {
        tracing::error!(error = %e, report_id = %uuid, "stored report does not parse");
        PageError::internal()
    })?;
    let s = &stored.summary;
    let now = Utc::now();
    // Diagnosed afresh against the playbooks as they are now (the ingest
    // answer keeps the diagnosis as it was at arrival).
    let matcher = crate::diagnose::matcher_for(&state.kb);
    let diagnosis = crate::diagnose::diagnose(&matcher, &report);
    let new_title = match diagnosis.likely().next() {
        Some(top) => format!("{} on {}", top.title, s.host),
        None => format!("Evidence from {} on {}", s.collector, s.host),
    };
    let uses = super::diagnosis::uses(&diagnosis);
    let diagnosis = DiagnosisView::new(&diagnosis);
    let (other_namespaces, own_namespace): (Vec<Observation>, Vec<Observation>) = report
        .observations
        .iter()
        .cloned()
        .partition(|o| matches!(o, Observation::TcpStates(t) if t.netns.is_some()));
    let (used, observations) = ObservationView::split_by_use(
        ObservationView::of_stored(
            &own_namespace,
            &format!("/api/v1/reports/{}", uuid.hyphenated()),
        ),
        &uses,
    );
    let can_respond = user.is_some_and(|u| u.can(Role::Responder));
    let open_incidents = if can_respond {
        state
            .kb
            .store()
            .incidents(&IncidentFilter {
                status: Some(IncidentStatus::Open),
                label: None,
                since: None,
                limit: OPEN_INCIDENTS_OFFERED,
            })
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(|i| (i.id, i.title))
            .collect()
    } else {
        Vec::new()
    };
    Ok(render(&ReportView {
        title: format!("Report from {}", s.collector),
        query: String::new(),
        id: uuid.hyphenated().to_string(),
        claimed_name: (report.collector.name != s.collector).then(|| report.collector.name.clone()),
        collector: s.collector.clone(),
        host: s.host.clone(),
        labels: s.labels.clone().into_iter().collect(),
        started: s.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        duration: seconds(s.finished_at - s.started_at),
        received: format!(
            "{} ({})",
            s.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(s.received_at, now)
        ),
        used,
        observations,
        namespaces: super::observation_window::namespaces(&report.observations),
        namespace_observations: ObservationView::of_stored(
            &other_namespaces,
            &format!("/api/v1/reports/{}", uuid.hyphenated()),
        ),
        skipped: report
            .skipped
            .iter()
            .map(|k| SkippedView {
                kind: k.kind.clone(),
                reason: k.reason.clone(),
            })
            .collect(),
        diagnosis,
        open_incidents,
        can_respond,
        new_title,
        severities: crate::incidents::SEVERITIES,
    }))
}

#[derive(Deserialize)]
pub struct OpenIncidentForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
}

/// `POST /reports/{id}/incident`: opens an incident with this report as its
/// first evidence (its labels and host become the incident's), then shows
/// the incident saying the report is attached.
pub async fn view_report_incident_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<OpenIncidentForm>,
) -> Result<Response, PageError> {
    let missing = || PageError::not_found(format!("There is no report with id {id}."));
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let (title, severity) =
        crate::incidents::check_new(&form.title, &form.severity).map_err(|message| {
            PageError::from(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
                    .with_field("title"),
            )
        })?;
    let opened = crate::incidents::open_from_report(
        &state.kb,
        &state.incident_bus,
        uuid,
        &title,
        &severity,
        &user.actor(),
    )
    .await;
    let (incident, event) = match opened {
        Err(StoreError::NotFound) => return Err(missing()),
        other => other.map_err(ApiError::from)?,
    };
    let to = format!("/incidents/{}?attached={}#evidence", incident.id, event.id);
    Ok(Redirect::to(&to).into_response())
}
