//! Incidents as a service: the evidence an incident holds (reports linked to
//! it, pasted observations), the diagnosis recomputed from all of it, the
//! checklist of the chosen playbook with commands filled from the labels, and
//! the ways evidence arrives (paste, report, alert). Every timeline append is
//! published on the [`bus::Bus`] after it is durable.

pub mod alertmanager;
pub mod bus;
pub mod candidates;
pub mod filter;
pub mod matrix;
pub mod pull;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use faultline_probe::report::{Collector, Observation, Report};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::core::matcher::Diagnosis;
use crate::core::paste;
use crate::kb::KnowledgeBase;
use crate::store::{
    BatchDone, BatchWrite, EventKind, Incident, IncidentEvent, IncidentFilter, IncidentStatus,
    NewIncident, ReportSummary, StoreError, StoreResult,
};

/// Longest paste kept on the timeline, in bytes (the observations are kept
/// whole; the text is for people to read back).
const PASTE_TEXT_KEPT: usize = 16 * 1024;

/// A report linked to an incident.
pub struct LinkedReport {
    pub summary: ReportSummary,
    pub report: Report,
}

/// Observations pasted on the incident.
pub struct PastedEvidence {
    pub event: IncidentEvent,
    pub formats: Vec<String>,
    pub observations: Vec<Observation>,
}

/// Everything the incident holds as evidence, oldest first.
pub struct Evidence {
    pub reports: Vec<LinkedReport>,
    pub pastes: Vec<PastedEvidence>,
}

impl Evidence {
    /// One report-like input for the matcher: every observation of every
    /// linked report and paste, in arrival order, so newer evidence of a kind
    /// counts over older.
    pub fn merged(&self, incident: &Incident) -> Report {
        let mut dated: Vec<(DateTime<Utc>, &Observation)> = Vec::new();
        for r in &self.reports {
            dated.extend(
                r.report
                    .observations
                    .iter()
                    .map(|o| (r.summary.received_at, o)),
            );
        }
        for p in &self.pastes {
            dated.extend(p.observations.iter().map(|o| (p.event.at, o)));
        }
        dated.sort_by_key(|(at, _)| *at);
        let mut report = Report::new(Collector {
            name: format!("incident-{}", incident.id),
            host: incident.labels.get("host").cloned().unwrap_or_default(),
            labels: incident.labels.clone(),
        });
        report.observations = dated.into_iter().map(|(_, o)| o.clone()).collect();
        report
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty() && self.pastes.is_empty()
    }
}

/// Reads the evidence out of the timeline: `report` events name a stored
/// report, `paste` events carry their observations.
pub async fn evidence(kb: &KnowledgeBase, events: &[IncidentEvent]) -> StoreResult<Evidence> {
    let mut reports = Vec::new();
    let mut pastes = Vec::new();
    let mut seen = Vec::new();
    for e in events {
        match e.kind {
            EventKind::Report => {
                let Some(id) = e.body["report_id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                else {
                    continue;
                };
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id);
                let Some(stored) = kb.store().report(id).await? else {
                    continue;
                };
                match serde_json::from_str::<Report>(&stored.body) {
                    Ok(report) => reports.push(LinkedReport {
                        summary: stored.summary,
                        report,
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, report_id = %id, "stored report does not parse")
                    }
                }
            }
            EventKind::Paste => {
                let observations =
                    serde_json::from_value(e.body["observations"].clone()).unwrap_or_default();
                let formats = e.body["formats"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                pastes.push(PastedEvidence {
                    event: e.clone(),
                    formats,
                    observations,
                });
            }
            _ => {}
        }
    }
    Ok(Evidence { reports, pastes })
}

/// The ranked diagnosis of everything the incident holds.
pub fn diagnose(kb: &KnowledgeBase, merged: &Report) -> Diagnosis {
    let matcher = crate::diagnose::matcher_for(kb);
    crate::diagnose::diagnose(&matcher, merged)
}

/// The playbook whose steps are the checklist: the engineer's choice, else
/// the top likely candidate. (The incident page also falls back to the
/// alert text's suggestion: see [`candidates::checklist`].)
pub fn chosen_playbook(incident: &Incident, diagnosis: &Diagnosis) -> Option<String> {
    incident
        .playbook
        .clone()
        .or_else(|| diagnosis.likely().next().map(|c| c.playbook.clone()))
}

/// What a paste became.
pub enum PasteOutcome {
    /// Observations stored on the timeline (kind `paste`); `unrecognised`
    /// lists blocks that were left out.
    Recognised {
        event: IncidentEvent,
        formats: Vec<&'static str>,
        unrecognised: Vec<String>,
    },
    /// Nothing recognised: the text was kept as a note, with why.
    KeptAsNote {
        event: IncidentEvent,
        reason: String,
    },
}

fn keep(text: &str) -> &str {
    if text.len() <= PASTE_TEXT_KEPT {
        return text;
    }
    let mut end = PASTE_TEXT_KEPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Recognises pasted command output and stores it on the incident.
pub async fn add_paste(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    incident_id: i64,
    who: &str,
    text: &str,
) -> StoreResult<PasteOutcome> {
    let recognised = paste::recognise_all(text);
    if recognised.observations.is_empty() {
        let reason = match paste::recognise(text) {
            Err(e) => e.to_string(),
            Ok(_) => "nothing recognised".to_owned(),
        };
        let body = json!({"text": keep(text), "unrecognised": reason});
        let event = kb
            .store()
            .append_event(incident_id, who, EventKind::Note, &body)
            .await?;
        bus.publish(&event);
        return Ok(PasteOutcome::KeptAsNote { event, reason });
    }
    let unrecognised: Vec<String> = recognised
        .unrecognised
        .iter()
        .map(|u| format!("lines {}–{}: {}", u.lines.0, u.lines.1, u.reason))
        .collect();
    let body = json!({
        "text": keep(text),
        "formats": recognised.formats,
        "observations": recognised.observations,
        "unrecognised": unrecognised,
    });
    let event = kb
        .store()
        .append_event(incident_id, who, EventKind::Paste, &body)
        .await?;
    bus.publish(&event);
    crate::feedback::record_incident_diagnosis(kb, incident_id).await;
    Ok(PasteOutcome::Recognised {
        event,
        formats: recognised.formats,
        unrecognised,
    })
}

/// Appends a note.
pub async fn add_note(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    incident_id: i64,
    who: &str,
    text: &str,
) -> StoreResult<IncidentEvent> {
    let event = kb
        .store()
        .append_event(incident_id, who, EventKind::Note, &json!({ "text": text }))
        .await?;
    bus.publish(&event);
    Ok(event)
}

/// Opens an incident by hand.
pub async fn open_by_hand(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    new: NewIncident<'_>,
) -> StoreResult<Incident> {
    let who = new.opened_by;
    let body = json!({"text": format!("Opened by {who}")});
    let (incident, event) = kb
        .store()
        .open_incident(new, (EventKind::Note, &body))
        .await?;
    bus.publish(&event);
    route_by_title(kb, bus, &incident, who).await;
    Ok(incident)
}

/// Severities an incident opened by hand takes (alerts bring their own).
pub const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];

/// Checks a title and severity given by hand: the trimmed title (1 to 200
/// characters) and the severity (`warning` when empty), or why not.
pub fn check_new(title: &str, severity: &str) -> Result<(String, String), String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err("A title of 1 to 200 characters is needed.".into());
    }
    let severity = match severity.trim() {
        "" => "warning",
        s if SEVERITIES.contains(&s) => s,
        s => {
            return Err(format!(
                "Severity {s:?} is not one of critical, warning or info."
            ));
        }
    };
    Ok((title.to_owned(), severity.to_owned()))
}

/// A title that starts with a mapped alert name ("KubeDNSLatencyHigh on
/// node-3") gets that alert's checklist, as the webhook would. A failure is
/// logged: the incident is open either way.
async fn route_by_title(kb: &KnowledgeBase, bus: &bus::Bus, incident: &Incident, who: &str) {
    let Some(name) = incident
        .title
        .split(|c: char| c == ':' || c.is_whitespace())
        .find(|w| !w.is_empty())
    else {
        return;
    };
    if let Err(e) = apply_alert_route(kb, bus, incident.id, name, who).await {
        tracing::warn!(error = %e, incident_id = incident.id, "alert route not applied");
    }
}

/// Opens an incident by hand from a stored report: the report's labels and
/// host become the incident's, and the report its first evidence. Returns
/// the incident and that report event. `NotFound` when there is no such
/// report.
pub async fn open_from_report(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    report_id: Uuid,
    title: &str,
    severity: &str,
    who: &str,
) -> StoreResult<(Incident, IncidentEvent)> {
    let stored = kb
        .store()
        .report(report_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let summary = &stored.summary;
    let mut labels = summary.labels.clone();
    if !summary.host.is_empty() {
        labels
            .entry("host".to_owned())
            .or_insert_with(|| summary.host.clone());
    }
    let body = json!({
        "report_id": report_id.hyphenated().to_string(),
        "collector": summary.collector,
    });
    let (incident, event) = kb
        .store()
        .open_incident(
            NewIncident {
                title,
                severity,
                labels: &labels,
                opened_by: who,
                group_key: None,
            },
            (EventKind::Report, &body),
        )
        .await?;
    bus.publish(&event);
    route_by_title(kb, bus, &incident, who).await;
    crate::feedback::record_incident_diagnosis(kb, incident.id).await;
    Ok((incident, event))
}

/// When an incident opens from an alert (or a title naming one): the
/// playbook the alert name is mapped to on `/alert-routes` becomes the
/// checklist at once. Returns that playbook; `None` when the name is not
/// mapped (or mapped to a playbook that no longer exists).
pub async fn apply_alert_route(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    incident_id: i64,
    alertname: &str,
    who: &str,
) -> StoreResult<Option<String>> {
    let Some(route) = kb.store().alert_route(alertname).await? else {
        return Ok(None);
    };
    if kb.get(&route.playbook).is_none() {
        return Ok(None);
    }
    let event = kb
        .store()
        .set_playbook(incident_id, Some(&route.playbook), who, Some(alertname))
        .await?;
    bus.publish(&event);
    Ok(Some(route.playbook))
}

/// Changes the status (appending a `status` event when it changed).
pub async fn set_status(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    incident_id: i64,
    status: IncidentStatus,
    who: &str,
) -> StoreResult<()> {
    if let Some(event) = kb.store().set_status(incident_id, status, who).await? {
        bus.publish(&event);
    }
    Ok(())
}

// ---- Reports open incidents ------------------------------------------------------

/// Per-collector cool-down between incidents opened from reports, so one bad
/// node does not open a hundred incidents. The store keeps when each
/// collector last opened one ([`crate::store::IncidentStore::open_incident_cooled`]),
/// so it holds across replicas and restarts.
pub struct CoolDown {
    period: Duration,
    fold: Fold,
}

/// Many hosts, one symptom: a report whose likely diagnosis is the same
/// playbook as an open incident's evidence from another host joins that
/// incident when the two share a value of one of `labels` (`service`,
/// `cluster`) and the incident opened within `window`.
#[derive(Debug, Clone, Default)]
pub struct Fold {
    pub labels: Vec<String>,
    pub window: Duration,
}

impl CoolDown {
    pub fn new(period: Duration) -> CoolDown {
        CoolDown {
            period,
            fold: Fold::default(),
        }
    }

    /// With folding of related hosts' reports (see [`Fold`]).
    pub fn with_fold(mut self, fold: Fold) -> CoolDown {
        self.fold = fold;
        self
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn fold(&self) -> &Fold {
        &self.fold
    }
}

/// The group key of incidents a report opens: its collector and the likely
/// playbook, so the next report of the same kind attaches to it.
fn report_group(collector: &str, playbook: &str) -> String {
    crate::store::group_key(&BTreeMap::from([
        ("collector".to_owned(), collector.to_owned()),
        ("playbook".to_owned(), playbook.to_owned()),
    ]))
}

/// After a new report is stored: when its diagnosis is likely, attach it to
/// the newest open incident labelled with its host, else to the open
/// incident of its collector and top candidate, else open one (at most one
/// per collector per cool-down). When nothing is likely it only joins the
/// open incident of its host, and only with something new (see
/// [`join_host_incident`]). Returns the incident it went to, whose matches
/// then include the report's likely playbooks.
pub async fn report_arrived(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    cool_down: &CoolDown,
    writer: &crate::ingest::GroupCommit,
    collector: &str,
    report: &Report,
    diagnosis: &Diagnosis,
) -> StoreResult<Option<i64>> {
    let to = Attach {
        kb,
        bus,
        writer,
        collector,
    };
    match attach_report(&to, cool_down, report, diagnosis).await? {
        Attached::Nowhere => Ok(None),
        // The group commit recorded the likely playbooks with the event.
        Attached::Appended(id) => Ok(Some(id)),
        Attached::Opened(id) => {
            let likely: Vec<String> = diagnosis.likely().map(|c| c.playbook.clone()).collect();
            crate::feedback::record_incident_matches(kb.store(), id, &likely).await;
            Ok(Some(id))
        }
    }
}

/// Where a report's evidence goes, and what writes it there.
struct Attach<'a> {
    kb: &'a KnowledgeBase,
    bus: &'a bus::Bus,
    writer: &'a crate::ingest::GroupCommit,
    collector: &'a str,
}

/// What became of a report's evidence.
enum Attached {
    Nowhere,
    /// A report event on an incident already open.
    Appended(i64),
    /// A new incident, opened by this report.
    Opened(i64),
}

async fn attach_report(
    to: &Attach<'_>,
    cool_down: &CoolDown,
    report: &Report,
    diagnosis: &Diagnosis,
) -> StoreResult<Attached> {
    let (kb, bus, collector) = (to.kb, to.bus, to.collector);
    let likely: Vec<String> = diagnosis.likely().map(|c| c.playbook.clone()).collect();
    let body = json!({
        "report_id": report.report_id.hyphenated().to_string(),
        "collector": collector,
        "likely": likely,
    });
    let Some(top) = diagnosis.likely().next() else {
        return join_host_incident(to, &report.collector.host, &body).await;
    };
    let key = report_group(collector, &top.playbook);
    let store = kb.store();
    if let Some(open) = open_for_report(kb, &report.collector.host, &key).await? {
        return append_report(to, open.id, &body, likely).await;
    }
    if let Some(open) = related_incident(kb, &cool_down.fold, report, &top.playbook, None).await? {
        return append_report(to, open.id, &body, likely).await;
    }
    let mut labels = report.collector.labels.clone();
    labels
        .entry("host".to_owned())
        .or_insert_with(|| report.collector.host.clone());
    let title = format!("{} on {}", top.title, report.collector.host);
    let result = store
        .open_incident_cooled(
            NewIncident {
                title: &title,
                severity: "warning",
                labels: &labels,
                opened_by: collector,
                group_key: Some(&key),
            },
            (EventKind::Report, &body),
            collector,
            cool_down.period(),
        )
        .await;
    match result {
        Ok(Some((incident, event))) => {
            bus.publish(&event);
            Ok(Attached::Opened(incident.id))
        }
        // In cool-down, or another report (on any replica) opened one a
        // moment ago: attach to that if it is open, else hold off.
        Ok(None) => match open_for_report(kb, &report.collector.host, &key).await? {
            Some(open) => append_report(to, open.id, &body, likely).await,
            None => {
                tracing::info!(%collector, playbook = %top.playbook, "likely diagnosis; collector in cool-down");
                Ok(Attached::Nowhere)
            }
        },
        // Another report of the group opened it a moment ago: attach.
        Err(StoreError::Database(e)) if is_unique_violation(&e) => {
            match store.open_incident_for_group(&key).await? {
                Some(open) => append_report(to, open.id, &body, likely).await,
                None => Ok(Attached::Nowhere),
            }
        }
        Err(e) => Err(e),
    }
}

/// The open incident a report's evidence goes to: the newest one about its
/// host (an alert's, say), else the one its collector's reports opened for
/// the same cause (`key`).
async fn open_for_report(
    kb: &KnowledgeBase,
    host: &str,
    key: &str,
) -> StoreResult<Option<Incident>> {
    match open_about_host(kb, host).await? {
        Some(i) => Ok(Some(i)),
        None => kb.store().open_incident_for_group(key).await,
    }
}

/// The open incident a report folds into (see [`Fold`]): opened within
/// the window, sharing a fold label's value with the report, and holding
/// evidence from another host whose likely playbooks include `playbook`.
/// Newest first, opened before `before` when given (an incident does not
/// fold into itself or a newer one); an unrelated host's report finds none.
pub async fn related_incident(
    kb: &KnowledgeBase,
    fold: &Fold,
    report: &Report,
    playbook: &str,
    before: Option<i64>,
) -> StoreResult<Option<Incident>> {
    if fold.window.is_zero() {
        return Ok(None);
    }
    let since = Utc::now() - chrono::Duration::from_std(fold.window).unwrap_or_default();
    let host = report.collector.host.as_str();
    for key in &fold.labels {
        let Some(value) = report.collector.labels.get(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let open = kb
            .store()
            .incidents(&IncidentFilter {
                status: Some(IncidentStatus::Open),
                label: Some((key.clone(), value.clone())),
                since: Some(since),
                limit: 20,
            })
            .await?;
        for incident in open {
            if before.is_some_and(|id| incident.id >= id) {
                continue;
            }
            let events = kb.store().events(incident.id).await?;
            let same = events.iter().any(|e| {
                e.kind == EventKind::Report
                    && e.body["likely"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|p| p == playbook))
            });
            if same && incident.labels.get("host").map(String::as_str) != Some(host) {
                return Ok(Some(incident));
            }
        }
    }
    Ok(None)
}

/// A report with nothing likely is still evidence for the incident open
/// about its host (an alert's, say): it joins when it says something new
/// there, that is when it is the first from its collector or its likely
/// playbooks differ from that collector's last report on the incident (a
/// healthy report after a sick one shows the recovery). A probe reporting
/// every minute so adds one report, not sixty an hour.
async fn join_host_incident(to: &Attach<'_>, host: &str, body: &Value) -> StoreResult<Attached> {
    if host.is_empty() {
        return Ok(Attached::Nowhere);
    }
    let Some(open) = open_about_host(to.kb, host).await? else {
        return Ok(Attached::Nowhere);
    };
    let events = to.kb.store().events(open.id).await?;
    let last = events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Report && e.body["collector"] == body["collector"]);
    if last.is_some_and(|e| e.body.get("likely") == body.get("likely")) {
        return Ok(Attached::Nowhere);
    }
    append_report(to, open.id, body, Vec::new()).await
}

/// The newest open incident labelled with this host.
async fn open_about_host(kb: &KnowledgeBase, host: &str) -> StoreResult<Option<Incident>> {
    Ok(kb
        .store()
        .incidents(&IncidentFilter {
            status: Some(IncidentStatus::Open),
            label: Some(("host".to_owned(), host.to_owned())),
            since: None,
            limit: 1,
        })
        .await?
        .into_iter()
        .next())
}

/// Appends a report event to an incident's timeline, with the incident's
/// likely playbooks, through the group commit (so under load many reports'
/// events share one transaction).
async fn append_report(
    to: &Attach<'_>,
    incident_id: i64,
    body: &Value,
    likely: Vec<String>,
) -> StoreResult<Attached> {
    let done = to
        .writer
        .write(BatchWrite::ReportEvent {
            incident_id,
            who: to.collector.to_owned(),
            body: body.clone(),
            likely,
        })
        .await?;
    match done {
        BatchDone::Event(event) => {
            to.bus.publish(&event);
            Ok(Attached::Appended(incident_id))
        }
        BatchDone::Report(_) => Err(StoreError::Database(sqlx::Error::Protocol(
            "the group commit answered an event with a report".into(),
        ))),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Links a stored report to an incident by hand.
pub async fn link_report(
    kb: &KnowledgeBase,
    bus: &bus::Bus,
    incident_id: i64,
    who: &str,
    report_id: Uuid,
) -> StoreResult<IncidentEvent> {
    let stored = kb
        .store()
        .report(report_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let body = json!({
        "report_id": report_id.hyphenated().to_string(),
        "collector": stored.summary.collector,
    });
    let event = kb
        .store()
        .append_event(incident_id, who, EventKind::Report, &body)
        .await?;
    bus.publish(&event);
    crate::feedback::record_incident_diagnosis(kb, incident_id).await;
    Ok(event)
}

/// The text a timeline event shows in one line.
pub fn describe(event: &IncidentEvent) -> String {
    let b = &event.body;
    let s = |k: &str| b[k].as_str().unwrap_or_default().to_owned();
    match event.kind {
        EventKind::Note if b.get("unrecognised").is_some() => {
            format!(
                "Pasted text not recognised, kept as a note: {}",
                s("unrecognised")
            )
        }
        EventKind::Note => s("text"),
        EventKind::Status => format!("Status {} → {}", s("from"), s("to")),
        EventKind::Step if b.get("step").is_some() => format!(
            "{} step {} of {}",
            if b["ticked"].as_bool() == Some(true) {
                "Ticked"
            } else {
                "Unticked"
            },
            b["step"],
            s("playbook")
        ),
        EventKind::Step => match (b["playbook"].as_str(), b["route"].as_str()) {
            (Some(p), Some(alert)) => format!(
                "Checklist playbook set to {p}: alert {alert} is mapped to it on /alert-routes"
            ),
            (Some(p), None) => format!("Checklist playbook set to {p}"),
            (None, _) => "Checklist follows the top likely candidate".to_owned(),
        },
        EventKind::Paste => {
            let formats: Vec<&str> = b["formats"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!("Pasted output recognised as {}", formats.join(", "))
        }
        EventKind::Report if b["source"] == crate::core::prometheus::SOURCE => {
            format!("Evidence pulled from Prometheus for {}", s("target"))
        }
        EventKind::Report => format!("Report from {}", s("collector")),
        EventKind::Alert => format!(
            "Alert {} {}{}",
            s("alertname"),
            s("status"),
            match b["summary"].as_str() {
                Some(summary) if !summary.is_empty() => format!(": {summary}"),
                _ => String::new(),
            }
        ),
    }
}
