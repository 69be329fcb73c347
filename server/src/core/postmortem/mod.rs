//! The postmortem format: Markdown with TOML front matter between `+++`
//! fences, like a playbook, with its own front matter and sections (README,
//! "Postmortems"). A postmortem keeps the exact text it was
//! parsed from, so writing it back is byte-exact.
//!
//! Charts are referenced from the Markdown as images on a line of their own,
//! `![caption](charts/KEY.svg)`; the key names the observation they are
//! drawn from ([`ChartKey`]). Pages draw them inline, exports write them
//! as files or data URIs.

mod draft;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::markdown::to_safe_html;
use super::playbook::{
    PlaybookError, SectionSet, check_bounds, check_id, split_front_matter, split_headed, toml_error,
};

pub use draft::{
    Basis, DraftDiagnosis, DraftEvent, DraftEvidence, DraftIncident, DraftInput, DraftObservation,
    DraftStep, DraftTable, EventFacts, draft, impact_window,
};

/// Errors are located like playbook errors: `origin:line: message`.
pub type PostmortemError = PlaybookError;

const FENCE: &str = "+++";

/// The sections of a postmortem, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PmSection {
    Summary,
    Impact,
    Symptoms,
    Timeline,
    Evidence,
    Investigation,
    RootCause,
    Fix,
    Prevention,
    /// Optional (postmortems written before it existed have none): what is
    /// to be done, by whom, by when, and whether it is.
    ActionItems,
}

impl PmSection {
    /// Every section a postmortem must have, in order.
    pub const REQUIRED: [PmSection; 9] = [
        PmSection::Summary,
        PmSection::Impact,
        PmSection::Symptoms,
        PmSection::Timeline,
        PmSection::Evidence,
        PmSection::Investigation,
        PmSection::RootCause,
        PmSection::Fix,
        PmSection::Prevention,
    ];

    /// Every section a postmortem may have, in order.
    pub const ALL: [PmSection; 10] = [
        PmSection::Summary,
        PmSection::Impact,
        PmSection::Symptoms,
        PmSection::Timeline,
        PmSection::Evidence,
        PmSection::Investigation,
        PmSection::RootCause,
        PmSection::Fix,
        PmSection::Prevention,
        PmSection::ActionItems,
    ];

    pub fn heading(self) -> &'static str {
        match self {
            PmSection::Summary => "Summary",
            PmSection::Impact => "Impact",
            PmSection::Symptoms => "Symptoms",
            PmSection::Timeline => "Timeline",
            PmSection::Evidence => "Evidence",
            PmSection::Investigation => "Investigation",
            PmSection::RootCause => "Root cause",
            PmSection::Fix => "Fix",
            PmSection::Prevention => "Prevention",
            PmSection::ActionItems => "Action items",
        }
    }

    /// A URL fragment for the section.
    pub fn key(self) -> &'static str {
        match self {
            PmSection::Summary => "summary",
            PmSection::Impact => "impact",
            PmSection::Symptoms => "symptoms",
            PmSection::Timeline => "timeline",
            PmSection::Evidence => "evidence",
            PmSection::Investigation => "investigation",
            PmSection::RootCause => "root-cause",
            PmSection::Fix => "fix",
            PmSection::Prevention => "prevention",
            PmSection::ActionItems => "action-items",
        }
    }
}

impl SectionSet for PmSection {
    const ALL: &'static [PmSection] = &PmSection::ALL;
    fn heading(self) -> &'static str {
        PmSection::heading(self)
    }
}

/// The TOML front matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmortemMeta {
    /// The postmortem's id (its URL is `/postmortems/{id}`).
    pub id: i64,
    /// The incident it was drafted from.
    pub incident: i64,
    pub title: String,
    /// The confirmed diagnosis, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    /// RFC 3339, UTC.
    pub impact_start: String,
    /// Absent while the impact lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_end: Option<String>,
    /// Stored report ids that were the incident's evidence.
    #[serde(default)]
    pub reports: Vec<String>,
}

/// One `## ` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PmSectionText {
    pub kind: PmSection,
    pub markdown: String,
    /// 1-based line of the heading in the whole file.
    pub line: usize,
}

/// A parsed, validated postmortem.
#[derive(Debug, Clone, PartialEq)]
pub struct Postmortem {
    pub meta: PostmortemMeta,
    pub sections: Vec<PmSectionText>,
    source: String,
}

impl Postmortem {
    /// Parses and validates a postmortem file. `origin` names it in errors.
    pub fn parse(origin: &str, source: &str) -> Result<Postmortem, PostmortemError> {
        let (toml_text, toml_line, body, body_line) =
            split_front_matter(origin, source, "postmortem")?;
        check_bounds(origin, body, body_line)?;
        let meta: PostmortemMeta =
            toml::from_str(toml_text).map_err(|e| toml_error(origin, toml_text, toml_line, &e))?;
        validate_meta(origin, &meta, toml_text, toml_line)?;
        let found = split_headed::<PmSection>(origin, body, body_line)?;
        // Every section must be there: name the first missing one at the
        // line where it belongs.
        for (i, kind) in PmSection::REQUIRED.into_iter().enumerate() {
            if found.get(i).map(|(k, _, _)| *k) != Some(kind) {
                let line = found
                    .get(i)
                    .map_or_else(|| source.lines().count().max(1), |(_, _, line)| *line);
                return Err(PostmortemError::new(
                    origin,
                    line,
                    format!(
                        "section `## {}` is missing; a postmortem has {}",
                        kind.heading(),
                        PmSection::REQUIRED.map(PmSection::heading).join(", ")
                    ),
                ));
            }
        }
        if let Some((_, _, line)) = found.iter().find(|(k, _, _)| *k == PmSection::ActionItems) {
            action_items(origin, source, *line)?;
        }
        Ok(Postmortem {
            meta,
            sections: found
                .into_iter()
                .map(|(kind, markdown, line)| PmSectionText {
                    kind,
                    markdown,
                    line,
                })
                .collect(),
            source: source.to_owned(),
        })
    }

    /// Builds a postmortem from its parts, in the canonical layout.
    pub fn compose(
        meta: &PostmortemMeta,
        sections: &[(PmSection, String)],
    ) -> Result<Postmortem, PostmortemError> {
        let origin = format!("{}.md", meta.id);
        let toml_text = toml::to_string(meta).map_err(|e| {
            PostmortemError::new(&origin, 1, format!("cannot write front matter: {e}"))
        })?;
        let mut text = format!("{FENCE}\n{toml_text}{FENCE}\n");
        for (kind, markdown) in sections {
            let markdown = markdown.trim_matches('\n');
            text.push_str(&format!("\n## {}\n", kind.heading()));
            if !markdown.is_empty() {
                text.push_str(&format!("\n{markdown}\n"));
            }
        }
        Postmortem::parse(&origin, &text)
    }

    /// The action items, in order (none without the section).
    pub fn action_items(&self) -> Vec<ActionItem> {
        self.sections
            .iter()
            .find(|s| s.kind == PmSection::ActionItems)
            .and_then(|s| action_items("", &self.source, s.line).ok())
            .unwrap_or_default()
    }

    /// The exact text this postmortem was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The Markdown of a section ("" when empty).
    pub fn section_markdown(&self, kind: PmSection) -> &str {
        self.sections
            .iter()
            .find(|s| s.kind == kind)
            .map_or("", |s| s.markdown.as_str())
    }

    /// Sections with nothing in them yet: allowed in a draft, not in a
    /// finished postmortem.
    pub fn empty_sections(&self) -> Vec<PmSection> {
        self.sections
            .iter()
            .filter(|s| s.markdown.trim().is_empty())
            .map(|s| s.kind)
            .collect()
    }

    /// Every chart the text references, in order, without repeats.
    pub fn charts(&self) -> Vec<ChartRef> {
        let mut out: Vec<ChartRef> = Vec::new();
        for s in &self.sections {
            for block in blocks(&s.markdown) {
                if let Block::Chart(c) = block
                    && !out.iter().any(|o| o.key == c.key)
                {
                    out.push(c);
                }
            }
        }
        out
    }
}

// ---- Action items ------------------------------------------------------------------------

/// One action item, a task line of `## Action items`:
/// `- [ ] Alert on CLOSE_WAIT growth — owner: alice, due: 2026-12-20`
/// (`- [x]` when done; owner and due optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItem {
    pub text: String,
    pub owner: Option<String>,
    pub due: Option<chrono::NaiveDate>,
    pub done: bool,
    /// 1-based line in the file.
    pub line: usize,
}

impl ActionItem {
    /// The item as a task line.
    pub fn to_line(&self) -> String {
        let mut fields = Vec::new();
        if let Some(o) = &self.owner {
            fields.push(format!("owner: {o}"));
        }
        if let Some(d) = self.due {
            fields.push(format!("due: {}", d.format("%Y-%m-%d")));
        }
        let mark = if self.done { "x" } else { " " };
        if fields.is_empty() {
            format!("- [{mark}] {}", self.text)
        } else {
            format!("- [{mark}] {} — {}", self.text, fields.join(", "))
        }
    }
}

const ACTION_ITEM_FORM: &str =
    "`- [ ] what to do — owner: NAME, due: YYYY-MM-DD` (`- [x]` when done)";

/// The items of the `## Action items` section whose heading is at
/// `heading_line`: every non-blank line a task line, dates real dates.
fn action_items(
    origin: &str,
    source: &str,
    heading_line: usize,
) -> Result<Vec<ActionItem>, PostmortemError> {
    let mut items = Vec::new();
    let mut in_fence = false;
    for (i, raw) in source.lines().enumerate().skip(heading_line) {
        let line = i + 1;
        let text = raw.trim();
        if text.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && raw.starts_with("## ") {
            break;
        }
        if text.is_empty() {
            continue;
        }
        let fail = |why: String| Err(PostmortemError::new(origin, line, why));
        let (done, rest) = if let Some(r) = text.strip_prefix("- [ ] ") {
            (false, r)
        } else if let Some(r) = text
            .strip_prefix("- [x] ")
            .or_else(|| text.strip_prefix("- [X] "))
        {
            (true, r)
        } else {
            return fail(format!(
                "an action item is one task line: {ACTION_ITEM_FORM}"
            ));
        };
        let (what, fields) = match rest.rsplit_once(" — ").or_else(|| rest.rsplit_once(" -- ")) {
            Some((w, f)) if f.split(',').all(|p| p.contains(':')) => (w, f),
            _ => (rest, ""),
        };
        let mut item = ActionItem {
            text: what.trim().to_owned(),
            owner: None,
            due: None,
            done,
            line,
        };
        if item.text.is_empty() {
            return fail(format!(
                "the action item says nothing to do: {ACTION_ITEM_FORM}"
            ));
        }
        for field in fields.split(',').filter(|f| !f.trim().is_empty()) {
            let (key, value) = field.split_once(':').unwrap_or((field, ""));
            let value = value.trim();
            match key.trim() {
                "owner" if !value.is_empty() => item.owner = Some(value.to_owned()),
                "due" => match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                    Ok(d) => item.due = Some(d),
                    Err(_) => {
                        return fail(format!("due: `{value}` is not a date such as 2026-12-20"));
                    }
                },
                "owner" => return fail("owner: name someone, or leave the field out".into()),
                other => {
                    return fail(format!(
                        "unknown field `{other}` in an action item; use owner and due: {ACTION_ITEM_FORM}"
                    ));
                }
            }
        }
        items.push(item);
    }
    Ok(items)
}

/// The Markdown with its site-relative links (`](/playbooks/…)`) made
/// absolute under `base` (`https://faultline.example.com`), so they work
/// where the text is pasted; code (fenced blocks, code spans) is left as
/// written.
pub fn absolute_links(markdown: &str, base: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut out = String::with_capacity(markdown.len() + 256);
    let mut fence = false;
    for line in markdown.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            out.push_str(line);
            continue;
        }
        if fence {
            out.push_str(line);
            continue;
        }
        // Outside code spans (between backtick runs), rewrite `](/` but
        // not `](//` (another host).
        let mut in_code = false;
        let mut rest = line;
        while let Some(pos) = rest.find(['`', ']']) {
            let (head, tail) = rest.split_at(pos);
            out.push_str(head);
            if tail.starts_with('`') {
                let run = tail.len() - tail.trim_start_matches('`').len();
                in_code = !in_code;
                out.push_str(&tail[..run]);
                rest = &tail[run..];
            } else if !in_code && tail.starts_with("](/") && !tail.starts_with("](//") {
                out.push_str("](");
                out.push_str(base);
                rest = &tail[2..];
            } else {
                out.push(']');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
    }
    out
}

/// A time in the front matter: RFC 3339.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How times are written in the front matter.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn validate_meta(
    origin: &str,
    meta: &PostmortemMeta,
    toml_text: &str,
    toml_line: usize,
) -> Result<(), PostmortemError> {
    let line_of = |key: &str| {
        toml_text
            .lines()
            .position(|l| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with('='))
            })
            .map_or(toml_line, |n| toml_line + n)
    };
    let fail = |key: &str, message: String| {
        Err(PostmortemError::new(
            origin,
            line_of(key),
            format!("{key}: {message}"),
        ))
    };
    if meta.id < 1 {
        return fail("id", "must be a positive number".into());
    }
    if meta.incident < 1 {
        return fail("incident", "must be a positive incident number".into());
    }
    if meta.title.trim().is_empty() {
        return fail("title", "must not be empty".into());
    }
    if let Some(p) = &meta.playbook
        && let Err(why) = check_id(p)
    {
        return fail("playbook", why);
    }
    let Some(start) = parse_time(&meta.impact_start) else {
        return fail(
            "impact_start",
            format!(
                "`{}` is not an RFC 3339 time such as 2026-11-23T10:00:00Z",
                meta.impact_start
            ),
        );
    };
    if let Some(end_text) = &meta.impact_end {
        let Some(end) = parse_time(end_text) else {
            return fail(
                "impact_end",
                format!("`{end_text}` is not an RFC 3339 time such as 2026-11-23T10:42:00Z"),
            );
        };
        if end < start {
            return fail("impact_end", "is before impact_start".into());
        }
    }
    for r in &meta.reports {
        if uuid::Uuid::parse_str(r).is_err() {
            return fail(
                "reports",
                format!("`{r}` is not a stored report id (a UUID)"),
            );
        }
    }
    Ok(())
}

// ---- Charts --------------------------------------------------------------------------

/// Where a chart comes from: the observation of a stored report or of a
/// paste (a timeline event), and which of its charts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartSource {
    Report(uuid::Uuid),
    Paste(i64),
}

/// A chart's name in the text: `report-<uuid>-<obs>-<chart>` or
/// `paste-<event>-<obs>-<chart>`, indices from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartKey {
    pub source: ChartSource,
    pub observation: usize,
    pub chart: usize,
}

impl ChartKey {
    pub fn parse(key: &str) -> Option<ChartKey> {
        let mut parts = key.rsplitn(3, '-');
        let chart = parts.next()?.parse().ok().filter(|n| *n >= 1)?;
        let observation = parts.next()?.parse().ok().filter(|n| *n >= 1)?;
        let source = parts.next()?;
        let source = if let Some(id) = source.strip_prefix("report-") {
            ChartSource::Report(uuid::Uuid::parse_str(id).ok()?)
        } else {
            ChartSource::Paste(source.strip_prefix("paste-")?.parse().ok()?)
        };
        Some(ChartKey {
            source,
            observation,
            chart,
        })
    }
}

impl std::fmt::Display for ChartKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            ChartSource::Report(id) => write!(f, "report-{}", id.hyphenated())?,
            ChartSource::Paste(event) => write!(f, "paste-{event}")?,
        }
        write!(f, "-{}-{}", self.observation, self.chart)
    }
}

/// A chart referenced from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRef {
    pub caption: String,
    /// The key as written (`charts/KEY.svg`).
    pub key: String,
}

/// The relative path a chart is referenced by (and exported to).
pub fn chart_path(key: &str) -> String {
    format!("charts/{key}.svg")
}

/// A piece of a section: Markdown, or a chart on a line of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Markdown(String),
    Chart(ChartRef),
}

/// `![caption](charts/KEY.svg)` alone on a line: the chart it names.
fn chart_line(line: &str) -> Option<ChartRef> {
    let rest = line.trim().strip_prefix("![")?;
    let (caption, rest) = rest.split_once("](charts/")?;
    let key = rest.strip_suffix(".svg)")?;
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (valid && !caption.contains(']')).then(|| ChartRef {
        caption: caption.to_owned(),
        key: key.to_owned(),
    })
}

/// Follows fenced code blocks line by line: chart lines inside them are code.
#[derive(Default)]
struct Fences(Option<&'static str>);

impl Fences {
    /// Whether `line` is prose: outside any fence and not a fence line.
    fn prose(&mut self, line: &str) -> bool {
        let trimmed = line.trim_start();
        match self.0 {
            Some(f) if trimmed.starts_with(f) => self.0 = None,
            Some(_) => {}
            None if trimmed.starts_with("```") => self.0 = Some("```"),
            None if trimmed.starts_with("~~~") => self.0 = Some("~~~"),
            None => return true,
        }
        false
    }
}

/// Splits Markdown at its chart lines (outside fenced code).
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut fences = Fences::default();
    for line in markdown.split_inclusive('\n') {
        if fences.prose(line)
            && let Some(chart) = chart_line(line)
        {
            if !text.trim().is_empty() {
                out.push(Block::Markdown(std::mem::take(&mut text)));
            }
            text.clear();
            out.push(Block::Chart(chart));
            continue;
        }
        text.push_str(line);
    }
    if !text.trim().is_empty() {
        out.push(Block::Markdown(text));
    }
    out
}

/// A piece of a rendered section: safe HTML, or a chart still to draw.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Html(String),
    Chart(ChartRef),
}

/// A section's Markdown rendered (the slow part, the same for every view of
/// a version), its charts left for the caller to draw.
pub fn section_parts(markdown: &str) -> Vec<Rendered> {
    blocks(markdown)
        .into_iter()
        .map(|b| match b {
            Block::Markdown(m) => Rendered::Html(to_safe_html(&m)),
            Block::Chart(c) => Rendered::Chart(c),
        })
        .collect()
}

/// Rendered parts as HTML, each chart replaced by what `chart(key,
/// caption)` returns (trusted HTML, drawn by the caller).
pub fn assemble(parts: &[Rendered], chart: &dyn Fn(&str, &str) -> String) -> String {
    parts
        .iter()
        .map(|p| match p {
            Rendered::Html(h) => h.clone(),
            Rendered::Chart(c) => chart(&c.key, &c.caption),
        })
        .collect()
}

/// A section as safe HTML: the Markdown sanitised, each chart replaced by
/// what `chart(key, caption)` returns (trusted HTML, drawn by the caller).
pub fn section_html(markdown: &str, chart: &dyn Fn(&str, &str) -> String) -> String {
    assemble(&section_parts(markdown), chart)
}

/// The text with every chart reference's target replaced by `url(key)`
/// (references `url` gives `None` for stay as they are).
pub fn with_chart_urls(source: &str, url: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(source.len());
    let mut fences = Fences::default();
    for line in source.split_inclusive('\n') {
        let chart = if fences.prose(line) {
            chart_line(line)
        } else {
            None
        };
        let replaced = chart.and_then(|c| {
            let target = url(&c.key)?;
            let ending = &line[line.trim_end().len()..];
            Some(format!("![{}]({target}){ending}", c.caption))
        });
        out.push_str(replaced.as_deref().unwrap_or(line));
    }
    out
}

#[cfg(test)]
mod tests;
