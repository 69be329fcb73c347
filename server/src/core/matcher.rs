//! Scoring playbooks against a report's signals, with the explanation an
//! engineer needs to check the answer.
//!
//! - A clause is true, false or unknown. Its weight counts for the playbook
//!   when true, against it when false, and not at all when unknown.
//! - `score` = weight of true clauses / weight of known clauses, in [0, 1].
//! - `confidence` = weight of known clauses / weight of all clauses: unknown
//!   clauses lower it and become evidence to collect.
//! - A candidate is *likely* when score >= [`LIKELY_SCORE`] and confidence >=
//!   [`LIKELY_CONFIDENCE`]: most of what was measured agrees and at least half
//!   of the fingerprint was measured.
//! - Candidates rank by score × confidence (the share of the whole
//!   fingerprint that is confirmed), so one lucky clause cannot outrank a
//!   fingerprint that matched on every count. Between equal ranks, the
//!   fingerprint with more true clauses wins: it explains more of what was
//!   measured (a team's playbook promoted from an incident over the general
//!   built-in it refines).

use std::collections::BTreeMap;

use serde::Serialize;

use super::clause::{ClauseError, Expression, SignalEnv, Truth};
use super::playbook::Playbook;
use super::signals::{SignalValue, Signals, catalogue};

/// Score at or above which a candidate can be likely.
pub const LIKELY_SCORE: f64 = 0.75;
/// Confidence at or above which a candidate can be likely.
pub const LIKELY_CONFIDENCE: f64 = 0.5;
/// A false clause at least this heavy rules a candidate out (shown as such).
pub const RULES_OUT_WEIGHT: f64 = 2.0;
/// Signals shown beside a clause that reads the first one.
const COMPANIONS: &[(&str, &str)] = &[
    ("conn.timer_matches", "conn.matched_timers"),
    ("conn.lifetime_mode_s", "conn.matched_timers"),
    ("conn.lifetime_cluster_share", "conn.lifetime_mode_s"),
    // Which pod (network namespace) the CLOSE_WAIT sockets are in.
    ("tcp.close_wait_count", "tcp.close_wait_where"),
    ("tcp.close_wait_share", "tcp.close_wait_where"),
    ("tcp.close_wait_share_of_open", "tcp.close_wait_where"),
    ("tcp.close_wait_persistent", "tcp.close_wait_where"),
    ("tcp.close_wait_top_process_count", "tcp.close_wait_where"),
    ("tcp.close_wait_top_process_share", "tcp.close_wait_where"),
];
/// How many leading candidates the next step tries to tell apart.
const TOP: usize = 3;
/// How many next steps to offer.
const MAX_NEXT_STEPS: usize = 5;

struct Compiled {
    when: String,
    weight: f64,
    says: String,
    expr: Expression,
}

/// A playbook's clauses, compiled once.
pub struct Fingerprint {
    pub id: String,
    pub title: String,
    clauses: Vec<Compiled>,
}

impl Fingerprint {
    /// Compiles every clause; the error names the clause (1-based).
    pub fn compile(p: &Playbook) -> Result<Fingerprint, (usize, ClauseError)> {
        let clauses = p
            .meta
            .clauses
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Ok(Compiled {
                    when: c.when.clone(),
                    weight: c.weight,
                    says: c.says.clone(),
                    expr: Expression::compile(&c.when).map_err(|e| (i + 1, e))?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Fingerprint {
            id: p.meta.id.clone(),
            title: p.meta.title.clone(),
            clauses,
        })
    }
}

/// One clause, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct ClauseResult {
    pub when: String,
    pub says: String,
    pub weight: f64,
    pub state: Truth,
    /// The signals it reads that were measured, with their values.
    pub observed: BTreeMap<String, SignalValue>,
    /// Signals it reads that were not measured.
    pub missing: Vec<String>,
    /// Share of the score this clause adds (+) or takes away (−).
    pub contribution: f64,
}

/// What to measure to settle an unknown clause.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub signals: Vec<String>,
    /// The probe flag or command that collects them.
    pub collect: String,
    pub weight: f64,
    pub says: String,
}

/// One playbook, scored and explained.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub playbook: String,
    pub title: String,
    pub score: f64,
    pub confidence: f64,
    pub likely: bool,
    pub clauses: Vec<ClauseResult>,
    /// False clauses heavy enough to argue against this playbook.
    pub rules_out: Vec<ClauseResult>,
    pub evidence_to_collect: Vec<Evidence>,
}

impl Candidate {
    /// The share of the whole fingerprint that is confirmed.
    pub fn rank(&self) -> f64 {
        self.score * self.confidence
    }

    /// How many of its clauses the evidence confirmed.
    fn confirmed_clauses(&self) -> usize {
        self.clauses
            .iter()
            .filter(|c| c.state == Truth::True)
            .count()
    }
}

/// The measurement that best tells the leading candidates apart.
#[derive(Debug, Clone, Serialize)]
pub struct NextStep {
    pub collect: String,
    pub signals: Vec<String>,
    /// Candidates whose unknown clauses this would settle.
    pub settles: Vec<String>,
    /// Why it matters, from the heaviest clause it settles.
    pub says: String,
    pub weight: f64,
    /// Settles a clause of one leading candidate and of no other.
    pub separates: bool,
}

/// Every candidate best first, and what to measure next.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub candidates: Vec<Candidate>,
    pub next_steps: Vec<NextStep>,
}

impl Diagnosis {
    /// Candidates at or above the likely threshold, best first.
    pub fn likely(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| c.likely)
    }

    /// The JSON answer of `faultline diagnose` and `POST /api/v1/diagnose`
    /// (ARCHITECTURE.md, step 5): likely candidates only, then the next steps.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            matches: self.likely().collect(),
            next_steps: &self.next_steps,
        }
    }
}

/// `{"matches": [...], "next_steps": [...]}`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub matches: Vec<&'a Candidate>,
    pub next_steps: &'a [NextStep],
}

/// The compiled fingerprints of a set of playbooks.
#[derive(Default)]
pub struct Matcher {
    fingerprints: Vec<Fingerprint>,
}

impl Matcher {
    /// Compiles the playbooks; those whose clauses do not compile are
    /// returned by id with the error instead of failing the whole set.
    pub fn new<'a>(
        playbooks: impl IntoIterator<Item = &'a Playbook>,
    ) -> (Matcher, Vec<(String, String)>) {
        let mut fingerprints = Vec::new();
        let mut rejected = Vec::new();
        for p in playbooks {
            match Fingerprint::compile(p) {
                Ok(f) => fingerprints.push(f),
                Err((n, e)) => rejected.push((p.meta.id.clone(), format!("clause {n}: {e}"))),
            }
        }
        (Matcher { fingerprints }, rejected)
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// Scores every playbook that has clauses against `signals`.
    pub fn diagnose(&self, signals: &Signals) -> Diagnosis {
        let env = SignalEnv::new(signals);
        let mut candidates: Vec<Candidate> = self
            .fingerprints
            .iter()
            .filter(|f| !f.clauses.is_empty())
            .map(|f| candidate(f, signals, &env))
            .collect();
        candidates.sort_by(|a, b| {
            b.rank()
                .total_cmp(&a.rank())
                .then(b.score.total_cmp(&a.score))
                .then(b.confirmed_clauses().cmp(&a.confirmed_clauses()))
                .then_with(|| a.playbook.cmp(&b.playbook))
        });
        let next_steps = next_steps(&candidates, signals);
        Diagnosis {
            candidates,
            next_steps,
        }
    }
}

fn candidate(f: &Fingerprint, signals: &Signals, env: &SignalEnv) -> Candidate {
    let states: Vec<Truth> = f.clauses.iter().map(|c| c.expr.evaluate(env)).collect();
    let weight_of = |want: &[Truth]| -> f64 {
        f.clauses
            .iter()
            .zip(&states)
            .filter(|(_, s)| want.contains(s))
            .map(|(c, _)| c.weight)
            .sum::<f64>()
            + 0.0 // an empty f64 sum is -0.0, which prints as "-0.00"
    };
    let yes = weight_of(&[Truth::True]);
    let known = weight_of(&[Truth::True, Truth::False]);
    let all = weight_of(&[Truth::True, Truth::False, Truth::Unknown]);
    let score = if known > 0.0 { yes / known } else { 0.0 };
    let confidence = if all > 0.0 { known / all } else { 0.0 };
    let clauses: Vec<ClauseResult> = f
        .clauses
        .iter()
        .zip(&states)
        .map(|(c, s)| clause_result(c, *s, known, signals))
        .collect();
    let mut rules_out: Vec<ClauseResult> = clauses
        .iter()
        .filter(|c| c.state == Truth::False && c.weight >= RULES_OUT_WEIGHT)
        .cloned()
        .collect();
    rules_out.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let mut evidence_to_collect: Vec<Evidence> = clauses
        .iter()
        .filter(|c| c.state == Truth::Unknown)
        .map(evidence)
        .collect();
    evidence_to_collect.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    Candidate {
        playbook: f.id.clone(),
        title: f.title.clone(),
        score,
        confidence,
        likely: score >= LIKELY_SCORE && confidence >= LIKELY_CONFIDENCE,
        clauses,
        rules_out,
        evidence_to_collect,
    }
}

fn clause_result(c: &Compiled, state: Truth, known: f64, signals: &Signals) -> ClauseResult {
    let mut observed = BTreeMap::new();
    let mut missing = Vec::new();
    for name in c.expr.signals() {
        match signals.get(name) {
            Some(v) => {
                observed.insert(name.clone(), v.clone());
            }
            None => missing.push(name.clone()),
        }
    }
    // Show what a count stands for: "2 timers" means little without their names.
    for (read, companion) in COMPANIONS {
        if c.expr.signals().iter().any(|s| s == read)
            && let Some(v) = signals.get(companion)
        {
            observed.insert(companion.to_string(), v.clone());
        }
    }
    let share = if known > 0.0 { c.weight / known } else { 0.0 };
    let contribution = match state {
        Truth::True => share,
        Truth::False => -share,
        Truth::Unknown => 0.0,
    };
    ClauseResult {
        when: c.when.clone(),
        says: c.says.clone(),
        weight: c.weight,
        state,
        observed,
        missing,
        contribution,
    }
}

/// The collection commands for a clause's missing signals.
fn evidence(c: &ClauseResult) -> Evidence {
    let mut collect: Vec<&str> = c
        .missing
        .iter()
        .filter_map(|s| catalogue::lookup(s).map(|d| d.collect))
        .collect();
    collect.sort_unstable();
    collect.dedup();
    Evidence {
        signals: c.missing.clone(),
        collect: collect.join("; "),
        weight: c.weight,
        says: c.says.clone(),
    }
}

/// Whether settling a candidate's unknown clauses could change its verdict:
/// a likely one could be ruled out; an unlikely one could become likely
/// only if, with every unknown clause true, its score reached the bar.
fn could_change(c: &Candidate) -> bool {
    if c.likely {
        return true;
    }
    let weight = |want: &[Truth]| -> f64 {
        c.clauses
            .iter()
            .filter(|x| want.contains(&x.state))
            .map(|x| x.weight)
            .sum()
    };
    let all = weight(&[Truth::True, Truth::False, Truth::Unknown]);
    let best = weight(&[Truth::True, Truth::Unknown]);
    all > 0.0 && best / all >= LIKELY_SCORE
}

/// Whether evidence is worth asking for on this host: what only a
/// Kubernetes node has is asked for only where the host shows Kubernetes.
fn applies(e: &Evidence, signals: &Signals) -> bool {
    let on_kubernetes = matches!(
        signals.get("host.kubernetes"),
        Some(SignalValue::Bool(true))
    );
    on_kubernetes || !e.signals.iter().all(|s| catalogue::kubernetes_only(s))
}

/// Unknown evidence of the leading candidates, grouped by how to collect it;
/// evidence that only one leading candidate lacks separates them best.
/// Evidence that could not change a verdict, or that this host cannot
/// have, is not offered.
fn next_steps(candidates: &[Candidate], signals: &Signals) -> Vec<NextStep> {
    let open: Vec<&Candidate> = candidates.iter().filter(|c| could_change(c)).collect();
    let top: Vec<&Candidate> = open
        .iter()
        .copied()
        .filter(|c| c.rank() > 0.0)
        .take(TOP)
        .collect();
    let pool: Vec<&Candidate> = if top.is_empty() {
        open.into_iter().take(TOP).collect()
    } else {
        top
    };
    let mut steps: Vec<NextStep> = Vec::new();
    for c in &pool {
        for e in c.evidence_to_collect.iter().filter(|e| applies(e, signals)) {
            match steps.iter_mut().find(|s| s.collect == e.collect) {
                Some(s) => {
                    if !s.settles.contains(&c.playbook) {
                        s.settles.push(c.playbook.clone());
                    }
                    if e.weight > s.weight {
                        s.weight = e.weight;
                        s.says = e.says.clone();
                    }
                    for sig in &e.signals {
                        if !s.signals.contains(sig) {
                            s.signals.push(sig.clone());
                        }
                    }
                }
                None => steps.push(NextStep {
                    collect: e.collect.clone(),
                    signals: e.signals.clone(),
                    settles: vec![c.playbook.clone()],
                    says: e.says.clone(),
                    weight: e.weight,
                    separates: false,
                }),
            }
        }
    }
    for s in &mut steps {
        s.separates = pool.len() > 1 && s.settles.len() == 1;
    }
    steps.sort_by(|a, b| {
        b.separates
            .cmp(&a.separates)
            .then(b.weight.total_cmp(&a.weight))
            .then_with(|| a.collect.cmp(&b.collect))
    });
    steps.truncate(MAX_NEXT_STEPS);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playbook(id: &str, clauses: &[(&str, f64)]) -> Playbook {
        let mut text = format!(
            "+++\nid = \"{id}\"\ntitle = \"T {id}\"\nalert = \"a\"\nlayer = \"transport\"\n"
        );
        for (when, weight) in clauses {
            text.push_str(&format!(
                "\n[[clause]]\nwhen = \"{when}\"\nweight = {weight}\nsays = \"s {when}\"\n"
            ));
        }
        text.push_str("+++\n## Symptoms\n\nx\n");
        Playbook::parse(&format!("{id}.md"), &text).unwrap()
    }

    fn signals(pairs: &[(&str, f64)]) -> Signals {
        let mut s = Signals::default();
        for (k, v) in pairs {
            s.num(k, Some(*v));
        }
        s
    }

    #[test]
    fn score_confidence_and_contributions() {
        let p = playbook(
            "cw",
            &[
                ("tcp.close_wait_share > 0.5", 3.0),
                ("fds.max_share_of_limit > 0.8", 2.0),
                ("conntrack.fill > 0.9", 1.0),
            ],
        );
        let (m, rejected) = Matcher::new([&p]);
        assert!(rejected.is_empty());
        let d = m.diagnose(&signals(&[
            ("tcp.close_wait_share", 0.9),
            ("fds.max_share_of_limit", 0.5),
        ]));
        let c = &d.candidates[0];
        assert!((c.score - 0.6).abs() < 1e-9, "{}", c.score);
        assert!((c.confidence - 5.0 / 6.0).abs() < 1e-9);
        assert!(!c.likely, "0.6 is below the likely score");
        assert_eq!(c.clauses[0].contribution, 0.6);
        assert_eq!(c.clauses[1].contribution, -0.4);
        assert_eq!(c.clauses[2].state, Truth::Unknown);
        assert_eq!(
            c.rules_out.len(),
            1,
            "the weight-2 false clause rules it out"
        );
        assert_eq!(c.evidence_to_collect[0].signals, ["conntrack.fill"]);
        assert!(c.evidence_to_collect[0].collect.contains("conntrack"));
        assert_eq!(
            c.clauses[0].observed["tcp.close_wait_share"],
            SignalValue::Number(0.9)
        );
    }

    #[test]
    fn likely_needs_both_score_and_confidence() {
        let p = playbook(
            "a",
            &[
                ("tcp.close_wait_share > 0.5", 1.0),
                ("conntrack.fill > 0.9", 3.0),
            ],
        );
        let (m, _) = Matcher::new([&p]);
        let partial = m.diagnose(&signals(&[("tcp.close_wait_share", 0.9)]));
        assert_eq!(partial.candidates[0].score, 1.0);
        assert!(
            !partial.candidates[0].likely,
            "only a quarter of the fingerprint is known"
        );
        let full = m.diagnose(&signals(&[
            ("tcp.close_wait_share", 0.9),
            ("conntrack.fill", 0.95),
        ]));
        assert!(full.candidates[0].likely);
        assert_eq!(full.likely().count(), 1);
    }

    #[test]
    fn ranking_prefers_a_fully_confirmed_fingerprint() {
        let lucky = playbook(
            "lucky",
            &[("tcp.close_wait_share > 0.5", 1.0), ("dns.ndots > 1", 3.0)],
        );
        let solid = playbook(
            "solid",
            &[
                ("tcp.close_wait_share > 0.5", 2.0),
                ("fds.max_open > 100", 2.0),
            ],
        );
        let (m, _) = Matcher::new([&lucky, &solid]);
        let d = m.diagnose(&signals(&[
            ("tcp.close_wait_share", 0.9),
            ("fds.max_open", 500.0),
        ]));
        assert_eq!(d.candidates[0].playbook, "solid");
    }

    #[test]
    fn equal_ranks_go_to_the_fingerprint_that_explains_more() {
        let general = playbook("a-general", &[("tcp.close_wait_share > 0.5", 1.0)]);
        let specific = playbook(
            "z-specific",
            &[
                ("tcp.close_wait_share > 0.5", 1.0),
                ("fds.max_open > 100", 1.0),
            ],
        );
        let (m, _) = Matcher::new([&general, &specific]);
        let d = m.diagnose(&signals(&[
            ("tcp.close_wait_share", 0.9),
            ("fds.max_open", 500.0),
        ]));
        assert_eq!(d.candidates[0].rank(), d.candidates[1].rank());
        assert_eq!(d.candidates[0].playbook, "z-specific");
    }

    #[test]
    fn the_next_step_separates_the_leading_candidates() {
        let a = playbook(
            "a",
            &[
                ("tcp.close_wait_share > 0.5", 2.0),
                ("dns.ndots > 1", 3.0),
                ("conntrack.fill > 0.5", 1.0),
            ],
        );
        let b = playbook(
            "b",
            &[
                ("tcp.close_wait_share > 0.5", 2.0),
                ("conntrack.fill > 0.9", 1.0),
            ],
        );
        let (m, _) = Matcher::new([&a, &b]);
        let d = m.diagnose(&signals(&[("tcp.close_wait_share", 0.9)]));
        let first = &d.next_steps[0];
        assert!(first.separates, "{first:?}");
        assert_eq!(first.settles, ["a"]);
        assert_eq!(first.signals, ["dns.ndots"]);
        let shared = d
            .next_steps
            .iter()
            .find(|s| s.signals.contains(&"conntrack.fill".to_string()))
            .unwrap();
        assert!(!shared.separates);
        assert_eq!(shared.settles.len(), 2);
    }

    #[test]
    fn no_step_for_a_candidate_its_evidence_cannot_make_likely() {
        // `a` is ruled out by what was measured: whatever its unknown
        // clause says, it stays below the bar. `b` could still be likely.
        let a = playbook(
            "a",
            &[("tcp.close_wait_share > 0.5", 4.0), ("dns.ndots > 1", 1.0)],
        );
        let b = playbook(
            "b",
            &[("conntrack.fill > 0.5", 1.0), ("pmtu.blackhole", 2.0)],
        );
        let (m, _) = Matcher::new([&a, &b]);
        let d = m.diagnose(&signals(&[
            ("tcp.close_wait_share", 0.1),
            ("conntrack.fill", 0.8),
        ]));
        assert!(d.candidates.iter().any(|c| c.playbook == "a"));
        assert_eq!(d.next_steps.len(), 1, "{:?}", d.next_steps);
        assert_eq!(d.next_steps[0].settles, ["b"]);
        assert_eq!(d.next_steps[0].signals, ["pmtu.blackhole"]);
    }

    #[test]
    fn kubernetes_evidence_is_asked_for_only_on_kubernetes_hosts() {
        let p = playbook(
            "pods",
            &[
                ("connect.refused_share > 0.01", 2.0),
                ("k8s.max_restarts >= 5", 3.0),
            ],
        );
        let (m, _) = Matcher::new([&p]);
        let mut s = signals(&[("connect.refused_share", 0.05)]);
        s.flag("host.kubernetes", false);
        assert!(m.diagnose(&s).next_steps.is_empty(), "a plain host");
        s.flag("host.kubernetes", true);
        let d = m.diagnose(&s);
        assert_eq!(d.next_steps[0].signals, ["k8s.max_restarts"]);
    }

    #[test]
    fn nothing_measured_means_no_likely_candidate() {
        let p = playbook("a", &[("tcp.close_wait_share > 0.5", 2.0)]);
        let (m, _) = Matcher::new([&p]);
        let d = m.diagnose(&Signals::default());
        assert_eq!(d.likely().count(), 0);
        assert_eq!(d.candidates[0].score, 0.0);
        assert_eq!(d.next_steps.len(), 1);
    }
}
