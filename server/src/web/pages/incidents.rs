//! `/incidents` (list with filters), `/incidents/new` (open by hand),
//! `/incidents/{id}` (one incident: diagnosis from all its evidence, the
//! checklist, evidence, timeline; notes, pastes, ticks and status changes
//! posted back to it), `/incidents/{id}/live` (the part of the page that
//! changes, re-rendered for `static/incident.js`) and `/incidents/{id}/events`
//! (Server-Sent Events: one per timeline append).

use std::convert::Infallible;
use std::ops::Deref;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::assessment::{Assessment, assess};
use super::collectors::ago;
use super::diagnosis::DiagnosisView;
use super::observation_view::ObservationView;
use super::{render, render_with};
use crate::core::markdown::to_safe_html;
use crate::core::placeholders;
use crate::incidents::candidates::{Choice, Ranked, Source};
use crate::incidents::filter::{self, FilterText};
use crate::incidents::{self, PasteOutcome};
use crate::store::{
    EventKind, Incident, IncidentEvent, IncidentFilter, IncidentStatus, NewIncident, Role,
};
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState, PageError};

/// Incidents a list shows.
const LIST_LIMIT: i64 = 200;
/// Keep-alive comment interval of the live stream: under the 60 s idle
/// timeout of common proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time as a `<time datetime>` (and `static/app.js`, which keeps "… ago"
/// current) reads it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How long the incident has been open, or was: "open for 2 h 14 min",
/// "resolved after 47 min".
fn duration(i: &Incident, now: DateTime<Utc>) -> String {
    let secs = |to: DateTime<Utc>| ((to - i.opened_at).num_seconds().max(0)) as f64;
    match i.resolved_at {
        Some(r) => format!("resolved after {}", crate::web::units::seconds(secs(r))),
        None => format!("open for {}", crate::web::units::seconds(secs(now))),
    }
}

// ---- List ----------------------------------------------------------------------------

pub struct IncidentRow {
    pub id: i64,
    pub title: String,
    pub status: &'static str,
    pub severity: String,
    pub labels: Vec<(String, String)>,
    pub opened: String,
    /// RFC 3339, for `<time datetime>`.
    pub opened_iso: String,
    /// As a person reads it (UTC).
    pub opened_at: String,
    pub opened_by: String,
}

impl IncidentRow {
    pub fn of(i: &Incident, now: DateTime<Utc>) -> IncidentRow {
        IncidentRow {
            id: i.id,
            title: i.title.clone(),
            status: i.status.as_str(),
            severity: i.severity.clone(),
            labels: i.labels.clone().into_iter().collect(),
            opened: ago(i.opened_at, now),
            opened_iso: iso(i.opened_at),
            opened_at: when(i.opened_at),
            opened_by: i.opened_by.clone(),
        }
    }
}

/// The open incidents, newest first, for the home page.
pub async fn open_rows(state: &AppState) -> Vec<IncidentRow> {
    let filter = IncidentFilter {
        status: Some(IncidentStatus::Open),
        limit: 20,
        ..Default::default()
    };
    let now = Utc::now();
    match state.kb.store().incidents(&filter).await {
        Ok(list) => list.iter().map(|i| IncidentRow::of(i, now)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "open incidents not listed on the home page");
            Vec::new()
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    /// `key=value`.
    #[serde(default)]
    label: String,
    /// `1h`, `24h`, `7d`, `30d` (the windows offered; any `incidents::filter`
    /// reads) or empty (any time).
    #[serde(default)]
    since: String,
}

/// Time windows the list offers.
const WINDOWS: [(&str, &str, i64); 4] = [
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86_400),
    ("7d", "last 7 days", 7 * 86_400),
    ("30d", "last 30 days", 30 * 86_400),
];

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsView {
    title: &'static str,
    query: String,
    status: String,
    label: String,
    since: String,
    statuses: [IncidentStatus; 3],
    windows: &'static [(&'static str, &'static str, i64)],
    rows: Vec<IncidentRow>,
}

pub async fn view_incidents_get(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let text = FilterText {
        status: &params.status,
        label: &params.label,
        since: &params.since,
        limit: "",
    };
    let filter = filter::parse(&text, LIST_LIMIT, Utc::now()).map_err(|e| {
        PageError::from(
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_filter", e.message).with_field(e.field),
        )
    })?;
    let list = state
        .kb
        .store()
        .incidents(&filter)
        .await
        .map_err(ApiError::from)?;
    let now = Utc::now();
    Ok(render(&IncidentsView {
        title: "Incidents",
        query: String::new(),
        status: params.status,
        label: params.label,
        since: params.since,
        statuses: IncidentStatus::ALL,
        windows: &WINDOWS,
        rows: list.iter().map(|i| IncidentRow::of(i, now)).collect(),
    }))
}

// ---- Open by hand ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "incident_new.html")]
struct NewIncidentView {
    title: &'static str,
    query: String,
    error: Option<String>,
    severities: [&'static str; 3],
    form: NewIncidentForm,
}

#[derive(Deserialize, Default)]
pub struct NewIncidentForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    /// One `key=value` per line (or comma separated).
    #[serde(default)]
    labels: String,
}

pub async fn view_incident_new_get() -> Response {
    render(&NewIncidentView {
        title: "Open an incident",
        query: String::new(),
        error: None,
        severities: incidents::SEVERITIES,
        form: NewIncidentForm {
            severity: "warning".into(),
            ..Default::default()
        },
    })
}

pub async fn view_incidents_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<NewIncidentForm>,
) -> Result<Response, PageError> {
    let invalid = |form: NewIncidentForm, message: String| {
        render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewIncidentView {
                title: "Open an incident",
                query: String::new(),
                error: Some(message),
                severities: incidents::SEVERITIES,
                form,
            },
        )
    };
    let (title, severity) = match incidents::check_new(&form.title, &form.severity) {
        Ok(checked) => checked,
        Err(message) => return Ok(invalid(form, message)),
    };
    let labels = match crate::core::labels::parse(&form.labels) {
        Ok(l) => l,
        Err(e) => return Ok(invalid(form, e)),
    };
    let who = user.actor();
    let incident = incidents::open_by_hand(
        &state.kb,
        &state.incident_bus,
        NewIncident {
            title: &title,
            severity: &severity,
            labels: &labels,
            opened_by: &who,
            group_key: None,
        },
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

// ---- One incident ----------------------------------------------------------------------

pub struct EventRow {
    pub id: i64,
    pub kind: &'static str,
    pub at: String,
    pub at_iso: String,
    pub at_title: String,
    pub who: String,
    pub text: String,
    pub link: Option<String>,
}

pub struct ReportLink {
    pub id: String,
    pub collector: String,
    pub received: String,
    pub received_iso: String,
    pub observations: Vec<ObservationView>,
}

pub struct PasteView {
    /// The paste's timeline event.
    pub event: i64,
    pub at: String,
    pub at_iso: String,
    pub who: String,
    pub formats: String,
    pub observations: Vec<ObservationView>,
}

pub struct StepRow {
    pub number: usize,
    pub title: String,
    /// The step as sanitised HTML, placeholders filled from the labels.
    pub html: String,
    /// Why a label did not fill its placeholder, one line each.
    pub unfilled: Vec<String>,
    pub ticked_by: Option<String>,
}

pub struct Checklist {
    pub playbook: String,
    pub title: String,
    /// Why these steps: "chosen by alice", "the top likely candidate", …
    pub basis: String,
    /// Only the alert text points here: nothing measured confirms it yet.
    pub unconfirmed: bool,
    pub steps: Vec<StepRow>,
    pub done: usize,
}

/// One ranked candidate as the page lists it.
pub struct CandidateRow {
    pub playbook: String,
    pub title: String,
    /// `evidence`, `route`, `responder` or `alert`: also the CSS modifier.
    pub source: &'static str,
    pub label: &'static str,
    pub likely: bool,
    pub score_text: String,
    pub confidence_text: String,
    /// What to measure to settle it (its unknown clauses' probes), when it
    /// is not likely yet; each as text and commands.
    pub collect: Vec<Vec<(String, bool)>>,
}

/// Commands offered per candidate to confirm or rule it out.
const COLLECT_SHOWN: usize = 2;

/// The ranked candidates and, in sentences, why each kind is there.
pub struct CandidatesView {
    pub rows: Vec<CandidateRow>,
    pub notes: Vec<String>,
}

impl CandidatesView {
    fn new(a: &Assessment) -> CandidatesView {
        let rows = a
            .candidates
            .iter()
            .map(|c| CandidateRow {
                playbook: c.playbook.clone(),
                title: c.title.clone(),
                source: c.source.as_str(),
                label: c.source.label(),
                likely: c.likely,
                score_text: format!("{:.0}%", c.score * 100.0),
                confidence_text: format!("{:.0}%", c.confidence * 100.0),
                collect: to_collect(a, &c.playbook)
                    .iter()
                    .map(|t| super::diagnosis::command_parts(t))
                    .collect(),
            })
            .collect();
        CandidatesView {
            rows,
            notes: notes(a),
        }
    }
}

/// The probes or commands that settle a candidate's unknown clauses,
/// heaviest first, each once.
fn to_collect(a: &Assessment, playbook: &str) -> Vec<String> {
    let Some(c) = a
        .diagnosis
        .candidates
        .iter()
        .find(|c| c.playbook == playbook)
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for e in &c.evidence_to_collect {
        if out.len() < COLLECT_SHOWN && !out.contains(&e.collect) {
            out.push(e.collect.clone());
        }
    }
    out
}

/// Who decided on a playbook, in a sentence.
fn decided_note(c: &Choice, title: &str) -> String {
    let who = if c.who.is_empty() {
        "A responder"
    } else {
        &c.who
    };
    match (&c.alertname, c.confirmed) {
        (Some(alert), _) => {
            format!(
                "Alert {alert} is mapped to “{title}” on /alert-routes, so its checklist is ready."
            )
        }
        (None, true) => format!("{who} confirmed “{title}” as the diagnosis."),
        (None, false) => format!("{who} chose “{title}” as the checklist."),
    }
}

/// Why the candidates are what they are, one sentence per reason.
fn notes(a: &Assessment) -> Vec<String> {
    let title = |id: &str| {
        a.candidates
            .iter()
            .find(|c| c.playbook == id)
            .map_or_else(|| id.to_owned(), |c| c.title.clone())
    };
    let mut notes: Vec<String> = a
        .decided
        .iter()
        .map(|c| decided_note(c, &title(&c.playbook)))
        .collect();
    if a.suggested() {
        let routed: Vec<&str> = a
            .decided
            .iter()
            .filter_map(|c| c.alertname.as_deref())
            .collect();
        let unmapped: Vec<&str> = a
            .alertnames
            .iter()
            .map(String::as_str)
            .filter(|n| !routed.contains(n))
            .collect();
        let searched = match (unmapped.as_slice(), a.alertnames.is_empty()) {
            (_, true) => "The incident's title was searched".to_owned(),
            ([], false) => "The alert's words were searched too".to_owned(),
            (names, false) => format!(
                "No playbook is mapped to alert {} (map one on /alert-routes), so the \
                 alert's words were searched",
                names.join(", ")
            ),
        };
        notes.push(format!(
            "{searched}: “{}”. The best hits are suggested by the alert text; only measured \
             evidence makes a candidate likely.",
            a.searched
        ));
    }
    notes
}

/// One host's row of the host × clause matrix.
pub struct HostRowView {
    pub host: String,
    pub likely: bool,
    pub since: String,
    pub since_iso: String,
    pub sources: String,
    /// (`true` / `false` / `unknown`, the signals read there).
    pub cells: Vec<(&'static str, String)>,
}

/// Which hosts show the incident's playbook, on which clauses, since when.
pub struct HostsView {
    pub playbook: String,
    pub title: String,
    /// (`when`, `says`).
    pub columns: Vec<(String, String)>,
    pub rows: Vec<HostRowView>,
}

impl HostsView {
    fn new(m: &crate::incidents::matrix::HostMatrix, now: DateTime<Utc>) -> HostsView {
        use crate::core::clause::Truth;
        HostsView {
            playbook: m.playbook.clone(),
            title: m.title.clone(),
            columns: m
                .columns
                .iter()
                .map(|c| (c.when.clone(), c.says.clone()))
                .collect(),
            rows: m
                .rows
                .iter()
                .map(|r| HostRowView {
                    host: r.host.clone(),
                    likely: r.likely,
                    since: ago(r.since, now),
                    since_iso: when(r.since),
                    sources: r.sources.join(", "),
                    cells: r
                        .cells
                        .iter()
                        .map(|c| {
                            let state = match c.state {
                                Truth::True => "true",
                                Truth::False => "false",
                                Truth::Unknown => "unknown",
                            };
                            let text = if c.observed.is_empty() {
                                "not measured".to_owned()
                            } else {
                                c.observed.clone()
                            };
                            (state, text)
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The part of the incident page that changes as evidence arrives.
#[derive(Template)]
#[template(path = "incident_live.html")]
pub struct Live {
    pub id: i64,
    pub can_respond: bool,
    pub status: &'static str,
    pub diagnosis: DiagnosisView,
    pub candidates: CandidatesView,
    pub feedback: super::feedback::FeedbackView,
    pub checklist: Option<Checklist>,
    pub hosts: Option<HostsView>,
    /// The observations the diagnosis read (the newest of each kind), each
    /// saying for or against what.
    pub deciding: Vec<ObservationView>,
    pub reports: Vec<ReportLink>,
    pub pastes: Vec<PasteView>,
    pub timeline: Vec<EventRow>,
    /// Id of the newest timeline event (the page's live stream resumes after it).
    pub last_event: i64,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentView {
    title: String,
    query: String,
    head: IncidentRow,
    resolved_iso: Option<String>,
    /// "open for 2 h", "resolved after 47 min".
    duration: String,
    statuses: [IncidentStatus; 3],
    playbooks: Vec<(String, String)>,
    chosen: String,
    /// (kind, text, where: "paste" or "top") after a form posted without script.
    flash: Option<(&'static str, String, &'static str)>,
    /// What a Right / Wrong link from a message offers.
    verdict_link: Option<super::verdict_link::VerdictLinkView>,
    /// The incident's postmortem, when one is written: the page links to it.
    postmortem: Option<i64>,
    /// The Prometheus evidence is pulled from, when one is configured.
    prometheus: Option<String>,
    live: Live,
}

impl Deref for IncidentView {
    type Target = Live;
    fn deref(&self) -> &Live {
        &self.live
    }
}

async fn load(state: &AppState, id: i64) -> Result<(Incident, Vec<IncidentEvent>), PageError> {
    let store = state.kb.store();
    let incident = store
        .incident(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| PageError::not_found(format!("There is no incident {id}.")))?;
    let events = store.events(id).await.map_err(ApiError::from)?;
    Ok((incident, events))
}

fn event_row(e: &IncidentEvent, now: DateTime<Utc>) -> EventRow {
    let link = match e.kind {
        EventKind::Report => e.body["report_id"]
            .as_str()
            .map(|id| format!("/reports/{id}")),
        EventKind::Alert => e.body["generatorURL"]
            .as_str()
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .map(str::to_owned),
        _ => None,
    };
    EventRow {
        id: e.id,
        kind: e.kind.as_str(),
        at: ago(e.at, now),
        at_iso: iso(e.at),
        at_title: when(e.at),
        who: e.who.clone(),
        text: incidents::describe(e),
        link,
    }
}

async fn live(
    state: &AppState,
    incident: &Incident,
    events: &[IncidentEvent],
    can_respond: bool,
) -> Result<Live, PageError> {
    let assessment = assess(&state.kb, incident, events).await?;
    let ticks = state
        .kb
        .store()
        .ticks(incident.id)
        .await
        .map_err(ApiError::from)?;
    let checklist = assessment.checklist().and_then(|ranked| {
        let id = &ranked.playbook;
        let current = state.kb.get(id)?;
        let steps: Vec<StepRow> = current
            .playbook
            .steps()
            .into_iter()
            .map(|s| {
                let filled = placeholders::fill(&s.markdown, &incident.labels);
                StepRow {
                    number: s.number,
                    title: s.title.clone(),
                    html: to_safe_html(&filled.text),
                    unfilled: filled.unfilled.iter().map(ToString::to_string).collect(),
                    ticked_by: ticks
                        .iter()
                        .find(|t| t.playbook == *id && t.step == s.number as i64)
                        .map(|t| format!("{}, {}", t.ticked_by, when(t.ticked_at))),
                }
            })
            .collect();
        Some(Checklist {
            title: current.playbook.meta.title.clone(),
            basis: checklist_basis(&assessment, ranked),
            unconfirmed: ranked.source == Source::Alert,
            done: steps.iter().filter(|s| s.ticked_by.is_some()).count(),
            playbook: id.clone(),
            steps,
        })
    });
    let evidence = &assessment.evidence;
    let now = Utc::now();
    let deciding = deciding(evidence, &super::diagnosis::uses(&assessment.diagnosis));
    let mut timeline: Vec<EventRow> = events.iter().map(|e| event_row(e, now)).collect();
    timeline.reverse();
    Ok(Live {
        id: incident.id,
        can_respond,
        status: incident.status.as_str(),
        diagnosis: DiagnosisView::new(&assessment.diagnosis),
        candidates: CandidatesView::new(&assessment),
        feedback: super::feedback::FeedbackView::new(
            &state.kb,
            &assessment.candidates,
            &assessment.verdicts,
        ),
        checklist,
        hosts: assessment.hosts.as_ref().map(|m| HostsView::new(m, now)),
        deciding,
        reports: evidence
            .reports
            .iter()
            .rev()
            .map(|r| ReportLink {
                id: r.summary.report_id.hyphenated().to_string(),
                collector: match r.report.source.as_deref() {
                    Some(source) => format!("{source} about {}", r.summary.host),
                    None => r.summary.collector.clone(),
                },
                received: ago(r.summary.received_at, now),
                received_iso: iso(r.summary.received_at),
                observations: r
                    .report
                    .observations
                    .iter()
                    .map(ObservationView::of)
                    .collect(),
            })
            .collect(),
        pastes: evidence
            .pastes
            .iter()
            .rev()
            .map(|p| PasteView {
                event: p.event.id,
                at: ago(p.event.at, now),
                at_iso: iso(p.event.at),
                who: p.event.who.clone(),
                formats: p.formats.join(", "),
                observations: p.observations.iter().map(ObservationView::of).collect(),
            })
            .collect(),
        last_event: events.last().map_or(0, |e| e.id),
        timeline,
    })
}

/// The newest observation of each kind the diagnosis read, newest evidence
/// first (newer evidence of a kind counts over older in the diagnosis too).
fn deciding(
    evidence: &incidents::Evidence,
    uses: &std::collections::BTreeMap<&'static str, Vec<String>>,
) -> Vec<ObservationView> {
    let mut dated: Vec<(DateTime<Utc>, &faultline_probe::report::Observation)> = Vec::new();
    for r in &evidence.reports {
        dated.extend(
            r.report
                .observations
                .iter()
                .map(|o| (r.summary.received_at, o)),
        );
    }
    for p in &evidence.pastes {
        dated.extend(p.observations.iter().map(|o| (p.event.at, o)));
    }
    // Stable: of two at the same time, the later listed is the newer.
    dated.sort_by_key(|(at, _)| *at);
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (_, o) in dated.into_iter().rev() {
        let mut view = ObservationView::of(o);
        let Some(notes) = uses.get(view.kind.as_str()) else {
            continue;
        };
        if seen.contains(&view.kind) {
            continue;
        }
        seen.push(view.kind.clone());
        view.uses = notes.clone();
        out.push(view);
    }
    out
}

/// Why the checklist shows these steps.
fn checklist_basis(a: &Assessment, ranked: &Ranked) -> String {
    let decided = a.decided.iter().find(|c| c.playbook == ranked.playbook);
    let who = |c: &Choice| {
        if c.who.is_empty() {
            "a responder".to_owned()
        } else {
            c.who.clone()
        }
    };
    match (decided, ranked.source) {
        (Some(c), _) if c.alertname.is_some() => format!(
            "alert {} is mapped to it",
            c.alertname.as_deref().unwrap_or_default()
        ),
        (Some(c), _) if c.confirmed => format!("confirmed by {}", who(c)),
        (Some(c), _) => format!("chosen by {}", who(c)),
        (None, Source::Alert) => {
            "suggested by the alert text; nothing measured confirms it yet".to_owned()
        }
        _ => "the top likely candidate".to_owned(),
    }
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    /// The event a paste just made, to say what became of it.
    #[serde(default)]
    pasted: Option<i64>,
    /// The report event an attach just made, to say it did.
    #[serde(default)]
    attached: Option<i64>,
    /// A Right / Wrong link from an outbound message (see
    /// [`super::verdict_link`]): all four, or it is not one.
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    playbook: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    /// The event a pull from Prometheus just made (a report, or a note
    /// saying why not).
    #[serde(default)]
    pulled: Option<i64>,
}

pub async fn view_incident_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    let (incident, events) = load(&state, id).await?;
    let can_respond = user.as_ref().is_some_and(|u| u.can(Role::Responder));
    let attached = params
        .attached
        .and_then(|aid| {
            events
                .iter()
                .find(|e| e.id == aid && e.kind == EventKind::Report)
        })
        .map(|e| {
            let text = format!(
                "{} is attached as evidence; the diagnosis below includes it.",
                incidents::describe(e)
            );
            ("ok", text, "top")
        });
    let flash = params
        .pasted
        .and_then(|pid| events.iter().find(|e| e.id == pid))
        .map(|e| {
            let (kind, text) = paste_outcome(e);
            (kind, text, "paste")
        })
        .or(attached)
        .or_else(|| {
            let e = events.iter().find(|e| Some(e.id) == params.pulled)?;
            Some(match e.kind {
                EventKind::Report => (
                    "ok",
                    format!(
                        "{}; the diagnosis below includes it.",
                        incidents::describe(e)
                    ),
                    "top",
                ),
                _ => ("warn", incidents::describe(e), "top"),
            })
        });
    let verdict_link = match (
        &params.verdict,
        &params.playbook,
        &params.until,
        &params.sig,
    ) {
        (Some(verdict), Some(playbook), Some(until), Some(sig)) => {
            let link = super::verdict_link::LinkParams {
                verdict,
                playbook,
                until,
                sig,
            };
            let here = format!(
                "/incidents/{id}?verdict={}&playbook={}&until={}&sig={}",
                crate::web::auth::percent_encode(verdict),
                crate::web::auth::percent_encode(playbook),
                crate::web::auth::percent_encode(until),
                crate::web::auth::percent_encode(sig)
            );
            Some(super::verdict_link::view(&state, &incident, user.as_ref(), link, &here).await)
        }
        _ => None,
    };
    let live = live(&state, &incident, &events, can_respond).await?;
    let postmortem = state
        .kb
        .store()
        .postmortem_for_incident(id)
        .await
        .map_err(ApiError::from)?
        .map(|p| p.id);
    let mut playbooks: Vec<(String, String)> = state
        .kb
        .list()
        .iter()
        .map(|c| (c.playbook.id().to_owned(), c.playbook.meta.title.clone()))
        .collect();
    playbooks.sort_by(|a, b| a.1.cmp(&b.1));
    let now = Utc::now();
    Ok(render(&IncidentView {
        title: format!("Incident {}: {}", incident.id, incident.title),
        query: String::new(),
        resolved_iso: incident.resolved_at.map(iso),
        duration: duration(&incident, now),
        head: IncidentRow::of(&incident, now),
        statuses: IncidentStatus::ALL,
        chosen: incident.playbook.clone().unwrap_or_default(),
        playbooks,
        flash,
        verdict_link,
        postmortem,
        prometheus: state.prometheus.as_ref().map(|p| p.url.clone()),
        live,
    }))
}

/// The changing part of the page alone, for the live script.
pub async fn view_incident_live_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (incident, events) = load(&state, id).await?;
    let can_respond = user.is_some_and(|u| u.can(Role::Responder));
    Ok(render(
        &live(&state, &incident, &events, can_respond).await?,
    ))
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    playbook: String,
    #[serde(default)]
    step: Option<i64>,
    /// A stored report's id (or its page's address) to attach as evidence.
    #[serde(default)]
    report: String,
}

/// Largest note or paste taken, in bytes (URL-encoded it stays under
/// `access::INCIDENT_FORM_LIMIT`).
const TEXT_LIMIT: usize = 256 * 1024;

/// What a form on the incident page did: where the page goes without
/// script, and, with it, what to say next to the form that was used.
pub struct Done {
    /// Where a browser without script is sent (a redirect).
    pub to: String,
    /// `ok` or `warn`.
    pub kind: &'static str,
    pub message: String,
}

/// Whether a form was posted by the page's script (`Accept:
/// application/json`): it gets the outcome as JSON and updates in place.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The answer to a form post: JSON `{"kind", "message"}` (errors as the
/// API's `{"error"}`) for the page's script, else a redirect (errors as a page).
pub fn answer(done: Result<Done, ApiError>, json: bool) -> Response {
    match (done, json) {
        (Ok(d), true) => {
            Json(serde_json::json!({ "kind": d.kind, "message": d.message })).into_response()
        }
        (Ok(d), false) => Redirect::to(&d.to).into_response(),
        (Err(e), true) => e.into_response(),
        (Err(e), false) => PageError::from(e).into_response(),
    }
}

/// What became of a paste, in a sentence: (`ok` or `warn`, text).
fn paste_outcome(e: &IncidentEvent) -> (&'static str, String) {
    match e.kind {
        EventKind::Paste => (
            "ok",
            incidents::describe(e) + ". The diagnosis includes it.",
        ),
        _ => (
            "warn",
            format!(
                "Nothing in the paste was recognised; it is kept as a note. {}",
                e.body["unrecognised"].as_str().unwrap_or_default()
            ),
        ),
    }
}

pub async fn view_incident_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    answer(act(&state, &user, id, form).await, wants_json(&headers))
}

async fn act(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: ActionForm,
) -> Result<Done, ApiError> {
    let (kb, bus, who) = (&state.kb, &state.incident_bus, user.actor());
    let invalid = |field: &str, message: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    };
    if form.text.len() > TEXT_LIMIT {
        return Err(invalid("text", "The text is longer than 256 KiB."));
    }
    // The incident must exist whatever the action.
    kb.store()
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("There is no incident {id}.")))?;
    let back = format!("/incidents/{id}");
    let done = |to: String, kind: &'static str, message: String| Done { to, kind, message };
    Ok(match form.action.as_str() {
        "note" => {
            let text = form.text.trim();
            if text.is_empty() {
                return Err(invalid("text", "The note is empty."));
            }
            incidents::add_note(kb, bus, id, &who, text).await?;
            done(
                format!("{back}#timeline"),
                "ok",
                "Note added to the timeline.".into(),
            )
        }
        "paste" => {
            if form.text.trim().is_empty() {
                return Err(invalid("text", "The paste is empty."));
            }
            let event = match incidents::add_paste(kb, bus, id, &who, &form.text).await? {
                PasteOutcome::Recognised { event, .. } | PasteOutcome::KeptAsNote { event, .. } => {
                    event
                }
            };
            let (kind, message) = paste_outcome(&event);
            done(format!("{back}?pasted={}#paste", event.id), kind, message)
        }
        "status" => {
            let status = IncidentStatus::parse(&form.status)
                .ok_or_else(|| invalid("status", "Use open, mitigated or resolved."))?;
            incidents::set_status(kb, bus, id, status, &who).await?;
            done(back, "ok", format!("Marked {}.", status.as_str()))
        }
        "tick" | "untick" => {
            let step = form
                .step
                .filter(|s| (1..=1000).contains(s))
                .ok_or_else(|| invalid("step", "No step number."))?;
            if kb.get(&form.playbook).is_none() {
                return Err(invalid("playbook", "There is no such playbook."));
            }
            let tick = form.action == "tick";
            if let Some(event) = kb
                .store()
                .set_tick(id, &form.playbook, step, tick, &who)
                .await?
            {
                bus.publish(&event);
            }
            let what = if tick { "done" } else { "not done" };
            done(
                format!("{back}#step-{step}"),
                "ok",
                format!("Step {step} marked {what}."),
            )
        }
        "playbook" => {
            let choice = match form.playbook.trim() {
                "" => None,
                p if kb.get(p).is_some() => Some(p),
                _ => return Err(invalid("playbook", "There is no such playbook.")),
            };
            let event = kb.store().set_playbook(id, choice, &who, None).await?;
            bus.publish(&event);
            let message = match choice.and_then(|p| kb.get(p)) {
                Some(c) => format!("The checklist now follows “{}”.", c.playbook.meta.title),
                None => "The checklist follows the top likely candidate again.".to_owned(),
            };
            done(format!("{back}#checklist"), "ok", message)
        }
        "pull" => {
            let Some(settings) = &state.prometheus else {
                return Err(invalid(
                    "action",
                    "No Prometheus is configured: set prometheus_url to pull evidence.",
                ));
            };
            let fold = state.report_cool_down.fold();
            let outcome = incidents::pull::pull(kb, bus, settings, fold, id, &who)
                .await
                .map_err(ApiError::from)?;
            let event = outcome.event();
            let kind = if event.kind == EventKind::Report {
                "ok"
            } else {
                "warn"
            };
            done(
                format!("{back}?pulled={}#evidence", event.id),
                kind,
                incidents::describe(event),
            )
        }
        "report" => {
            // A bare id or the report page's address (`…/reports/{id}`).
            let given = form.report.trim().trim_end_matches('/');
            let report = given
                .rsplit('/')
                .next()
                .and_then(|r| uuid::Uuid::parse_str(r).ok())
                .ok_or_else(|| invalid("report", "Give a report id or its page's address."))?;
            let event = match incidents::link_report(kb, bus, id, &who, report).await {
                Err(crate::store::StoreError::NotFound) => {
                    return Err(invalid("report", "There is no stored report with that id."));
                }
                other => other?,
            };
            let message = format!(
                "{} is attached as evidence; the diagnosis includes it.",
                incidents::describe(&event)
            );
            done(
                format!("{back}?attached={}#evidence", event.id),
                "ok",
                message,
            )
        }
        other => {
            return Err(invalid(
                "action",
                &format!(
                    "Unknown action {other:?}; use note, paste, status, tick, untick, playbook, \
                     report or pull."
                ),
            ));
        }
    })
}

// ---- Live stream ----------------------------------------------------------------------

/// `GET /incidents/{id}/events`: one `timeline` event per append to this
/// incident (data: the event id and kind), `reload` when this listener fell
/// behind, keep-alive comments in between. Ends when the server drains.
pub async fn view_incident_events_get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    load(&state, id).await?;
    let stream = incident_stream(&state, id);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

fn incident_stream(
    state: &AppState,
    id: i64,
) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let events = state.incident_bus.subscribe();
    let closing = state.incident_bus.closing();
    let resyncs = state.incident_bus.resyncs();
    futures_util::stream::unfold(
        (events, closing, resyncs),
        move |(mut events, mut closing, mut resyncs)| async move {
            loop {
                if *closing.borrow_and_update() {
                    return None;
                }
                let next = tokio::select! {
                    next = events.recv() => next,
                    _ = closing.changed() => return None,
                    // Missed events (another replica's, while unheard).
                    Ok(()) = resyncs.changed() => Err(RecvError::Lagged(0)),
                };
                let event = match next {
                    Ok(e) if e.incident_id == id => Event::default()
                        .event("timeline")
                        .id(e.id.to_string())
                        .data(format!(
                            "{{\"id\":{},\"kind\":\"{}\"}}",
                            e.id,
                            e.kind.as_str()
                        )),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => Event::default().event("reload").data("{}"),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (events, closing, resyncs)));
            }
        },
    )
}
