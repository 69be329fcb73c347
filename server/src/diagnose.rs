//! Diagnosis as a service: the current playbooks compiled into one matcher,
//! reused until the knowledge base changes, and the terminal rendering of a
//! diagnosis for `faultline diagnose`.

use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use faultline_probe::report::Report;

use crate::core::clause::Truth;
use crate::core::matcher::{Candidate, Diagnosis, LIKELY_CONFIDENCE, LIKELY_SCORE, Matcher};
use crate::core::playbook::Playbook;
use crate::core::signals;
use crate::kb::KnowledgeBase;

/// Which playbooks a matcher was built from: id, version and a hash of the
/// text (two knowledge bases in one process may share ids and versions).
type Key = Vec<(String, i64, u64)>;

/// The matcher for the knowledge base as it is now. Compiling clauses costs
/// far more than evaluating them, so the matcher is kept until a playbook
/// changes.
pub fn matcher_for(kb: &KnowledgeBase) -> Arc<Matcher> {
    static CACHE: Mutex<Option<(Key, Arc<Matcher>)>> = Mutex::new(None);
    let current = kb.list();
    let key: Key = current
        .iter()
        .map(|c| {
            let mut h = DefaultHasher::new();
            c.playbook.source().hash(&mut h);
            (c.playbook.id().to_owned(), c.version.version, h.finish())
        })
        .collect();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, m)) = cache.as_ref()
        && *k == key
    {
        return m.clone();
    }
    let matcher = Arc::new(build(current.iter().map(|c| &c.playbook)));
    *cache = Some((key, matcher.clone()));
    matcher
}

/// A matcher over the playbooks that ship in the binary.
pub fn builtin_matcher() -> Matcher {
    let playbooks: Vec<Playbook> = crate::builtin::playbooks()
        .iter()
        .filter_map(|(name, text)| Playbook::parse(name, text).ok())
        .collect();
    build(playbooks.iter())
}

fn build<'a>(playbooks: impl IntoIterator<Item = &'a Playbook>) -> Matcher {
    let (matcher, rejected) = Matcher::new(playbooks);
    for (id, why) in rejected {
        tracing::warn!(%id, %why, "playbook left out of matching");
    }
    matcher
}

/// Derives the report's signals and scores every playbook.
pub fn diagnose(matcher: &Matcher, report: &Report) -> Diagnosis {
    matcher.diagnose(&signals::derive(report))
}

/// How many unlikely candidates to mention when nothing is likely.
const CLOSEST: usize = 3;

/// A diagnosis for a terminal: likely causes first with every clause, then
/// what to run next. Plain ASCII marks so it survives any pager.
pub fn render_text(d: &Diagnosis) -> String {
    let mut out = String::new();
    let likely: Vec<&Candidate> = d.likely().collect();
    if likely.is_empty() {
        out.push_str("No likely root cause in this evidence.\n");
        let closest: Vec<_> = d
            .candidates
            .iter()
            .filter(|c| c.rank() > 0.0)
            .take(CLOSEST)
            .collect();
        if !closest.is_empty() {
            out.push_str("Closest, below the threshold:\n");
            for c in closest {
                let _ = writeln!(
                    out,
                    "  {:<28} score {:.2}  confidence {:.2}",
                    c.playbook, c.score, c.confidence
                );
            }
        }
    }
    for (i, c) in likely.iter().enumerate() {
        render_candidate(&mut out, i + 1, c);
    }
    let _ = writeln!(
        out,
        "\n(likely = score >= {LIKELY_SCORE:.2} and confidence >= {LIKELY_CONFIDENCE:.2})"
    );
    if !d.next_steps.is_empty() {
        out.push_str("\nNEXT STEP\n");
        for (i, s) in d.next_steps.iter().enumerate() {
            let why = if s.separates {
                "tells the leading causes apart"
            } else {
                "settles"
            };
            let _ = writeln!(out, "  {}. {}", i + 1, s.collect);
            let _ = writeln!(
                out,
                "     measures {}; {why}: {} ({})",
                s.signals.join(", "),
                s.settles.join(", "),
                s.says
            );
        }
    }
    out
}

fn render_candidate(out: &mut String, n: usize, c: &Candidate) {
    let _ = writeln!(
        out,
        "\n{n}. LIKELY  {}  score {:.2}  confidence {:.2}\n   {}\n   read: /playbooks/{}",
        c.playbook, c.score, c.confidence, c.title, c.playbook
    );
    for cl in &c.clauses {
        let mark = match cl.state {
            Truth::True => "[+]",
            Truth::False => "[-]",
            Truth::Unknown => "[?]",
        };
        let _ = writeln!(out, "   {mark} {:+.2}  {}", cl.contribution, cl.says);
        let observed: Vec<String> = cl
            .observed
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let missing: Vec<String> = cl
            .missing
            .iter()
            .map(|k| format!("{k} not measured"))
            .collect();
        let seen = [observed, missing].concat().join(", ");
        let _ = writeln!(out, "             {seen}   [when {}]", cl.when);
    }
    for r in &c.rules_out {
        let _ = writeln!(out, "   against: {} (weight {})", r.says, r.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Report {
        Report::from_json(crate::builtin::example(name).unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn text_names_the_likely_cause_its_evidence_and_a_next_step() {
        let m = builtin_matcher();
        let d = diagnose(&m, &example("examples/close-wait-leak-2.json"));
        let text = render_text(&d);
        assert!(text.contains("1. LIKELY  close-wait-leak"), "{text}");
        assert!(text.contains("tcp.close_wait_share = 0.874"), "{text}");
        assert!(text.contains("[+] +0.40"), "{text}");
        assert!(!text.contains("No likely root cause"));
    }

    #[test]
    fn healthy_text_says_so_and_suggests_what_to_measure() {
        let m = builtin_matcher();
        let d = diagnose(&m, &example("healthy/quiet-host.json"));
        let text = render_text(&d);
        assert!(text.starts_with("No likely root cause"), "{text}");
        assert!(text.contains("NEXT STEP"), "{text}");
        assert!(text.contains("faultline-probe collect"), "{text}");
    }

    #[test]
    fn the_matcher_is_shared_across_threads() {
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<Matcher>();
    }
}
