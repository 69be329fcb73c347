//! Promoting a postmortem to a playbook, as a service: reads the postmortem
//! and its incident's evidence, builds the playbook with the pure
//! [`core::promote`](crate::core::promote), saves it through the knowledge
//! base (so the search index and the other replicas see it) and notes it on
//! the incident's timeline.

use std::sync::Arc;

use crate::builtin;
use crate::core::playbook::{Playbook, SectionKind};
use crate::core::postmortem::{PmSection, Postmortem};
use crate::core::promote::{self, Evidence, Knowledge, PromoteError, Source};
use crate::core::signals::{self, Signals};
use crate::incidents::{self, bus::Bus};
use crate::kb::{Current, KbError, KnowledgeBase};
use crate::store::{Origin, StoreError};

/// The postmortem sections that become the playbook's (the contract's map).
const SECTION_MAP: [(PmSection, SectionKind); 5] = [
    (PmSection::Symptoms, SectionKind::Symptoms),
    (PmSection::Investigation, SectionKind::Investigation),
    (PmSection::RootCause, SectionKind::RootCause),
    (PmSection::Fix, SectionKind::Fix),
    (PmSection::Prevention, SectionKind::Prevention),
];

#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    #[error("there is no postmortem {0}")]
    NoPostmortem(i64),
    #[error("the incident of postmortem {0} is gone")]
    NoIncident(i64),
    #[error("postmortem {id} does not parse: {why}")]
    Unreadable { id: i64, why: String },
    #[error(transparent)]
    Promote(#[from] PromoteError),
    #[error(transparent)]
    Kb(#[from] KbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a promotion made.
pub struct Promotion {
    pub playbook: Arc<Current>,
    /// The signals the fingerprint was built from.
    pub signals: Vec<String>,
}

/// Builds a playbook from postmortem `id` and saves it as a new playbook.
pub async fn promote_postmortem(
    kb: &KnowledgeBase,
    bus: &Bus,
    id: i64,
    who: &str,
) -> Result<Promotion, PromotionError> {
    let store = kb.store();
    let row = store
        .postmortem(id)
        .await?
        .ok_or(PromotionError::NoPostmortem(id))?;
    let text = store
        .postmortem_version(id, row.current_version)
        .await?
        .ok_or(PromotionError::NoPostmortem(id))?;
    let postmortem = Postmortem::parse(&format!("postmortem {id}"), &text.source).map_err(|e| {
        PromotionError::Unreadable {
            id,
            why: e.to_string(),
        }
    })?;
    let incident = store
        .incident(row.incident_id)
        .await?
        .ok_or(PromotionError::NoIncident(id))?;
    let events = store.events(incident.id).await?;
    let evidence = incidents::evidence(kb, &events).await?;
    let merged = evidence.merged(&incident);
    let signals = signals::derive(&merged);
    let diagnosis = incidents::diagnose(kb, &merged);

    // The layer of the diagnosis the postmortem names, else the one the
    // engineers confirmed, else the one the incident worked from.
    let confirmed = match postmortem.meta.playbook.clone() {
        Some(p) => Some(p),
        None => crate::feedback::confirmed_playbook(store, incident.id).await?,
    };
    let layer = confirmed
        .or_else(|| incidents::chosen_playbook(&incident, &diagnosis))
        .and_then(|p| kb.get(&p))
        .map(|c| c.playbook.meta.layer);

    // The contract: the reports the postmortem lists; a draft without them
    // falls back to the reports on the incident.
    let reports: Vec<String> = if postmortem.meta.reports.is_empty() {
        evidence
            .reports
            .iter()
            .map(|r| r.report.report_id.hyphenated().to_string())
            .collect()
    } else {
        postmortem.meta.reports.clone()
    };
    let sections: Vec<(SectionKind, String)> = SECTION_MAP
        .iter()
        .map(|(from, to)| (*to, postmortem.section_markdown(*from).to_owned()))
        .collect();
    let playbooks: Vec<Playbook> = kb.list().iter().map(|c| c.playbook.clone()).collect();
    let baseline = healthy_baseline();
    let promoted = promote::promote(
        &Source {
            title: &postmortem.meta.title,
            alert: &incident.title,
            layer,
            sections: &sections,
            reports: &reports,
        },
        &Evidence {
            signals: &signals,
            diagnosis: &diagnosis,
        },
        &Knowledge {
            playbooks: &playbooks,
            baseline: &baseline,
        },
    )?;
    let new_id = promoted.playbook.id().to_owned();
    // Base version 0: the id must still be free (a conflict otherwise).
    let saved = kb
        .save(
            &format!("{new_id}.md"),
            promoted.playbook.source(),
            Origin::Edit,
            Some(who),
            Some(0),
        )
        .await?;
    let standouts: Vec<String> = promoted
        .standouts
        .iter()
        .map(|s| s.signal.clone())
        .collect();
    incidents::add_note(
        kb,
        bus,
        incident.id,
        who,
        &format!(
            "Postmortem {id} promoted to the playbook {new_id} (/playbooks/{new_id}); its \
             fingerprint starts from {}.",
            standouts.join(", ")
        ),
    )
    .await?;
    Ok(Promotion {
        playbook: saved,
        signals: standouts,
    })
}

/// Signals of the healthy example reports that ship in the binary: what a
/// host looks like when nothing is wrong.
fn healthy_baseline() -> Vec<Signals> {
    builtin::healthy_examples()
        .iter()
        .filter_map(|(_, json)| {
            faultline_probe::report::Report::from_json(json.as_bytes())
                .ok()
                .map(|r| signals::derive(&r))
        })
        .collect()
}
