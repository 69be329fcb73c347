//! The diagnosis panel, shared by every page that shows one (report,
//! incident). A page's view struct holds a `diagnosis: DiagnosisView` field
//! and its template writes `{% include "diagnosis.html" %}`.

use crate::core::clause::Truth;
use crate::core::matcher::{Candidate, ClauseResult, Diagnosis, LIKELY_CONFIDENCE, LIKELY_SCORE};

/// Unlikely candidates shown under the likely ones, so "nothing likely"
/// still says what came closest.
const CLOSEST: usize = 3;

pub struct ClauseView {
    /// "true", "false" or "unknown": also the CSS modifier.
    pub state: &'static str,
    pub mark: &'static str,
    pub says: String,
    pub when: String,
    pub observed: Vec<(String, String)>,
    pub missing: Vec<String>,
    /// Signed, two decimals: "+0.40".
    pub contribution: String,
}

pub struct CandidateView {
    pub playbook: String,
    pub title: String,
    pub likely: bool,
    pub score: f64,
    pub confidence: f64,
    pub score_text: String,
    pub confidence_text: String,
    pub clauses: Vec<ClauseView>,
    pub rules_out: Vec<ClauseView>,
    /// (what to run, what it measures, why).
    pub evidence: Vec<(String, String, String)>,
}

pub struct StepView {
    pub collect: String,
    pub signals: String,
    pub settles: Vec<String>,
    pub says: String,
    pub separates: bool,
}

/// Everything `templates/diagnosis.html` renders.
pub struct DiagnosisView {
    pub likely: Vec<CandidateView>,
    pub closest: Vec<CandidateView>,
    pub next_steps: Vec<StepView>,
    pub threshold: String,
}

impl DiagnosisView {
    pub fn new(d: &Diagnosis) -> DiagnosisView {
        let closest = d
            .candidates
            .iter()
            .filter(|c| !c.likely && c.rank() > 0.0)
            .take(CLOSEST)
            .map(candidate)
            .collect();
        DiagnosisView {
            likely: d.likely().map(candidate).collect(),
            closest,
            next_steps: d
                .next_steps
                .iter()
                .map(|s| StepView {
                    collect: s.collect.clone(),
                    signals: s.signals.join(", "),
                    settles: s.settles.clone(),
                    says: s.says.clone(),
                    separates: s.separates,
                })
                .collect(),
            threshold: format!(
                "likely = score ≥ {LIKELY_SCORE:.2} and confidence ≥ {LIKELY_CONFIDENCE:.2}"
            ),
        }
    }
}

/// One candidate as the panel shows it (also the editor's test bench).
pub fn candidate(c: &Candidate) -> CandidateView {
    CandidateView {
        playbook: c.playbook.clone(),
        title: c.title.clone(),
        likely: c.likely,
        score: c.score,
        confidence: c.confidence,
        score_text: format!("{:.0}%", c.score * 100.0),
        confidence_text: format!("{:.0}%", c.confidence * 100.0),
        clauses: c.clauses.iter().map(clause).collect(),
        rules_out: c.rules_out.iter().map(clause).collect(),
        evidence: c
            .evidence_to_collect
            .iter()
            .map(|e| (e.collect.clone(), e.signals.join(", "), e.says.clone()))
            .collect(),
    }
}

fn clause(c: &ClauseResult) -> ClauseView {
    let (state, mark) = match c.state {
        Truth::True => ("true", "✓"),
        Truth::False => ("false", "✗"),
        Truth::Unknown => ("unknown", "?"),
    };
    ClauseView {
        state,
        mark,
        says: c.says.clone(),
        when: c.when.clone(),
        observed: c
            .observed
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        missing: c.missing.clone(),
        contribution: format!("{:+.2}", c.contribution),
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;
    use crate::diagnose::{builtin_matcher, diagnose};

    /// A page that includes the panel the way report and incident pages will.
    #[derive(Template)]
    #[template(source = "{% include \"diagnosis.html\" %}", ext = "html")]
    struct Host {
        diagnosis: DiagnosisView,
    }

    fn render(example: &str) -> String {
        let text = crate::builtin::example(example).unwrap();
        let report = faultline_probe::report::Report::from_json(text.as_bytes()).unwrap();
        let d = diagnose(&builtin_matcher(), &report);
        Host {
            diagnosis: DiagnosisView::new(&d),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn panel_shows_candidate_bars_clauses_and_next_step() {
        let html = render("examples/conntrack-table-full-2.json");
        assert!(
            html.contains("href=\"/playbooks/conntrack-table-full\""),
            "{html}"
        );
        assert!(html.contains("<meter"), "score bar");
        assert!(html.contains("conntrack.fill"), "observed signal");
        assert!(
            html.contains("clause-false"),
            "a false clause is shown as such"
        );
        assert!(html.contains("Likely"), "{html}");
        assert!(!html.contains("style="), "the CSP forbids inline styles");
    }

    #[test]
    fn healthy_panel_says_nothing_is_likely() {
        let html = render("healthy/quiet-host.json");
        assert!(html.contains("No likely root cause"), "{html}");
        assert!(html.contains("Next step"), "{html}");
    }
}
