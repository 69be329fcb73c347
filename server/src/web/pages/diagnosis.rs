//! The diagnosis panel, shared by every page that shows one (report,
//! incident). A page's view struct holds a `diagnosis: DiagnosisView` field
//! and its template writes `{% include "diagnosis.html" %}`.

use std::collections::BTreeMap;

use crate::core::clause::Truth;
use crate::core::matcher::{Candidate, ClauseResult, Diagnosis, LIKELY_CONFIDENCE, LIKELY_SCORE};
use crate::core::signals::catalogue;
use crate::web::units;

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
    pub evidence: Vec<EvidenceView>,
}

/// Evidence to collect for one candidate.
pub struct EvidenceView {
    /// What to run, as text and commands (see [`command_parts`]).
    pub parts: Vec<(String, bool)>,
    /// The signals it measures, comma separated.
    pub signals: String,
    pub says: String,
}

pub struct StepView {
    /// What to run, as text and commands (see [`command_parts`]).
    pub parts: Vec<(String, bool)>,
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
                    parts: command_parts(&s.collect),
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
            .map(|e| EvidenceView {
                parts: command_parts(&e.collect),
                signals: e.signals.join(", "),
                says: e.says.clone(),
            })
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
            .map(|(k, v)| (k.clone(), human_value(k, v)))
            .collect(),
        missing: c.missing.clone(),
        contribution: format!("{:+.2}", c.contribution),
    }
}

/// What each observation kind told the diagnosis: "for" or "against" a
/// candidate, by the signals its true and false clauses read. The likely
/// candidates count; with none likely, the closest below the threshold.
pub fn uses(d: &Diagnosis) -> BTreeMap<&'static str, Vec<String>> {
    let mut shown: Vec<&Candidate> = d.likely().collect();
    if shown.is_empty() {
        shown = d
            .candidates
            .iter()
            .filter(|c| c.rank() > 0.0)
            .take(CLOSEST)
            .collect();
    }
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for c in shown {
        for cl in &c.clauses {
            let side = match cl.state {
                Truth::True => "for",
                Truth::False => "against",
                Truth::Unknown => continue,
            };
            for signal in cl.observed.keys() {
                for kind in catalogue::kinds_of(signal) {
                    let note = format!("{side} {}", c.title);
                    let notes = out.entry(kind).or_default();
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
    }
    out
}

/// Programs whose command lines the "how to collect" texts give.
const PROGRAMS: [&str; 4] = ["faultline-probe ", "kubectl ", "nginx -T", "ss "];

/// Splits a "how to collect it" text into prose and commands (`true`), so
/// each command can be shown as code with a copy button: text in backticks,
/// and a command line that starts the text or follows ": ", ", or " or
/// "; ", up to ", or ", " (" or "; ".
pub fn command_parts(text: &str) -> Vec<(String, bool)> {
    fn push(parts: &mut Vec<(String, bool)>, t: &str, cmd: bool) {
        if t.is_empty() {
            return;
        }
        match parts.last_mut() {
            Some((last, false)) if !cmd => last.push_str(t),
            _ => parts.push((t.to_owned(), cmd)),
        }
    }
    let mut parts: Vec<(String, bool)> = Vec::new();
    let mut rest = text;
    let mut at_start = true;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('`')
            && let Some(end) = inner.find('`')
        {
            push(&mut parts, &inner[..end], true);
            rest = &inner[end + 1..];
            at_start = false;
            continue;
        }
        if at_start && PROGRAMS.iter().any(|p| rest.starts_with(p)) {
            let end = [", or ", " (", "; "]
                .iter()
                .filter_map(|d| rest.find(d))
                .min()
                .unwrap_or(rest.len());
            let (cmd, tail) = rest.split_at(end);
            // A sentence's full stop is not part of the command.
            let cmd = if tail.is_empty() {
                cmd.strip_suffix('.')
                    .filter(|c| !c.ends_with(' '))
                    .unwrap_or(cmd)
            } else {
                cmd
            };
            push(&mut parts, cmd, true);
            rest = &rest[cmd.len()..];
            at_start = false;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        let (head, tail) = rest.split_at(c.len_utf8());
        push(&mut parts, head, false);
        rest = tail;
        at_start = [": ", ", or ", "; ", "or "]
            .iter()
            .any(|d| parts.last().is_some_and(|(t, cmd)| !cmd && t.ends_with(d)));
    }
    parts
}

/// A signal's value as a person reads it: its unit, and as many digits as
/// tell something (no "2.00183144").
pub fn human_value(name: &str, v: &crate::core::signals::SignalValue) -> String {
    use crate::core::signals::SignalValue;
    let SignalValue::Number(n) = v else {
        return v.to_string();
    };
    let unit = catalogue::lookup(name).map_or("", |d| d.unit);
    match unit {
        "seconds" => units::seconds(*n),
        "bytes" => units::bytes(*n),
        "ratio 0-1" if (0.0..=1.0).contains(n) => {
            format!(
                "{} ({} %)",
                units::trim_float(*n, 3),
                units::trim_float(n * 100.0, 1)
            )
        }
        _ => units::trim_float(*n, 3),
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
    fn collect_texts_split_into_prose_and_commands() {
        let cmds = |t: &str| -> Vec<String> {
            command_parts(t)
                .into_iter()
                .filter(|(_, c)| *c)
                .map(|(t, _)| t)
                .collect()
        };
        assert_eq!(
            cmds("faultline-probe collect, or paste `ss -tan`"),
            ["faultline-probe collect", "ss -tan"]
        );
        assert_eq!(
            cmds("faultline-probe collect --for 10 (socket states sampled every second)"),
            ["faultline-probe collect --for 10"]
        );
        assert_eq!(
            cmds(
                "nginx -T | faultline-probe collect --nginx-conf -, or state it: faultline-probe collect --fact NAME=VALUE"
            ),
            [
                "nginx -T | faultline-probe collect --nginx-conf -",
                "faultline-probe collect --fact NAME=VALUE"
            ]
        );
        assert_eq!(
            cmds(
                "faultline-probe collect --pmtu HOST; faultline-probe collect --http URL --for 180"
            ),
            [
                "faultline-probe collect --pmtu HOST",
                "faultline-probe collect --http URL --for 180"
            ]
        );
        // Nothing is lost: the parts read back as the text.
        let text = "faultline-probe collect, or `conntrack -S` and /proc/sys/net/netfilter/nf_conntrack_{count,max}";
        let joined: String = command_parts(text)
            .into_iter()
            .map(|(t, c)| if c { format!("`{t}`") } else { t })
            .collect();
        assert_eq!(
            joined,
            "`faultline-probe collect`, or `conntrack -S` and /proc/sys/net/netfilter/nf_conntrack_{count,max}"
        );
        assert!(cmds("the probe's wait").is_empty());
    }

    #[test]
    fn values_read_with_units_and_few_digits() {
        use crate::core::signals::SignalValue::Number;
        assert_eq!(
            human_value("tcp.close_wait_share", &Number(0.16833)),
            "0.168 (16.8 %)"
        );
        assert_eq!(human_value("tcp.close_wait_count", &Number(301.0)), "301");
        assert_eq!(
            human_value("conn.lifetime_mode_s", &Number(2.00183144)),
            "2 s"
        );
    }

    #[test]
    fn healthy_panel_says_nothing_is_likely() {
        let html = render("healthy/quiet-host.json");
        assert!(html.contains("No likely root cause"), "{html}");
        assert!(html.contains("Next step"), "{html}");
    }
}
