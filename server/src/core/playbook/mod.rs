//! The playbook format: Markdown with TOML front matter between `+++` fences.
//!
//! A playbook keeps the exact text it was parsed from, so writing it back is
//! byte-exact; everything else is derived from that text.

mod body;
mod error;

use serde::{Deserialize, Serialize};

use super::clause::Expression;

pub use body::{Section, SectionKind, Step, steps};
pub(crate) use body::{SectionSet, split_headed};
pub use error::PlaybookError;

const FENCE: &str = "+++";
const MAX_ID_LEN: usize = 64;

/// The network layer a playbook belongs to; used for facets and study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Application,
    Transport,
    Network,
    Dns,
    Tls,
    Kubernetes,
    Infrastructure,
}

impl Layer {
    pub const ALL: [Layer; 7] = [
        Layer::Application,
        Layer::Transport,
        Layer::Network,
        Layer::Dns,
        Layer::Tls,
        Layer::Kubernetes,
        Layer::Infrastructure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Application => "application",
            Layer::Transport => "transport",
            Layer::Network => "network",
            Layer::Dns => "dns",
            Layer::Tls => "tls",
            Layer::Kubernetes => "kubernetes",
            Layer::Infrastructure => "infrastructure",
        }
    }

    pub fn parse(s: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// One part of a playbook's symptom fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// An expression over derived signals.
    pub when: String,
    pub weight: f64,
    /// Why this clause points at this playbook, in one line.
    pub says: String,
}

/// Evidence that must match the playbook (its self-test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub report: String,
}

/// The TOML front matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub id: String,
    pub title: String,
    pub alert: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub layer: Layer,
    #[serde(default, rename = "clause", skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<Clause>,
    #[serde(default, rename = "example", skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
}

/// A parsed, validated playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub meta: FrontMatter,
    pub sections: Vec<Section>,
    source: String,
}

impl Playbook {
    /// Parses and validates a playbook file. `origin` names the file in errors.
    pub fn parse(origin: &str, source: &str) -> Result<Playbook, PlaybookError> {
        let (toml_text, toml_line, body, body_line) =
            split_front_matter(origin, source, "playbook")?;
        check_bounds(origin, body, body_line)?;
        let meta: FrontMatter =
            toml::from_str(toml_text).map_err(|e| toml_error(origin, toml_text, toml_line, &e))?;
        validate_meta(origin, &meta, toml_text, toml_line)?;
        let sections = body::split_sections(origin, body, body_line)?;
        Ok(Playbook {
            meta,
            sections,
            source: source.to_owned(),
        })
    }

    /// Builds a playbook from its parts, in the canonical layout.
    pub fn compose(
        meta: &FrontMatter,
        sections: &[(SectionKind, String)],
    ) -> Result<Playbook, PlaybookError> {
        let toml_text = toml::to_string(meta).map_err(|e| {
            PlaybookError::new(&meta.id, 1, format!("cannot write front matter: {e}"))
        })?;
        let mut text = format!("{FENCE}\n{}{FENCE}\n", toml_text);
        for (kind, markdown) in sections {
            let markdown = markdown.trim_matches('\n');
            text.push_str(&format!("\n## {}\n\n{}\n", kind.heading(), markdown));
        }
        Playbook::parse(&format!("{}.md", meta.id), &text)
    }

    /// The exact text this playbook was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn section(&self, kind: SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }

    /// The Markdown of a section, or "" when the playbook lacks it.
    pub fn section_markdown(&self, kind: SectionKind) -> &str {
        self.section(kind).map_or("", |s| s.markdown.as_str())
    }

    /// The numbered investigation steps.
    pub fn steps(&self) -> Vec<Step> {
        steps(self.section_markdown(SectionKind::Investigation))
    }

    /// Sections a complete playbook has but this one lacks.
    pub fn missing_sections(&self) -> Vec<SectionKind> {
        SectionKind::ALL
            .into_iter()
            .filter(|k| self.section(*k).is_none())
            .collect()
    }
}

/// Returns (front matter, its first line, body, body's first line). `what`
/// names the kind of document in the error ("playbook", "postmortem").
/// Refuses a body too large or nested too deep to render in reasonable
/// time (see `core::markdown`), at the line where it goes too deep.
pub(crate) fn check_bounds(
    origin: &str,
    body: &str,
    body_line: usize,
) -> Result<(), PlaybookError> {
    use crate::core::markdown::{MAX_DOCUMENT_BYTES, check_nesting};
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(PlaybookError::new(
            origin,
            body_line,
            format!(
                "the text is {} KiB; at most {} KiB is accepted",
                body.len().div_ceil(1024),
                MAX_DOCUMENT_BYTES / 1024
            ),
        ));
    }
    check_nesting(body)
        .map_err(|deep| PlaybookError::new(origin, body_line + deep.line - 1, deep.to_string()))
}

pub(crate) fn split_front_matter<'a>(
    origin: &str,
    source: &'a str,
    what: &str,
) -> Result<(&'a str, usize, &'a str, usize), PlaybookError> {
    let first = source.lines().next().unwrap_or_default();
    if first.trim_end() != FENCE {
        return Err(PlaybookError::new(
            origin,
            1,
            format!("a {what} starts with a `+++` line that opens its TOML front matter"),
        ));
    }
    let after_open = first.len() + newline_len(&source[first.len()..]);
    let rest = &source[after_open..];
    let mut offset = 0;
    for (n, line) in rest.split_inclusive('\n').enumerate() {
        if line.trim_end() == FENCE {
            let toml_text = &rest[..offset];
            let body_start = after_open + offset + line.len();
            return Ok((toml_text, 2, &source[body_start..], n + 3));
        }
        offset += line.len();
    }
    Err(PlaybookError::new(
        origin,
        1,
        "the front matter opened here is never closed with a `+++` line",
    ))
}

/// A front matter TOML error at its line in the file.
pub(crate) fn toml_error(
    origin: &str,
    toml_text: &str,
    toml_line: usize,
    e: &toml::de::Error,
) -> PlaybookError {
    let line = e
        .span()
        .map_or(0, |s| toml_text[..s.start].matches('\n').count());
    PlaybookError::new(origin, toml_line + line, e.message().trim().to_owned())
}

fn newline_len(s: &str) -> usize {
    if s.starts_with("\r\n") {
        2
    } else if s.starts_with('\n') {
        1
    } else {
        0
    }
}

fn validate_meta(
    origin: &str,
    meta: &FrontMatter,
    toml_text: &str,
    toml_line: usize,
) -> Result<(), PlaybookError> {
    let line_of = |key: &str| {
        toml_text
            .lines()
            .position(|l| l.trim_start().starts_with(key))
            .map_or(toml_line, |n| toml_line + n)
    };
    if let Err(why) = check_id(&meta.id) {
        return Err(PlaybookError::new(
            origin,
            line_of("id"),
            format!("id: {why}"),
        ));
    }
    for (key, value) in [("title", &meta.title), ("alert", &meta.alert)] {
        if value.trim().is_empty() {
            return Err(PlaybookError::new(
                origin,
                line_of(key),
                format!("{key}: must not be empty"),
            ));
        }
    }
    for tag in &meta.tags {
        if tag.is_empty()
            || tag
                .chars()
                .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(PlaybookError::new(
                origin,
                line_of("tags"),
                format!("tags: `{tag}` must be lowercase letters, digits and hyphens"),
            ));
        }
    }
    let mut clause_lines = toml_text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[clause]]")
        .map(|(n, _)| toml_line + n);
    for (n, clause) in meta.clauses.iter().enumerate() {
        let line = clause_lines.next().unwrap_or(toml_line);
        if clause.when.trim().is_empty() {
            return Err(PlaybookError::new(
                origin,
                line,
                "clause: `when` must not be empty",
            ));
        }
        if !clause.weight.is_finite() || clause.weight <= 0.0 || clause.weight > 10.0 {
            return Err(PlaybookError::new(
                origin,
                line,
                "clause: `weight` must be greater than 0 and at most 10",
            ));
        }
        if let Err(e) = Expression::compile(&clause.when) {
            let when_line =
                key_line_after(toml_text, line - toml_line, "when").map_or(line, |l| toml_line + l);
            return Err(PlaybookError::new(
                origin,
                when_line,
                format!("clause {}: {e}", n + 1),
            ));
        }
    }
    Ok(())
}

/// The index of the first line at or after `from` that sets `key`.
fn key_line_after(toml_text: &str, from: usize, key: &str) -> Option<usize> {
    toml_text
        .lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(n, _)| n)
}

/// Ids appear in URLs and file names: lowercase letters, digits, hyphens.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!("must be at most {MAX_ID_LEN} characters"));
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) || id.ends_with('-')
    {
        return Err("must start with a letter or digit and not end with a hyphen".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "`{c}` is not allowed; use lowercase letters, digits and hyphens"
        ));
    }
    Ok(())
}

/// A URL-safe id made from a title: "The Mystery 502s" -> "the-mystery-502s".
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug = slug.trim_end_matches('-').to_owned();
    slug.truncate(MAX_ID_LEN);
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "+++\nid = \"close-wait-leak\"\ntitle = \"Leak\"\nalert = \"Too many open files\"\ntags = [\"tcp\", \"fd\"]\nlayer = \"application\"\n\n[[clause]]\nwhen = \"tcp.close_wait_share > 0.5\"\nweight = 3\nsays = \"most sockets wait for our close\"\n+++\n## Symptoms\n\n- fds grow\n\n## Investigation\n\n1. **Count.**\n\n   ```sh\n   ss -tan\n   ```\n\n## Root cause\n\nbody not closed\n\n## Fix\n\nclose it\n\n## Prevention\n\nlint\n";

    #[test]
    fn parses_front_matter_and_sections_and_keeps_source() {
        let p = Playbook::parse("x.md", GOOD).unwrap();
        assert_eq!(p.id(), "close-wait-leak");
        assert_eq!(p.meta.layer, Layer::Application);
        assert_eq!(p.meta.clauses.len(), 1);
        assert_eq!(p.sections.len(), 5);
        assert_eq!(p.section(SectionKind::Symptoms).unwrap().line, 13);
        assert!(p.missing_sections().is_empty());
        assert_eq!(p.source(), GOOD);
        assert_eq!(p.steps()[0].commands, ["ss -tan"]);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = GOOD.replace("layer = \"application\"", "layer = \"physics\"");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.to_string().starts_with("x.md:6: "), "{e}");

        let bad = GOOD.replace(
            "tags = [\"tcp\", \"fd\"]",
            "tags = [\"tcp\", \"fd\"]\ncolour = \"red\"",
        );
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("colour"), "{e}");

        let bad = GOOD.replace("weight = 3", "weight = -1");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert_eq!(e.line, 8, "{e}");

        let bad = GOOD.replace("close-wait-leak", "Close Wait");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let e = Playbook::parse("x.md", "no front matter").unwrap_err();
        assert_eq!(e.line, 1);
        let e = Playbook::parse("x.md", "+++\nid = \"a\"\n").unwrap_err();
        assert!(e.message.contains("never closed"), "{e}");

        let bad = GOOD.replace("tcp.close_wait_share > 0.5", "tcp.close_wait_share >> 0.5");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert_eq!(e.line, 9, "{e}");
        assert!(e.to_string().starts_with("x.md:9: clause 1: "), "{e}");
        assert!(e.message.contains("at column 23"), "{e}");

        let bad = GOOD.replace("tcp.close_wait_share", "tcp.closewait_share");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert_eq!(e.line, 9, "{e}");
        assert!(
            e.message.contains("unknown signal `tcp.closewait_share`"),
            "{e}"
        );
        assert!(e.message.ends_with("at column 1"), "{e}");

        let bad = GOOD.replace("## Fix", "## Fixes");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert!(e.message.contains("unknown section"), "{e}");
    }

    #[test]
    fn missing_required_key_is_reported() {
        let bad = GOOD.replace("alert = \"Too many open files\"\n", "");
        let e = Playbook::parse("x.md", &bad).unwrap_err();
        assert!(e.message.contains("alert"), "{e}");
    }

    #[test]
    fn compose_round_trips_through_parse() {
        let p = Playbook::parse("x.md", GOOD).unwrap();
        let parts: Vec<_> = p
            .sections
            .iter()
            .map(|s| (s.kind, s.markdown.clone()))
            .collect();
        let again = Playbook::compose(&p.meta, &parts).unwrap();
        assert_eq!(again.meta, p.meta);
        let reparsed = Playbook::parse("y.md", again.source()).unwrap();
        assert_eq!(reparsed.source(), again.source());
        let texts: Vec<_> = reparsed
            .sections
            .iter()
            .map(|s| s.markdown.clone())
            .collect();
        let orig: Vec<_> = p.sections.iter().map(|s| s.markdown.clone()).collect();
        assert_eq!(texts, orig);
    }

    #[test]
    fn crlf_files_parse() {
        let p = Playbook::parse("x.md", &GOOD.replace('\n', "\r\n")).unwrap();
        assert_eq!(p.sections.len(), 5);
    }

    #[test]
    fn slugs_and_ids() {
        assert_eq!(slugify("The Mystery 502s"), "the-mystery-502s");
        assert_eq!(
            slugify("  Pod Can't Reach External API "),
            "pod-can-t-reach-external-api"
        );
        assert!(check_id("the-mystery-502s").is_ok());
        assert!(check_id("-x").is_err());
        assert!(check_id("a_b").is_err());
        assert!(check_id("").is_err());
    }
}
