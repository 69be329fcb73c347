//! Evidence pulled from Prometheus for an incident: when an alert opens it
//! (no click) and on demand from its page. The pulled report is stored as a
//! sent one is and linked on the timeline, so the diagnosis, charts and
//! next steps read it as they read a probe's; a pull that fails leaves a
//! note saying why, and nothing else fails.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Fold;
use super::bus::Bus;
use crate::core::prometheus::{SOURCE, Target, Window};
use crate::kb::KnowledgeBase;
use crate::prometheus::Settings;
use crate::store::{EventKind, Incident, IncidentEvent, StoreError, StoreResult};

/// What a pull left on the timeline.
pub enum PullOutcome {
    /// The pulled report, linked (kind `report`).
    Attached {
        event: IncidentEvent,
        likely: Vec<String>,
    },
    /// Why nothing was pulled (kind `note`).
    Noted {
        event: IncidentEvent,
        reason: String,
    },
}

impl PullOutcome {
    pub fn event(&self) -> &IncidentEvent {
        match self {
            PullOutcome::Attached { event, .. } | PullOutcome::Noted { event, .. } => event,
        }
    }
}

/// When the incident's trouble started: its earliest firing alert's
/// `startsAt`, else when it was opened.
pub fn started(incident: &Incident, events: &[IncidentEvent]) -> DateTime<Utc> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Alert && e.body["status"] == "firing")
        .filter_map(|e| e.body["startsAt"].as_str())
        .filter_map(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .min()
        .unwrap_or(incident.opened_at)
}

/// Pulls the evidence Prometheus holds about the incident's host around
/// its start and links it, or notes why not. `Err` only when the store
/// fails.
pub async fn pull(
    kb: &KnowledgeBase,
    bus: &Bus,
    settings: &Settings,
    fold: &Fold,
    incident_id: i64,
    who: &str,
) -> StoreResult<PullOutcome> {
    let store = kb.store();
    let incident = store
        .incident(incident_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let events = store.events(incident_id).await?;
    let at = started(&incident, &events);
    let read = match Target::from_labels(&incident.labels) {
        None => Err(
            "the incident's labels name no instance, host, node or pod to read from \
             Prometheus"
                .to_owned(),
        ),
        Some(target) => {
            match Window::around(at, settings.window_s, settings.window_s, Utc::now()) {
                Err(e) => Err(e),
                Ok(window) => crate::prometheus::pull(settings, &target, &window, &incident.labels)
                    .await
                    .map(|p| (p, target)),
            }
        }
    };
    let (pulled, target) = match read {
        Ok(ok) => ok,
        Err(reason) => {
            tracing::warn!(incident_id, %reason, "no evidence pulled from Prometheus");
            let body = json!({
                "text": format!("Evidence not pulled from Prometheus: {reason}"),
                "source": SOURCE,
            });
            let event = store
                .append_event(incident_id, who, EventKind::Note, &body)
                .await?;
            bus.publish(&event);
            return Ok(PullOutcome::Noted { event, reason });
        }
    };
    let report = &pulled.report;
    let diagnosis = crate::ingest::store_pulled(kb, report).await?;
    let likely: Vec<String> = diagnosis["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|c| c["playbook"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let body = json!({
        "report_id": report.report_id.hyphenated().to_string(),
        "collector": crate::ingest::PULLED_COLLECTOR,
        "source": SOURCE,
        "target": target.describe(),
        "series": pulled.series,
        "likely": likely,
    });
    let event = store
        .append_event(incident_id, who, EventKind::Report, &body)
        .await?;
    bus.publish(&event);
    crate::feedback::record_incident_diagnosis(kb, incident_id).await;
    if let Some(top) = likely.first() {
        fold_into_related(kb, bus, fold, report, top, incident_id, &body).await?;
    }
    Ok(PullOutcome::Attached { event, likely })
}

/// Many hosts, one symptom: when an older open incident holds the same
/// likely playbook from another host of the same service or cluster (see
/// [`Fold`]), this host's pulled evidence joins it too, so its host matrix
/// has the row, and this incident says where the others are.
async fn fold_into_related(
    kb: &KnowledgeBase,
    bus: &Bus,
    fold: &Fold,
    report: &faultline_probe::report::Report,
    playbook: &str,
    incident_id: i64,
    body: &serde_json::Value,
) -> StoreResult<()> {
    let Some(related) =
        super::related_incident(kb, fold, report, playbook, Some(incident_id)).await?
    else {
        return Ok(());
    };
    let store = kb.store();
    let joined = store
        .append_event(related.id, SOURCE, EventKind::Report, body)
        .await?;
    bus.publish(&joined);
    let note = json!({
        "text": format!(
            "Same symptom ({playbook}) as incident #{} on another host: this host's evidence \
             is on that incident too, in its host matrix.",
            related.id
        ),
        "source": SOURCE,
        "folded_into": related.id,
    });
    let event = store
        .append_event(incident_id, SOURCE, EventKind::Note, &note)
        .await?;
    bus.publish(&event);
    crate::feedback::record_incident_diagnosis(kb, related.id).await;
    Ok(())
}

/// [`pull`] in the background for an incident an alert just opened: the
/// webhook has answered already. Failures are on the timeline or, for the
/// store, in the log.
pub fn spawn(
    kb: std::sync::Arc<KnowledgeBase>,
    bus: Bus,
    settings: Settings,
    fold: Fold,
    incident_id: i64,
) {
    tokio::spawn(async move {
        if let Err(e) = pull(&kb, &bus, &settings, &fold, incident_id, SOURCE).await {
            tracing::warn!(error = %e, incident_id, "evidence from Prometheus not recorded");
        }
    });
}
