//! Diagnosis feedback as a service: engineers' verdicts on an incident's
//! diagnosis, the confirmed diagnosis they make, the record of every time a
//! playbook was a likely match, and the playbooks due for a review.
//!
//! Definitions the pages and the API share:
//! - *matched*: a playbook was likely in a report's diagnosis at ingest, or
//!   in an incident's diagnosis — counted once per report and once per
//!   incident (a report that opened an incident counts for both).
//! - *confirmed* / *marked wrong*: incidents whose verdict on the playbook
//!   is right / wrong; an incident's verdict is its newest engineer's.
//! - *confirmed diagnosis* of an incident: the playbook whose verdict is
//!   right, the most recently confirmed one if several are.
//! - *reviewed*: a new version of the playbook was saved (an edit, an
//!   import or a built-in upgrade). Verdicts say whether it matched an
//!   incident, not whether its text is still current, so they do not count.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::incidents::bus::Bus;
use crate::kb::{Current, KnowledgeBase};
use crate::store::{
    DynStore, MatchSource, NewVerdict, StoreResult, Verdict, VerdictRecord, current_verdicts,
};

/// The incident's confirmed diagnosis: the playbook its verdict says is
/// right (the newest such verdict if several are), `None` when nobody has
/// confirmed one.
pub async fn confirmed_playbook(store: &DynStore, incident_id: i64) -> StoreResult<Option<String>> {
    let verdicts = store.verdicts(incident_id).await?;
    Ok(current_verdicts(&verdicts)
        .into_iter()
        .find(|v| v.verdict == Verdict::Right)
        .map(|v| v.playbook.clone()))
}

/// Records a verdict (and its timeline note) and tells the incident's live
/// pages.
pub async fn give_verdict(
    kb: &KnowledgeBase,
    bus: &Bus,
    new: NewVerdict<'_>,
) -> StoreResult<VerdictRecord> {
    let (record, event) = kb.store().set_verdict(new).await?;
    bus.publish(&event);
    Ok(record)
}

/// Records the likely playbooks of a stored report's diagnosis (the
/// `{"matches": [...]}` summary of its answer). A failure is logged: the
/// report is stored either way.
pub async fn record_report_matches(store: &DynStore, report_id: Uuid, diagnosis: &Value) {
    let likely: Vec<String> = diagnosis["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|c| c["playbook"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let id = report_id.hyphenated().to_string();
    record(store, MatchSource::Report, &id, &likely).await;
}

/// Records playbooks that were likely for evidence an incident took in.
pub async fn record_incident_matches(store: &DynStore, incident_id: i64, likely: &[String]) {
    record(
        store,
        MatchSource::Incident,
        &incident_id.to_string(),
        likely,
    )
    .await;
}

/// Recomputes the incident's diagnosis from all its evidence and records
/// its likely playbooks. For evidence people add (pastes, linked reports):
/// reading every linked report back is too slow for each collector report.
pub async fn record_incident_diagnosis(kb: &KnowledgeBase, incident_id: i64) {
    let likely = async {
        let store = kb.store();
        let Some(incident) = store.incident(incident_id).await? else {
            return Ok(Vec::new());
        };
        let events = store.events(incident_id).await?;
        let evidence = crate::incidents::evidence(kb, &events).await?;
        let diagnosis = crate::incidents::diagnose(kb, &evidence.merged(&incident));
        StoreResult::Ok(diagnosis.likely().map(|c| c.playbook.clone()).collect())
    }
    .await;
    match likely {
        Ok(likely) => record_incident_matches(kb.store(), incident_id, &likely).await,
        Err(e) => tracing::warn!(error = %e, incident_id, "incident matches not recorded"),
    }
}

async fn record(store: &DynStore, source: MatchSource, id: &str, likely: &[String]) {
    if let Err(e) = store.record_matches(source, id, likely).await {
        tracing::warn!(error = %e, source = source.as_str(), id, "playbook matches not recorded");
    }
}

/// A playbook not reviewed within the configured age.
pub struct Unreviewed {
    pub current: Arc<Current>,
    /// Whole days since its newest version was saved.
    pub days: i64,
}

/// Playbooks whose newest version is older than `after_days` (0: none),
/// the longest unreviewed first.
pub fn not_reviewed(list: &[Arc<Current>], after_days: u64, now: DateTime<Utc>) -> Vec<Unreviewed> {
    if after_days == 0 {
        return Vec::new();
    }
    let limit = chrono::Duration::days(after_days.min(36_500) as i64);
    let mut due: Vec<Unreviewed> = list
        .iter()
        .filter(|c| now - c.version.created_at > limit)
        .map(|c| Unreviewed {
            current: c.clone(),
            days: (now - c.version.created_at).num_days(),
        })
        .collect();
    due.sort_by(|a, b| {
        b.days
            .cmp(&a.days)
            .then(a.current.playbook.id().cmp(b.current.playbook.id()))
    });
    due
}
