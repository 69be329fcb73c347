//! The Markdown body of a playbook: its `## ` sections and the numbered
//! investigation steps inside one of them.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use serde::Serialize;

use super::PlaybookError;
use crate::core::markdown::to_plain_text;

/// The sections a playbook body may have, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Symptoms,
    Investigation,
    RootCause,
    Fix,
    Prevention,
}

impl SectionKind {
    pub const ALL: [SectionKind; 5] = [
        SectionKind::Symptoms,
        SectionKind::Investigation,
        SectionKind::RootCause,
        SectionKind::Fix,
        SectionKind::Prevention,
    ];

    /// The heading text as written in the file.
    pub fn heading(self) -> &'static str {
        match self {
            SectionKind::Symptoms => "Symptoms",
            SectionKind::Investigation => "Investigation",
            SectionKind::RootCause => "Root cause",
            SectionKind::Fix => "Fix",
            SectionKind::Prevention => "Prevention",
        }
    }

    /// A URL fragment and JSON key for the section.
    pub fn key(self) -> &'static str {
        match self {
            SectionKind::Symptoms => "symptoms",
            SectionKind::Investigation => "investigation",
            SectionKind::RootCause => "root_cause",
            SectionKind::Fix => "fix",
            SectionKind::Prevention => "prevention",
        }
    }

    pub fn from_heading(text: &str) -> Option<SectionKind> {
        from_heading(text)
    }
}

impl SectionSet for SectionKind {
    const ALL: &'static [SectionKind] = &SectionKind::ALL;
    fn heading(self) -> &'static str {
        SectionKind::heading(self)
    }
}

/// A document's `## ` sections, in the order they must appear: playbooks
/// have one set, postmortems another; both are split by [`split_headed`].
pub(crate) trait SectionSet: Copy + Ord + 'static {
    const ALL: &'static [Self];
    fn heading(self) -> &'static str;
}

/// The section a heading names (case-insensitive).
pub(crate) fn from_heading<K: SectionSet>(text: &str) -> Option<K> {
    let t = text.trim().to_ascii_lowercase();
    K::ALL
        .iter()
        .copied()
        .find(|k| k.heading().to_ascii_lowercase() == t)
}

/// The headings of `K`, each between `before` and `after`, comma separated.
fn listed<K: SectionSet>(before: &str, after: &str) -> String {
    K::ALL
        .iter()
        .map(|k| format!("{before}{}{after}", k.heading()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `## ` section: its kind and the Markdown under the heading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub kind: SectionKind,
    pub markdown: String,
    /// 1-based line of the heading in the whole file.
    pub line: usize,
}

/// One numbered investigation step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub number: usize,
    /// The first paragraph as plain text (the bold title by convention).
    pub title: String,
    /// The whole item as Markdown, indentation removed.
    pub markdown: String,
    /// The fenced code blocks of the item: the commands to run.
    pub commands: Vec<String>,
}

/// Splits a body into sections. `first_line` is the file line the body starts
/// on, so errors point at the right place in the file.
pub(super) fn split_sections(
    origin: &str,
    body: &str,
    first_line: usize,
) -> Result<Vec<Section>, PlaybookError> {
    Ok(split_headed::<SectionKind>(origin, body, first_line)?
        .into_iter()
        .map(|(kind, markdown, line)| Section {
            kind,
            markdown,
            line,
        })
        .collect())
}

/// Splits a body into (section, Markdown under its heading, heading line),
/// checking every heading is one of `K`, at most once, in order.
pub(crate) fn split_headed<K: SectionSet>(
    origin: &str,
    body: &str,
    first_line: usize,
) -> Result<Vec<(K, String, usize)>, PlaybookError> {
    let headings = level_two_headings(body);
    let mut sections: Vec<(K, String, usize)> = Vec::new();
    if let Some((first, _)) = headings.first() {
        if !body[..first.start].trim().is_empty() {
            let line = first_line + first_non_blank_line(body);
            return Err(PlaybookError::new(
                origin,
                line,
                "text before the first section; the body must start with a `## ` heading",
            ));
        }
    } else if !body.trim().is_empty() {
        return Err(PlaybookError::new(
            origin,
            first_line,
            format!("no sections; expected {}", listed::<K>("`## ", "`")),
        ));
    }
    for (i, (range, text)) in headings.iter().enumerate() {
        let line = first_line + body[..range.start].matches('\n').count();
        let Some(kind) = from_heading::<K>(text) else {
            return Err(PlaybookError::new(
                origin,
                line,
                format!(
                    "unknown section `## {text}`; expected one of: {}",
                    listed::<K>("", "")
                ),
            ));
        };
        if let Some((prev, _, _)) = sections.last() {
            let prev = *prev;
            if prev == kind {
                return Err(PlaybookError::new(
                    origin,
                    line,
                    format!("section `## {text}` appears twice"),
                ));
            }
            if prev > kind {
                return Err(PlaybookError::new(
                    origin,
                    line,
                    format!(
                        "section `## {text}` must come before `## {}`",
                        prev.heading()
                    ),
                ));
            }
        }
        let end = headings.get(i + 1).map_or(body.len(), |(r, _)| r.start);
        let content_start = body[range.end..]
            .find('\n')
            .map_or(body.len(), |n| range.end + n + 1)
            .min(end);
        let markdown = body[content_start..end].trim_matches('\n').to_owned();
        sections.push((kind, markdown, line));
    }
    Ok(sections)
}

fn first_non_blank_line(text: &str) -> usize {
    text.lines().take_while(|l| l.trim().is_empty()).count()
}

/// Byte range and text of every `## ` heading outside code blocks.
fn level_two_headings(body: &str) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    let mut current: Option<(Range<usize>, String)> = None;
    for (event, range) in Parser::new(body).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: pulldown_cmark::HeadingLevel::H2,
                ..
            }) => {
                current = Some((range, String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(pulldown_cmark::HeadingLevel::H2)) => {
                if let Some((r, text)) = current.take() {
                    out.push((r, text.trim().to_owned()));
                }
            }
            _ => {}
        }
    }
    out
}

/// The top-level numbered list items of an investigation section.
pub fn steps(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut list_depth = 0usize;
    let mut in_ordered_top = false;
    let mut item: Option<(usize, Range<usize>)> = None;
    let mut item_depth_start = 0usize;
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        match event {
            Event::Start(Tag::List(start)) => {
                if list_depth == 0 {
                    in_ordered_top = start.is_some();
                }
                list_depth += 1;
            }
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) if list_depth == 1 && in_ordered_top => {
                item = Some((steps.len() + 1, range));
                item_depth_start = list_depth;
            }
            Event::End(TagEnd::Item) if list_depth == item_depth_start && item.is_some() => {
                if let Some((number, r)) = item.take() {
                    steps.push(step_from_item(number, &markdown[r]));
                }
            }
            _ => {}
        }
    }
    steps
}

fn step_from_item(number: usize, raw: &str) -> Step {
    let markdown = dedent_item(raw);
    let mut commands = Vec::new();
    let mut title = String::new();
    let mut in_first_para = false;
    let mut seen_para = false;
    let mut code: Option<String> = None;
    for event in Parser::new(&markdown) {
        match event {
            Event::Start(Tag::Paragraph) if !seen_para => in_first_para = true,
            Event::End(TagEnd::Paragraph) if in_first_para => {
                in_first_para = false;
                seen_para = true;
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_) | CodeBlockKind::Indented)) => {
                code = Some(String::new())
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(c) = code.take() {
                    commands.push(c.trim_end().to_owned());
                }
            }
            Event::Text(t) => {
                if let Some(c) = code.as_mut() {
                    c.push_str(&t);
                } else if in_first_para {
                    title.push_str(&t);
                }
            }
            Event::Code(t) if in_first_para => title.push_str(&t),
            Event::SoftBreak if in_first_para => title.push(' '),
            _ => {}
        }
    }
    if title.is_empty() {
        title = to_plain_text(&markdown)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
    }
    Step {
        number,
        title: title.trim().to_owned(),
        markdown,
        commands,
    }
}

/// Removes the list marker and the continuation indent of one list item.
fn dedent_item(raw: &str) -> String {
    let mut lines = raw.lines();
    let first = lines.next().unwrap_or_default();
    let marker_end = first
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == ')' || c == ' '))
        .map_or(first.len(), |(i, _)| i);
    let indent = marker_end;
    let mut out = String::from(&first[marker_end..]);
    for line in lines {
        out.push('\n');
        let strip = line.chars().take(indent).take_while(|c| *c == ' ').count();
        out.push_str(&line[strip..]);
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "## Symptoms\n\n- slow\n\n## Investigation\n\n1. **Count sockets.**\n\n   ```sh\n   ss -tan | wc -l\n   ```\n\n   What it shows: many.\n\n2. **Look at DNS.**\n\n   ```sh\n   cat /etc/resolv.conf\n   ```\n\n   - a nested list\n   - still step two\n\n## Root cause\n\nx\n";

    #[test]
    fn sections_split_in_order_with_lines() {
        let s = split_sections("t.md", BODY, 10).unwrap();
        let kinds: Vec<_> = s.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                SectionKind::Symptoms,
                SectionKind::Investigation,
                SectionKind::RootCause
            ]
        );
        assert_eq!(s[0].line, 10);
        assert_eq!(s[1].line, 14);
        assert_eq!(s[0].markdown, "- slow");
    }

    #[test]
    fn steps_carry_titles_and_commands() {
        let s = split_sections("t.md", BODY, 1).unwrap();
        let steps = steps(&s[1].markdown);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].title, "Count sockets.");
        assert_eq!(steps[0].commands, ["ss -tan | wc -l"]);
        assert_eq!(steps[1].number, 2);
        assert_eq!(steps[1].commands, ["cat /etc/resolv.conf"]);
        assert!(
            steps[1].markdown.contains("- still step two"),
            "{}",
            steps[1].markdown
        );
    }

    #[test]
    fn unknown_duplicate_and_misordered_sections_are_rejected() {
        let e = split_sections("t.md", "## Symptoms\nx\n## Musings\ny\n", 5).unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.message.contains("unknown section `## Musings`"), "{e}");
        let e = split_sections("t.md", "## Fix\nx\n## Symptoms\ny\n", 1).unwrap_err();
        assert!(e.message.contains("must come before `## Fix`"), "{e}");
        let e = split_sections("t.md", "## Fix\nx\n## Fix\ny\n", 1).unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
        let e = split_sections("t.md", "hello\n## Fix\n", 3).unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn headings_inside_code_blocks_are_not_sections() {
        let s = split_sections("t.md", "## Fix\n\n```md\n## Not a section\n```\n", 1).unwrap();
        assert_eq!(s.len(), 1);
    }
}
