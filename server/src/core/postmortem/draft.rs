//! The first draft of a postmortem, written from what the incident
//! recorded: its timeline, evidence, diagnosis and checklist, and the text
//! of the playbook it was diagnosed as. Pure: the caller gathers the facts.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::{PmSection, Postmortem, PostmortemError, PostmortemMeta, chart_path, format_time};

/// The incident, as the draft needs it.
#[derive(Debug, Clone)]
pub struct DraftIncident {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// What a timeline event tells the draft beyond its one-line text.
#[derive(Debug, Clone, PartialEq)]
pub enum EventFacts {
    /// An Alertmanager alert: firing or resolved, and when it started.
    Alert {
        firing: bool,
        starts_at: Option<DateTime<Utc>>,
    },
    /// A status change.
    Status {
        to: String,
    },
    /// A note someone wrote.
    Note,
    Other,
}

/// One timeline event.
#[derive(Debug, Clone)]
pub struct DraftEvent {
    pub at: DateTime<Utc>,
    pub who: String,
    pub kind: String,
    /// The event in one line, as the incident page shows it.
    pub text: String,
    pub facts: EventFacts,
}

/// A table of an observation, cut to the rows that mattered.
#[derive(Debug, Clone)]
pub struct DraftTable {
    pub caption: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows left out (all zero, or past the first few).
    pub left_out: usize,
}

/// One observation of a piece of evidence, summarised.
#[derive(Debug, Clone)]
pub struct DraftObservation {
    pub title: String,
    /// What it told the diagnosis ("for …", "against …"); empty if unread.
    pub uses: Vec<String>,
    pub facts: Vec<(String, String)>,
    pub tables: Vec<DraftTable>,
    /// Chart keys (see `ChartKey`), one per chart drawn from it.
    pub charts: Vec<String>,
}

/// A stored report or a paste the incident holds.
#[derive(Debug, Clone)]
pub struct DraftEvidence {
    /// "Report from node-5", "Pasted ss -tan".
    pub source: String,
    pub at: DateTime<Utc>,
    pub who: String,
    /// Where the whole evidence can be read.
    pub link: Option<String>,
    pub observations: Vec<DraftObservation>,
}

/// How sure the incident is of its diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// An engineer marked it right.
    Confirmed,
    /// The responders picked it for the checklist.
    Chosen,
    /// The matcher's top likely candidate; nobody said more.
    TopCandidate,
}

/// The diagnosis and the playbook text behind it.
#[derive(Debug, Clone)]
pub struct DraftDiagnosis {
    pub playbook: String,
    pub title: String,
    pub basis: Basis,
    /// The matcher's score on the incident's evidence (absent when the
    /// playbook was picked without matching).
    pub score: Option<f64>,
    /// The fingerprint clauses that held, in words, with the values seen.
    pub held: Vec<String>,
    pub root_cause: String,
    pub fix: String,
    pub prevention: String,
}

/// A ticked checklist step.
#[derive(Debug, Clone)]
pub struct DraftStep {
    pub number: usize,
    /// The step's Markdown, commands filled from the incident's labels.
    pub markdown: String,
    pub done_by: String,
    pub done_at: DateTime<Utc>,
}

/// Everything the draft is written from.
#[derive(Debug, Clone)]
pub struct DraftInput {
    /// The postmortem's id.
    pub id: i64,
    pub incident: DraftIncident,
    /// The timeline, oldest first.
    pub events: Vec<DraftEvent>,
    /// Oldest first.
    pub evidence: Vec<DraftEvidence>,
    /// Stored report ids among the evidence.
    pub reports: Vec<String>,
    pub diagnosis: Option<DraftDiagnosis>,
    /// Oldest tick first.
    pub steps: Vec<DraftStep>,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "1 h 42 min", "12 min", "40 s".
fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let s = (to - from).num_seconds().max(0);
    match (s / 3600, (s % 3600) / 60) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// One line of text: notes may hold line breaks, a list item may not.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text from the incident (alert labels and summaries, titles, collector
/// names, notes, evidence values), made inert for the draft's Markdown: one
/// line, with every character Markdown could act on escaped, so a code
/// fence, a `## Heading`, a link or HTML in an alert shows as written and
/// the draft always parses.
fn inline(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '!' | '|' | '~' | '&' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    // What only counts at the start of a line: a list marker (`-`, `+`,
    // `1.`, `1)`) or a setext underline (`=`).
    if out.starts_with(['-', '+', '=']) {
        out.insert(0, '\\');
    } else {
        let digits = out.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && out[digits..].starts_with(['.', ')']) {
            out.insert(digits, '\\');
        }
    }
    out
}

/// A code span holding `text` as written: the fence is one backtick longer
/// than the longest run inside.
fn code_span(text: &str) -> String {
    let text = one_line(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A chart's caption: it sits inside `![…]` on a line of its own.
fn caption(text: &str) -> String {
    one_line(text).replace(['[', ']'], "")
}

/// The impact window and what it was read from: from the first alert's
/// start (or the incident's opening, if earlier or without alerts) to the
/// resolution, or else to the last alert when it resolved.
pub fn impact_window(
    incident: &DraftIncident,
    events: &[DraftEvent],
) -> (DateTime<Utc>, Option<DateTime<Utc>>, &'static str) {
    let alerts: Vec<(&DraftEvent, bool, Option<DateTime<Utc>>)> = events
        .iter()
        .filter_map(|e| match e.facts {
            EventFacts::Alert { firing, starts_at } => Some((e, firing, starts_at)),
            _ => None,
        })
        .collect();
    let first_alert = alerts
        .iter()
        .filter(|(_, firing, _)| *firing)
        .map(|(e, _, starts)| starts.unwrap_or(e.at))
        .min();
    let start = first_alert.map_or(incident.opened_at, |a| a.min(incident.opened_at));
    let last_resolved = alerts
        .last()
        .filter(|(_, firing, _)| !*firing)
        .map(|(e, _, _)| e.at);
    let (end, source) = match (incident.resolved_at, last_resolved, first_alert) {
        (Some(end), _, Some(_)) => (Some(end), "the first alert to the incident's resolution"),
        (Some(end), _, None) => (Some(end), "the incident's opening to its resolution"),
        (None, Some(end), _) => (Some(end), "the first alert to the last resolved alert"),
        (None, None, Some(_)) => (None, "the first alert; the incident is not resolved"),
        (None, None, None) => (None, "the incident's opening; it is not resolved"),
    };
    (start, end.map(|e| e.max(start)), source)
}

/// Writes the draft.
pub fn draft(input: &DraftInput) -> Result<Postmortem, PostmortemError> {
    let (start, end, _) = impact_window(&input.incident, &input.events);
    let dx = input.diagnosis.as_ref();
    let meta = PostmortemMeta {
        id: input.id,
        incident: input.incident.id,
        title: input.incident.title.clone(),
        playbook: dx
            .filter(|d| d.basis == Basis::Confirmed)
            .map(|d| d.playbook.clone()),
        impact_start: format_time(start),
        impact_end: end.map(format_time),
        reports: input.reports.clone(),
    };
    let sections = [
        (PmSection::Summary, summary(input)),
        (PmSection::Impact, impact(input)),
        (PmSection::Symptoms, symptoms(input)),
        (PmSection::Timeline, timeline(&input.events)),
        (PmSection::Evidence, evidence(&input.evidence)),
        (PmSection::Investigation, investigation(input)),
        (PmSection::RootCause, root_cause(dx)),
        (
            PmSection::Fix,
            dx.map(|d| d.fix.clone()).unwrap_or_default(),
        ),
        (
            PmSection::Prevention,
            dx.map(|d| d.prevention.clone()).unwrap_or_default(),
        ),
        (PmSection::ActionItems, action_items(dx)),
    ];
    Postmortem::compose(&meta, &sections)
}

fn playbook_link(d: &DraftDiagnosis) -> String {
    format!("[{}](/playbooks/{})", inline(&d.title), d.playbook)
}

fn summary(input: &DraftInput) -> String {
    let i = &input.incident;
    let mut s = format!(
        "{}: a {} incident opened {} by {}, {} when this draft was written.",
        inline(&i.title),
        inline(&i.severity),
        when(i.opened_at),
        inline(&i.opened_by),
        inline(&i.status)
    );
    if !i.labels.is_empty() {
        let labels: Vec<String> = i
            .labels
            .iter()
            .map(|(k, v)| code_span(&format!("{k}={v}")))
            .collect();
        let _ = write!(s, " Labels: {}.", labels.join(", "));
    }
    match &input.diagnosis {
        Some(d) => {
            let how = match d.basis {
                Basis::Confirmed => "confirmed by the responders",
                Basis::Chosen => "chosen by the responders, not yet confirmed",
                Basis::TopCandidate => "the matcher's top candidate, not confirmed",
            };
            let _ = write!(s, "\n\nCause: {} ({how}).", playbook_link(d));
        }
        None => s.push_str("\n\nNo cause was identified from the evidence."),
    }
    s
}

fn impact(input: &DraftInput) -> String {
    let (start, end, source) = impact_window(&input.incident, &input.events);
    let mut s = match end {
        Some(end) => format!(
            "- Window: {} → {} ({}), from {source}.\n",
            when(start),
            when(end),
            duration(start, end)
        ),
        None => format!(
            "- Window: from {} and still open, read from {source}.\n",
            when(start)
        ),
    };
    for e in &input.events {
        if let EventFacts::Status { to } = &e.facts {
            let _ = writeln!(
                s,
                "- {}: marked {} by {}.",
                when(e.at),
                inline(to),
                inline(&e.who)
            );
        }
    }
    s
}

fn symptoms(input: &DraftInput) -> String {
    let mut s = String::new();
    for e in &input.events {
        if matches!(e.facts, EventFacts::Alert { firing: true, .. }) {
            let _ = writeln!(s, "- {}", inline(&e.text));
        }
    }
    if let Some(d) = &input.diagnosis {
        for h in &d.held {
            let _ = writeln!(s, "- {}", one_line(h));
        }
    }
    s
}

fn timeline(events: &[DraftEvent]) -> String {
    let mut s = String::new();
    for e in events {
        let _ = writeln!(
            s,
            "- `{}` {} ({}): {}",
            when(e.at),
            inline(&e.who),
            inline(&e.kind),
            inline(&e.text)
        );
    }
    s
}

fn evidence(items: &[DraftEvidence]) -> String {
    let mut s = String::new();
    for item in items {
        let _ = writeln!(
            s,
            "### {}, {} by {}\n",
            inline(&item.source),
            when(item.at),
            inline(&item.who)
        );
        if let Some(link) = &item.link {
            let _ = writeln!(s, "[The whole evidence]({link})\n");
        }
        for o in &item.observations {
            if o.uses.is_empty() {
                let _ = writeln!(s, "**{}**\n", inline(&o.title));
            } else {
                let uses: Vec<String> = o.uses.iter().map(|u| inline(u)).collect();
                let _ = writeln!(
                    s,
                    "**{}** (the diagnosis read it: {})\n",
                    inline(&o.title),
                    uses.join("; ")
                );
            }
            for (k, v) in &o.facts {
                let _ = writeln!(s, "- {}: {}", inline(k), inline(v));
            }
            if !o.facts.is_empty() {
                s.push('\n');
            }
            for t in &o.tables {
                s.push_str(&table(t));
            }
            for key in &o.charts {
                let _ = writeln!(s, "![{}]({})\n", caption(&o.title), chart_path(key));
            }
        }
    }
    s
}

/// A Markdown table of the rows kept, with a line for the rest.
fn table(t: &DraftTable) -> String {
    let cell = |c: &str| {
        let c = inline(c);
        if c.is_empty() { "—".to_owned() } else { c }
    };
    let mut s = format!("{}:\n\n", inline(&t.caption));
    let headers: Vec<String> = t.headers.iter().map(|h| cell(h)).collect();
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    let _ = writeln!(s, "|{}", " --- |".repeat(headers.len()));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    if t.left_out > 0 {
        let rows = if t.left_out == 1 { "row" } else { "rows" };
        let _ = writeln!(s, "\n(and {} more {rows}, zero or smaller)", t.left_out);
    }
    s.push('\n');
    s
}

/// A numbered list item: the marker, then the text indented under it.
fn numbered(n: usize, markdown: &str) -> String {
    let marker = format!("{n}. ");
    let pad = " ".repeat(marker.len());
    let mut out = String::new();
    for (i, line) in markdown.lines().enumerate() {
        if i == 0 {
            out.push_str(&marker);
        } else if !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn investigation(input: &DraftInput) -> String {
    let mut s = String::new();
    for (n, step) in input.steps.iter().enumerate() {
        let item = format!(
            "{}\n\nDone by {} at {} (checklist step {}).",
            step.markdown.trim(),
            inline(&step.done_by),
            when(step.done_at),
            step.number
        );
        s.push_str(&numbered(n + 1, &item));
        s.push('\n');
    }
    let notes: Vec<&DraftEvent> = input
        .events
        .iter()
        .filter(|e| e.facts == EventFacts::Note)
        .collect();
    if !notes.is_empty() {
        s.push_str("Notes taken during the incident:\n\n");
        for e in notes {
            let _ = writeln!(
                s,
                "- {}, {}: {}",
                inline(&e.who),
                when(e.at),
                inline(&e.text)
            );
        }
    }
    s
}

/// Most action items the draft proposes.
const ACTION_ITEMS: usize = 6;

/// One action item per top-level point of the playbook's prevention, its
/// first sentence, nobody's yet and not dated: the responders assign them.
fn action_items(dx: Option<&DraftDiagnosis>) -> String {
    let Some(d) = dx else {
        return String::new();
    };
    let mut s = String::new();
    let points: Vec<&str> = d
        .prevention
        .lines()
        .filter_map(|line| {
            line.strip_prefix("- ")
                .or_else(|| line.strip_prefix("* "))
                .or_else(|| {
                    let digits = line.chars().take_while(char::is_ascii_digit).count();
                    (digits > 0)
                        .then(|| line[digits..].strip_prefix(". "))
                        .flatten()
                })
        })
        .collect();
    // Prose without points: its first sentence is the one item.
    let points = if points.is_empty() {
        vec![d.prevention.trim()]
    } else {
        points
    };
    for point in points {
        let point = one_line(point).replace(" — ", ", ").replace(" -- ", ", ");
        let first = match point.find(". ") {
            Some(end) => &point[..=end],
            None => point.as_str(),
        };
        let first = first.trim();
        if first.is_empty() {
            continue;
        }
        let _ = writeln!(s, "- [ ] {first}");
        if s.lines().count() == ACTION_ITEMS {
            break;
        }
    }
    s
}

fn root_cause(dx: Option<&DraftDiagnosis>) -> String {
    let Some(d) = dx else {
        return String::new();
    };
    let score = d
        .score
        .map(|s| format!(" (score {s:.1})"))
        .unwrap_or_default();
    let lead = match d.basis {
        Basis::Confirmed => format!("Confirmed: {}{score}.", playbook_link(d)),
        Basis::Chosen => format!(
            "The responders worked from {}{score}; nobody has confirmed it yet.",
            playbook_link(d)
        ),
        Basis::TopCandidate => format!(
            "The most likely cause on the evidence was {}{score}; it was not confirmed.",
            playbook_link(d)
        ),
    };
    format!("{lead}\n\n{}", d.root_cause.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_text_is_inert_markdown() {
        let hostile =
            "```\n## Root cause\n> quote [link](https://evil.example) <b>x</b> `code` *em* | a |";
        let escaped = inline(hostile);
        assert!(!escaped.contains('\n'));
        let html = crate::core::markdown::to_safe_html(&format!("- {escaped}\n"));
        assert!(
            !html.contains("<h2") && !html.contains("<pre") && !html.contains("<a "),
            "{html}"
        );
        assert!(
            !html.contains("<blockquote") && !html.contains("<em>") && !html.contains("<code>")
        );
        assert!(html.contains("## Root cause"), "{html}");
        for start in ["- x", "+ x", "1. x", "22) x", "= x", "# x"] {
            let html = crate::core::markdown::to_safe_html(&inline(start));
            assert_eq!(html, format!("<p>{start}</p>\n"), "{start}");
        }
        let span = code_span("a``b`");
        let html = crate::core::markdown::to_safe_html(&span);
        assert_eq!(html, "<p><code>a``b`</code></p>\n", "{span}");
    }
}
