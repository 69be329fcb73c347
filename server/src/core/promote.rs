//! Promoting a postmortem to a playbook: the postmortem's prose becomes the
//! playbook's sections, and a starting fingerprint is built from the signals
//! that stood out in the incident's evidence.
//!
//! What "stood out" means, so the choice can be checked:
//!
//! - The knowledge base already says which side of each signal is a warning
//!   sign: every clause of every playbook is read for its simple tests
//!   (`conntrack.fill > 0.9`, `pmtu.blackhole`, `tls.verify == 'unknown_issuer'`).
//! - A measured signal stands out when its value passes such a test **and no
//!   healthy baseline report passes the same test**. The second half drops
//!   tests that describe normal hosts (`http.error_share < 0.01`,
//!   `tls.verify == 'ok'`), which some playbooks use to rule themselves out.
//! - Signals read by true clauses of the leading candidates of the matcher's
//!   diagnosis come first, then the signals the knowledge base weighs most.
//!   At most [`MAX_CLAUSES`] are kept.
//! - Only when fewer than [`MIN_CLAUSES`] stood out that way, a second tier
//!   adds signals no playbook tests yet but that are clearly beyond every
//!   healthy report that measured them: a rate or failure count at least
//!   twice the healthiest maximum (or above a healthy zero), a flag that
//!   healthy hosts never raise, a word they never show. Fewer than
//!   [`MIN_CLAUSES`] after both is an error: one or two clauses would match
//!   far too much.
//!
//! Each kept signal becomes a clause with the threshold halfway between the
//! known test's threshold (or the healthy extreme) and the observed value,
//! rounded: the incident's evidence passes it, and a healthy report, which
//! fails the known test, fails this stricter one too. Flags and words are
//! kept as they were observed.
//!
//! A fingerprint made this way is fully measured on its own evidence
//! (score 1, confidence 1). Where a built-in playbook also explains that
//! evidence completely, the two tie at the top of the ranking; the matcher
//! then orders them by id.

use std::collections::BTreeMap;
use std::fmt;

use super::clause::{Comparison, Expression, Op, Truth};
use super::matcher::Diagnosis;
use super::playbook::{
    Clause, Example, FrontMatter, Layer, Playbook, PlaybookError, SectionKind, check_id, slugify,
};
use super::signals::{SignalValue, Signals, catalogue};

/// Fewest clauses a promoted fingerprint may have.
pub const MIN_CLAUSES: usize = 3;
/// Most clauses a promoted fingerprint gets; the rest are left to the editor.
pub const MAX_CLAUSES: usize = 6;
/// Leading candidates whose true clauses say which signals mattered.
const LEADING: usize = 3;
/// Heaviest weight a promoted clause gets: the editor raises it on purpose.
const MAX_WEIGHT: f64 = 4.0;
/// Longest playbook id (as `check_id` allows).
const MAX_ID_LEN: usize = 64;

/// What the knowledge base knows before the promotion.
pub struct Knowledge<'a> {
    /// Every current playbook: their ids are taken, their clauses teach
    /// which side of a signal is a warning sign.
    pub playbooks: &'a [Playbook],
    /// Signals of healthy reports: a test they pass does not stand out.
    pub baseline: &'a [Signals],
}

/// The incident's evidence, reduced.
pub struct Evidence<'a> {
    /// Signals of the incident's merged evidence.
    pub signals: &'a Signals,
    /// The matcher's diagnosis of those signals.
    pub diagnosis: &'a Diagnosis,
}

/// The postmortem's side of the promotion.
pub struct Source<'a> {
    pub title: &'a str,
    /// What on-call saw: the incident's title.
    pub alert: &'a str,
    /// The layer of the playbook the incident was confirmed (or chosen) as.
    pub layer: Option<Layer>,
    /// Symptoms, Investigation, Root cause, Fix and Prevention, as Markdown.
    pub sections: &'a [(SectionKind, String)],
    /// Stored report ids that were the incident's evidence.
    pub reports: &'a [String],
}

/// A signal that stood out, and the clause made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Standout {
    pub signal: String,
    pub observed: SignalValue,
    /// The strictest known test the observed value passes.
    pub known: Comparison,
    /// Playbooks whose clauses make that test.
    pub known_from: Vec<String>,
    /// Weight of the leading candidates' true clauses that read the signal.
    pub leading_weight: f64,
    pub clause: Clause,
}

/// The promoted playbook and why each clause is there.
#[derive(Debug)]
pub struct Promoted {
    pub playbook: Playbook,
    pub standouts: Vec<Standout>,
}

#[derive(Debug)]
pub enum PromoteError {
    /// Too few signals stood out to make a fingerprint.
    TooLittleEvidence { found: Vec<String> },
    /// The composed text does not parse (a section holds a `## ` heading…).
    Invalid(PlaybookError),
}

impl fmt::Display for PromoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromoteError::TooLittleEvidence { found } if found.is_empty() => write!(
                f,
                "no signal in the incident's evidence is past a threshold the playbooks test \
                 while healthy hosts stay inside it; attach more evidence before promoting"
            ),
            PromoteError::TooLittleEvidence { found } => write!(
                f,
                "only {} signal(s) stood out in the incident's evidence ({}); a fingerprint needs \
                 at least {MIN_CLAUSES}: attach more evidence before promoting",
                found.len(),
                found.join(", ")
            ),
            PromoteError::Invalid(e) => write!(f, "the promoted playbook does not parse: {e}"),
        }
    }
}

impl std::error::Error for PromoteError {}

/// Builds the playbook text from the postmortem and the evidence.
pub fn promote(
    source: &Source,
    evidence: &Evidence,
    knowledge: &Knowledge,
) -> Result<Promoted, PromoteError> {
    let standouts = standouts(evidence, knowledge);
    if standouts.len() < MIN_CLAUSES {
        return Err(PromoteError::TooLittleEvidence {
            found: standouts.into_iter().map(|s| s.signal).collect(),
        });
    }
    let alert = if source.alert.trim().is_empty() {
        source.title
    } else {
        source.alert
    };
    let meta = FrontMatter {
        id: unique_id(source.title, knowledge.playbooks),
        title: source.title.trim().to_owned(),
        alert: alert.trim().to_owned(),
        tags: tags(&standouts),
        layer: source.layer.unwrap_or(Layer::Application),
        clauses: standouts.iter().map(|s| s.clause.clone()).collect(),
        examples: source
            .reports
            .iter()
            .map(|r| Example { report: r.clone() })
            .collect(),
    };
    let sections: Vec<(SectionKind, String)> = SectionKind::ALL
        .into_iter()
        .map(|kind| {
            let text = source
                .sections
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("", |(_, t)| t.as_str());
            (kind, text.to_owned())
        })
        .collect();
    let playbook = Playbook::compose(&meta, &sections).map_err(PromoteError::Invalid)?;
    Ok(Promoted {
        playbook,
        standouts,
    })
}

/// A known test and the playbooks (with the clause weight) that make it.
struct Known {
    test: Comparison,
    from: Vec<(String, f64)>,
}

/// The signals that stood out, best first, at most [`MAX_CLAUSES`].
pub fn standouts(evidence: &Evidence, knowledge: &Knowledge) -> Vec<Standout> {
    let known = known_tests(knowledge.playbooks);
    let leading = leading_weights(evidence.diagnosis);
    let mut found: Vec<Standout> = evidence
        .signals
        .iter()
        .filter_map(|(name, value)| {
            let tests = known.get(name)?;
            let passing: Vec<&Known> = tests
                .iter()
                .filter(|k| k.test.passes(value) && !baseline_passes(&k.test, knowledge.baseline))
                .collect();
            let strictest = strictest(&passing)?;
            let weight = passing
                .iter()
                .flat_map(|k| k.from.iter().map(|(_, w)| *w))
                .fold(1.0, f64::max)
                .min(MAX_WEIGHT);
            let mut known_from: Vec<String> = passing
                .iter()
                .flat_map(|k| k.from.iter().map(|(id, _)| id.clone()))
                .collect();
            known_from.sort();
            known_from.dedup();
            let mut from: Vec<&str> = strictest.from.iter().map(|(id, _)| id.as_str()).collect();
            from.dedup();
            let provenance = format!(
                "{} {} is already a warning sign in {}",
                strictest.test.op.symbol(),
                cel_value(&strictest.test.value),
                from.join(", ")
            );
            Some(Standout {
                signal: name.to_owned(),
                observed: value.clone(),
                known: strictest.test.clone(),
                leading_weight: leading.get(name).copied().unwrap_or(0.0),
                clause: clause_for(name, value, &strictest.test, &provenance, weight),
                known_from,
            })
        })
        .collect();
    // Second tier, only to reach the minimum: signals no playbook tests yet
    // that are clearly beyond every healthy report.
    if found.len() < MIN_CLAUSES {
        let tier_one: Vec<String> = found.iter().map(|f| f.signal.clone()).collect();
        found.extend(evidence.signals.iter().filter_map(|(name, value)| {
            if tier_one.iter().any(|f| f == name) {
                return None;
            }
            let (test, healthy) = beyond_healthy(name, value, knowledge.baseline)?;
            let provenance = format!("healthy hosts show {healthy}");
            Some(Standout {
                signal: name.to_owned(),
                observed: value.clone(),
                clause: clause_for(name, value, &test, &provenance, 1.0),
                known: test,
                known_from: Vec::new(),
                leading_weight: 0.0,
            })
        }));
    }
    found.sort_by(|a, b| {
        b.leading_weight
            .total_cmp(&a.leading_weight)
            .then(b.clause.weight.total_cmp(&a.clause.weight))
            .then_with(|| a.signal.cmp(&b.signal))
    });
    found.truncate(MAX_CLAUSES);
    found
}

/// Units of the signals the second tier may use: rates and counts of
/// failures, not sizes (a bigger host has more sockets and is not at fault).
const SECOND_TIER_UNITS: &[&str] = &["ratio 0-1", "ratio", "events", "packets", "ms", "lines"];
/// How far past the healthy extreme a number must be, as a factor.
const SECOND_TIER_FACTOR: f64 = 2.0;

/// A test `value` passes and every healthy report fails, made from the
/// healthy reports themselves, with what they showed; `None` when no
/// healthy report measured the signal or the value is within their range.
fn beyond_healthy(
    name: &str,
    value: &SignalValue,
    baseline: &[Signals],
) -> Option<(Comparison, String)> {
    let healthy: Vec<&SignalValue> = baseline.iter().filter_map(|s| s.get(name)).collect();
    if healthy.is_empty() {
        return None;
    }
    let test = |op, value| Comparison {
        signal: name.to_owned(),
        op,
        value,
    };
    match value {
        SignalValue::Number(v) => {
            let unit = catalogue::lookup(name)?.unit;
            if !SECOND_TIER_UNITS.contains(&unit) {
                return None;
            }
            let numbers: Vec<f64> = healthy
                .iter()
                .filter_map(|h| match h {
                    SignalValue::Number(n) => Some(*n),
                    _ => None,
                })
                .collect();
            let high = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let clearly_above = if high > 0.0 {
                *v >= high * SECOND_TIER_FACTOR
            } else {
                *v > 0.0 && high == 0.0
            };
            clearly_above.then(|| {
                (
                    test(Op::Gt, SignalValue::Number(high)),
                    format!("at most {}", SignalValue::Number(high)),
                )
            })
        }
        SignalValue::Bool(true) => healthy
            .iter()
            .all(|h| **h == SignalValue::Bool(false))
            .then(|| (test(Op::Eq, SignalValue::Bool(true)), "false".to_owned())),
        SignalValue::Text(_) => healthy.iter().all(|h| *h != value).then(|| {
            let shown: Vec<String> = healthy.iter().map(|h| h.to_string()).collect();
            (test(Op::Eq, value.clone()), shown.join(" or "))
        }),
        SignalValue::Bool(false) => None,
    }
}

/// Every simple test the playbooks' clauses make, by signal; one entry per
/// distinct test.
fn known_tests(playbooks: &[Playbook]) -> BTreeMap<String, Vec<Known>> {
    let mut out: BTreeMap<String, Vec<Known>> = BTreeMap::new();
    for p in playbooks {
        for c in &p.meta.clauses {
            let Ok(expr) = Expression::compile(&c.when) else {
                continue;
            };
            for test in expr.comparisons() {
                let tests = out.entry(test.signal.clone()).or_default();
                let from = (p.meta.id.clone(), c.weight);
                match tests.iter_mut().find(|k| k.test == test) {
                    Some(k) => k.from.push(from),
                    None => tests.push(Known {
                        test,
                        from: vec![from],
                    }),
                }
            }
        }
    }
    out
}

/// Weight of the leading candidates' true clauses, by the signals they read.
fn leading_weights(diagnosis: &Diagnosis) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let leading = diagnosis
        .candidates
        .iter()
        .filter(|c| c.rank() > 0.0)
        .take(LEADING);
    for c in leading {
        for clause in c.clauses.iter().filter(|c| c.state == Truth::True) {
            for signal in clause.observed.keys() {
                *out.entry(signal.clone()).or_insert(0.0) += clause.weight;
            }
        }
    }
    out
}

fn baseline_passes(test: &Comparison, baseline: &[Signals]) -> bool {
    baseline
        .iter()
        .filter_map(|s| s.get(&test.signal))
        .any(|v| test.passes(v))
}

/// The test that leaves the least room: the highest lower bound, the lowest
/// upper bound; an equality test over either.
fn strictest<'a>(passing: &[&'a Known]) -> Option<&'a Known> {
    let number = |k: &Known| match k.test.value {
        SignalValue::Number(n) => n,
        _ => 0.0,
    };
    let strictness = |k: &Known| match k.test.op {
        Op::Eq => f64::INFINITY,
        Op::Gt | Op::Ge => number(k),
        Op::Lt | Op::Le => -number(k),
        Op::Ne => f64::NEG_INFINITY,
    };
    passing
        .iter()
        .copied()
        .max_by(|a, b| strictness(a).total_cmp(&strictness(b)))
}

/// The clause for one signal that stood out, past `known`.
fn clause_for(
    name: &str,
    observed: &SignalValue,
    known: &Comparison,
    provenance: &str,
    weight: f64,
) -> Clause {
    let (when, shown) = match (observed, &known.value) {
        (SignalValue::Number(v), SignalValue::Number(t))
            if matches!(known.op, Op::Gt | Op::Ge | Op::Lt | Op::Le) =>
        {
            let unit = catalogue::lookup(name).map_or("", |d| d.unit);
            (
                format!(
                    "{name} {} {}",
                    known.op.symbol(),
                    literal(threshold(*t, *v))
                ),
                format!("{}{}", SignalValue::Number(*v), unit_suffix(unit)),
            )
        }
        (SignalValue::Bool(true), _) => (name.to_owned(), "true".to_owned()),
        _ => (
            format!("{name} {} {}", known.op.symbol(), cel_value(&known.value)),
            observed.to_string(),
        ),
    };
    Clause {
        when,
        weight,
        says: format!("{}: {shown} in the incident ({provenance})", describe(name)),
    }
}

/// What a signal measures, from the catalogue; a log signal by its words.
fn describe(name: &str) -> String {
    if let Some(words) = name.strip_prefix("logs.") {
        return format!("Log lines matching \"{}\"", words.replace('_', " ").trim());
    }
    capitalise(catalogue::lookup(name).map_or(name, |d| d.meaning))
}

/// The new threshold: [`halfway`], except that between two whole numbers
/// (pods, rules, certificates) it stays whole; with no whole number
/// between them it is the known threshold itself.
fn threshold(known: f64, observed: f64) -> f64 {
    let t = halfway(known, observed);
    let whole = |x: f64| x.fract() == 0.0;
    if whole(known) && whole(observed) && !whole(t) {
        known
    } else {
        t
    }
}

/// A round number strictly between `known` and `observed`, near the
/// midpoint: the fewest significant digits that stay inside.
fn halfway(known: f64, observed: f64) -> f64 {
    let mid = known + (observed - known) / 2.0;
    let (low, high) = if known <= observed {
        (known, observed)
    } else {
        (observed, known)
    };
    if (high - low).abs() < f64::EPSILON {
        return known;
    }
    for digits in 1..=12 {
        let rounded = round_significant(mid, digits);
        let inside = rounded > low && rounded < high;
        if inside {
            return rounded;
        }
    }
    mid
}

/// `x` with `digits` significant digits, through decimal text so that
/// 0.935 comes back as 0.935 and not 0.9350000000000001.
fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let scale = 10f64.powi(digits - 1 - magnitude);
    let rounded = if decimals == 0 {
        (x * scale).round() / scale
    } else {
        x
    };
    format!("{rounded:.decimals$}").parse().unwrap_or(x)
}

/// A number as CEL reads it: integers without a fraction.
fn literal(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        // Rust prints the shortest text that reads back as the same f64.
        format!("{x}")
    }
}

fn cel_value(v: &SignalValue) -> String {
    match v {
        SignalValue::Number(n) => literal(*n),
        SignalValue::Bool(b) => b.to_string(),
        SignalValue::Text(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

fn unit_suffix(unit: &str) -> String {
    let unitless = ["ratio", "text", "bool", "as given", "lines"];
    if unitless.iter().any(|u| unit.starts_with(u)) {
        String::new()
    } else {
        format!(" {unit}")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The groups of the signals that stood out, as tags, after `postmortem`.
fn tags(standouts: &[Standout]) -> Vec<String> {
    let mut tags = vec!["postmortem".to_owned()];
    for s in standouts {
        if let Some((group, _)) = s.signal.split_once('.')
            && !tags.iter().any(|t| t == group)
        {
            tags.push(group.to_owned());
        }
    }
    tags
}

/// The title's slug, with `-2`, `-3`… when another playbook has it.
fn unique_id(title: &str, playbooks: &[Playbook]) -> String {
    let mut base = slugify(title);
    if check_id(&base).is_err() {
        base = "postmortem".to_owned();
    }
    let taken = |id: &str| playbooks.iter().any(|p| p.id() == id);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| {
            let suffix = format!("-{n}");
            let mut stem = base.clone();
            stem.truncate(MAX_ID_LEN - suffix.len());
            format!("{}{suffix}", stem.trim_end_matches('-'))
        })
        .find(|id| !taken(id))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use faultline_probe::report::Report;

    use super::*;
    use crate::builtin;
    use crate::core::matcher::{Candidate, Matcher};
    use crate::core::signals;

    const NOVEL: &str = include_str!("../../tests/fixtures/promote/fd-exhaustion-retry-storm.json");

    fn builtins() -> Vec<Playbook> {
        builtin::playbooks()
            .iter()
            .map(|(name, text)| Playbook::parse(name, text).unwrap())
            .collect()
    }

    fn signals_of(json: &str) -> Signals {
        signals::derive(&Report::from_json(json.as_bytes()).unwrap())
    }

    fn healthy() -> Vec<Signals> {
        builtin::healthy_examples()
            .iter()
            .map(|(_, json)| signals_of(json))
            .collect()
    }

    fn sections() -> Vec<(SectionKind, String)> {
        vec![
            (SectionKind::Symptoms, "- connects time out".into()),
            (
                SectionKind::Investigation,
                "1. **Count descriptors.**\n\n   ```sh\n   ls /proc/$PID/fd | wc -l\n   ```".into(),
            ),
            (SectionKind::RootCause, "Retries without backoff.".into()),
            (SectionKind::Fix, "Back off.".into()),
            (SectionKind::Prevention, "Budget retries.".into()),
        ]
    }

    /// Promotes `source` on the evidence of the report `json`, diagnosed
    /// against `playbooks`, with the built-in healthy reports as baseline.
    fn try_promote(
        source: &Source,
        json: &str,
        playbooks: &[Playbook],
    ) -> Result<Promoted, PromoteError> {
        let signals = signals_of(json);
        let (matcher, _) = Matcher::new(playbooks);
        let diagnosis = matcher.diagnose(&signals);
        let baseline = healthy();
        promote(
            source,
            &Evidence {
                signals: &signals,
                diagnosis: &diagnosis,
            },
            &Knowledge {
                playbooks,
                baseline: &baseline,
            },
        )
    }

    fn promote_report(json: &str, title: &str, playbooks: &[Playbook]) -> Promoted {
        let reports = vec!["5c0f7a52-2d3e-4b8e-9f61-0a7d3c9e1b44".to_owned()];
        let sections = sections();
        let source = Source {
            title,
            alert: "edge gateway: upstream connect timeouts",
            layer: None,
            sections: &sections,
            reports: &reports,
        };
        try_promote(&source, json, playbooks).unwrap()
    }

    fn ranked(playbooks: &[Playbook], json: &str) -> Vec<Candidate> {
        let (matcher, rejected) = Matcher::new(playbooks);
        assert!(rejected.is_empty(), "{rejected:?}");
        matcher.diagnose(&signals_of(json)).candidates
    }

    #[test]
    fn a_novel_fault_becomes_a_playbook_that_parses_and_ranks_first() {
        let mut playbooks = builtins();
        assert_eq!(
            ranked(&playbooks, NOVEL)
                .iter()
                .filter(|c| c.likely)
                .count(),
            0,
            "the fixture must be a fault no built-in explains"
        );
        let promoted = promote_report(
            NOVEL,
            "Gateway descriptors exhausted by retries",
            &playbooks,
        );
        let p = Playbook::parse("promoted.md", promoted.playbook.source()).unwrap();
        assert_eq!(p.id(), "gateway-descriptors-exhausted-by-retries");
        assert_eq!(p.meta.layer, Layer::Application);
        assert!((MIN_CLAUSES..=MAX_CLAUSES).contains(&p.meta.clauses.len()));
        assert_eq!(
            p.meta.examples[0].report,
            "5c0f7a52-2d3e-4b8e-9f61-0a7d3c9e1b44"
        );
        assert_eq!(
            p.section_markdown(SectionKind::RootCause),
            "Retries without backoff."
        );
        assert_eq!(p.steps()[0].commands, ["ls /proc/$PID/fd | wc -l"]);
        let whens: Vec<&str> = p.meta.clauses.iter().map(|c| c.when.as_str()).collect();
        // Observed 0.63 against the known 0.5 (missing-masquerade); the
        // halfway point, 0.565, rounds to 0.6.
        assert!(whens.contains(&"connect.timeout_share > 0.6"), "{whens:?}");
        assert!(
            whens.contains(&"logs.too_many_open_files > 1000"),
            "{whens:?}"
        );
        // The busy healthy host has 95 % sockets too: not a standout.
        assert!(
            !whens.iter().any(|w| w.contains("fds.socket_share")),
            "{whens:?}"
        );
        let says = &p.meta.clauses[0].says;
        assert!(says.contains("in the incident ("), "{says}");
        let logs = &p
            .meta
            .clauses
            .iter()
            .find(|c| c.when.starts_with("logs."))
            .unwrap();
        assert_eq!(
            logs.says,
            "Log lines matching \"too many open files\": 2210 in the incident \
             (> 0 is already a warning sign in close-wait-leak)"
        );

        playbooks.push(p);
        let ranking = ranked(&playbooks, NOVEL);
        let first = &ranking[0];
        assert_eq!(first.playbook, "gateway-descriptors-exhausted-by-retries");
        assert!(
            first.likely && first.score == 1.0 && first.confidence == 1.0,
            "{first:?}"
        );
        for (name, json) in builtin::healthy_examples() {
            let on_healthy = ranked(&playbooks, &json);
            let new = on_healthy
                .iter()
                .find(|c| c.playbook == first.playbook)
                .unwrap();
            assert!(!new.likely, "{name}: {new:?}");
            assert!(
                new.clauses.iter().all(|c| c.state != Truth::True),
                "{name}: {new:?}"
            );
        }
    }

    #[test]
    fn evidence_a_built_in_explains_gives_a_fingerprint_that_ties_for_first() {
        let mut playbooks = builtins();
        let json = builtin::example("conntrack-table-full-1.json").unwrap();
        let promoted = promote_report(&json, "Conntrack table full again", &playbooks);
        assert!(
            promoted
                .standouts
                .iter()
                .any(|s| s.signal == "conntrack.fill")
        );
        assert!(
            promoted.standouts[0].leading_weight > 0.0,
            "{:?}",
            promoted.standouts[0]
        );
        let id = promoted.playbook.id().to_owned();
        playbooks.push(promoted.playbook);
        let ranking = ranked(&playbooks, &json);
        let new = ranking.iter().find(|c| c.playbook == id).unwrap();
        assert!(new.likely && new.rank() == 1.0, "{new:?}");
        assert!(ranking.iter().all(|c| c.rank() <= new.rank()));
    }

    /// Every built-in example either promotes to a fingerprint that is
    /// likely on it, outranked by nothing and not likely on a healthy
    /// report, or is refused as too thin.
    #[test]
    fn every_built_in_example_promotes_soundly_or_is_refused_as_thin() {
        let playbooks = builtins();
        let (mut promoted, mut refused) = (0, 0);
        for p in &playbooks {
            for e in &p.meta.examples {
                let json = builtin::example(&e.report).unwrap();
                let source = Source {
                    title: "Promoted from an example",
                    alert: "",
                    layer: Some(p.meta.layer),
                    sections: &[],
                    reports: &[],
                };
                let result = try_promote(&source, &json, &playbooks);
                let new = match result {
                    Err(PromoteError::TooLittleEvidence { .. }) => {
                        refused += 1;
                        continue;
                    }
                    Err(other) => panic!("{}: {other}", e.report),
                    Ok(new) => new,
                };
                promoted += 1;
                let mut all = playbooks.clone();
                all.push(new.playbook);
                let ranking = ranked(&all, &json);
                let mine = ranking
                    .iter()
                    .find(|c| c.playbook == "promoted-from-an-example")
                    .unwrap();
                assert!(mine.likely && mine.rank() == 1.0, "{}: {mine:?}", e.report);
                for (name, healthy_json) in builtin::healthy_examples() {
                    let on_healthy = ranked(&all, &healthy_json);
                    let mine = on_healthy
                        .iter()
                        .find(|c| c.playbook == "promoted-from-an-example")
                        .unwrap();
                    assert!(!mine.likely, "{} on {name}: {mine:?}", e.report);
                }
            }
        }
        assert!(promoted > refused, "{promoted} promoted, {refused} refused");
    }

    #[test]
    fn the_id_is_unique_against_existing_playbooks() {
        let playbooks = builtins();
        let promoted = promote_report(NOVEL, "Close-wait leak", &playbooks);
        assert_eq!(promoted.playbook.id(), "close-wait-leak-2");
    }

    #[test]
    fn too_little_evidence_is_a_clear_error() {
        let playbooks = builtins();
        let json = builtin::example("healthy/quiet-host.json").unwrap();
        let sections = sections();
        let source = Source {
            title: "Nothing happened",
            alert: "",
            layer: None,
            sections: &sections,
            reports: &[],
        };
        let e = try_promote(&source, &json, &playbooks).unwrap_err();
        assert!(e.to_string().contains("attach more evidence"), "{e}");
    }

    #[test]
    fn thresholds_sit_halfway_and_round() {
        assert_eq!(halfway(0.7, 0.975), 0.8);
        assert_eq!(halfway(0.9, 0.97), 0.94);
        assert_eq!(halfway(0.0, 2210.0), 1000.0);
        assert_eq!(halfway(2.0, 1.0), 1.5);
        assert_eq!(halfway(5.0, 5.0), 5.0);
        assert_eq!(threshold(0.0, 1.0), 0.0);
        assert_eq!(threshold(2.0, 1.0), 2.0);
        assert_eq!(threshold(5.0, 80.0), 40.0);
        assert_eq!(literal(0.935), "0.935");
        assert_eq!(literal(1000.0), "1000");
    }
}
