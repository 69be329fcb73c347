//! An incident read whole: its evidence and the diagnosis of it, the
//! checklist choice, what its alerts and title say and the playbooks those
//! words find, and the candidates ranked from all of it. The incident page
//! and `GET /api/v1/incidents/{id}` both read an incident through here.

use crate::core::matcher::Diagnosis;
use crate::incidents::candidates::{self, Choice, Ranked, Source, Suggestion};
use crate::incidents::matrix::HostMatrix;
use crate::incidents::{self, Evidence};
use crate::kb::KnowledgeBase;
use crate::search::SearchRequest;
use crate::store::{Incident, IncidentEvent, VerdictRecord};
use crate::web::ApiError;
use crate::web::pages::alert_routes::alert_words;

/// Most playbooks the alert text suggests.
const SUGGESTIONS: usize = 3;
/// A hit needs this share of the best hit's search score to be suggested
/// beside it: far below the best, it only shares a common word.
const RELATIVE: f64 = 0.35;
/// Hits read from the search, postmortems among them.
const HITS_READ: usize = 10;

pub struct Assessment {
    pub evidence: Evidence,
    pub diagnosis: Diagnosis,
    /// The incident's verdicts, newest first.
    pub verdicts: Vec<VerdictRecord>,
    /// The checklist choice and the confirmed diagnosis (see
    /// [`candidates::decided`]).
    pub decided: Vec<Choice>,
    /// The firing alerts' names.
    pub alertnames: Vec<String>,
    /// The words searched for suggestions ("" when there were none).
    pub searched: String,
    pub candidates: Vec<Ranked>,
    /// Host × clause of the incident's playbook, when its evidence comes
    /// from more than one host.
    pub hosts: Option<HostMatrix>,
}

impl Assessment {
    /// The checklist playbook and why it is the one (see
    /// [`candidates::checklist`]).
    pub fn checklist(&self) -> Option<&Ranked> {
        candidates::checklist(&self.candidates, &self.decided)
    }

    pub fn suggested(&self) -> bool {
        self.candidates.iter().any(|c| c.source == Source::Alert)
    }
}

pub async fn assess(
    kb: &KnowledgeBase,
    incident: &Incident,
    events: &[IncidentEvent],
) -> Result<Assessment, ApiError> {
    let evidence = incidents::evidence(kb, events).await?;
    let diagnosis = incidents::diagnose(kb, &evidence.merged(incident));
    let verdicts = kb.store().verdicts(incident.id).await?;
    let decided = candidates::decided(incident, events, &verdicts);
    let text = candidates::alert_text(incident, events);
    let searched = text.query(alert_words);
    // A suggestion a responder marked wrong is not offered again (the
    // verdict box still lists it, with its verdict).
    let wrong = candidates::judged_wrong(&verdicts);
    let mut suggested = suggest(kb, &searched);
    suggested.retain(|s| !wrong.contains(&s.playbook));
    let mut ranked = candidates::rank(&diagnosis, &decided, &suggested);
    for r in &mut ranked {
        if let Some(current) = kb.get(&r.playbook) {
            r.title = current.playbook.meta.title.clone();
        }
    }
    // The matrix follows the checklist's playbook (chosen, confirmed or
    // the top likely one).
    let hosts = candidates::checklist(&ranked, &decided).and_then(|c| {
        let matcher = crate::diagnose::matcher_for(kb);
        incidents::matrix::host_matrix(&matcher, &evidence, &c.playbook)
    });
    Ok(Assessment {
        evidence,
        diagnosis,
        verdicts,
        decided,
        alertnames: text.alertnames,
        searched,
        candidates: ranked,
        hosts,
    })
}

/// The playbooks the words find with the knowledge base's own search: the
/// best hit, and up to two more close to it. Postmortems are left out (a
/// candidate is a playbook); a search that fails suggests nothing.
fn suggest(kb: &KnowledgeBase, words: &str) -> Vec<Suggestion> {
    if words.trim().is_empty() {
        return Vec::new();
    }
    let request = SearchRequest {
        text: words.to_owned(),
        limit: HITS_READ,
        ..SearchRequest::default()
    };
    let hits = match kb.search(&request) {
        Ok(results) => results.hits,
        Err(e) => {
            tracing::warn!(error = %e, "alert text not searched");
            return Vec::new();
        }
    };
    let playbooks: Vec<_> = hits.into_iter().filter(|h| !h.is_postmortem()).collect();
    let Some(best) = playbooks.first().map(|h| f64::from(h.score)) else {
        return Vec::new();
    };
    playbooks
        .into_iter()
        .map(|h| Suggestion {
            relevance: f64::from(h.score) / best,
            playbook: h.id,
            title: h.title,
        })
        .take_while(|s| s.relevance >= RELATIVE)
        .take(SUGGESTIONS)
        .collect()
}
