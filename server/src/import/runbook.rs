//! One runbook per Markdown file, as the Prometheus and kube-prometheus
//! runbooks are written: `# Title`, then `## Meaning`, `## Impact`,
//! `## Diagnosis`, `## Mitigation`. Meaning and Impact become Symptoms,
//! Diagnosis the Investigation, Mitigation the Fix.

use std::path::Path;

use super::Draft;
use super::text::{self, body_of, headings, one_line};
use crate::core::playbook::{SectionKind, slugify};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Alert,
    Meaning,
    Impact,
    Section(SectionKind),
}

fn part_of(heading: &str) -> Option<Part> {
    let h = heading.trim().trim_end_matches(':').trim().to_lowercase();
    Some(match h.as_str() {
        "alert" | "alert text" | "summary" => Part::Alert,
        "meaning" | "description" | "overview" | "what it means" => Part::Meaning,
        "impact" | "user impact" => Part::Impact,
        "symptoms" | "symptom" => Part::Section(SectionKind::Symptoms),
        "diagnosis" | "investigation" | "troubleshooting" | "debugging" | "how to investigate"
        | "triage" | "runbook" | "steps" | "procedure" => Part::Section(SectionKind::Investigation),
        "root cause" | "root causes" | "cause" | "causes" | "possible causes" | "likely causes" => {
            Part::Section(SectionKind::RootCause)
        }
        "mitigation" | "mitigations" | "remediation" | "resolution" | "fix" | "fixes"
        | "solution" => Part::Section(SectionKind::Fix),
        "prevention" | "follow-up" | "follow-ups" => Part::Section(SectionKind::Prevention),
        _ => return None,
    })
}

/// Splits front matter off: YAML between `---` lines or TOML between `+++`
/// lines (as Hugo sites write it). Returns its `title` and the body.
fn front_matter(text: &str) -> (Option<String>, &str) {
    let (fence, yaml) = match text.lines().next().map(str::trim_end) {
        Some("---") => ("---", true),
        Some("+++") => ("+++", false),
        _ => return (None, text),
    };
    let first = text.find('\n').map_or(text.len(), |n| n + 1);
    let mut offset = first;
    let mut lines = Vec::new();
    for line in text[first..].split_inclusive('\n') {
        offset += line.len();
        let t = line.trim_end();
        if t == fence || (yaml && t == "...") {
            let title = if yaml {
                lines.iter().find_map(|l: &&str| {
                    l.strip_prefix("title:")
                        .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
                })
            } else {
                lines
                    .join("\n")
                    .parse::<toml::Table>()
                    .ok()
                    .and_then(|t| t.get("title")?.as_str().map(str::to_owned))
            };
            let title = title.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
            return (title, &text[offset..]);
        }
        lines.push(t);
    }
    (None, text)
}

/// The text after its front matter, if any.
pub(super) fn without_front_matter(text: &str) -> &str {
    front_matter(text).1
}

/// "KubePodCrashLooping" -> "Kube Pod Crash Looping" for ids.
fn split_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out
}

/// An alert name such as `KubePodCrashLooping`: one word, mixed case.
fn is_alert_name(title: &str) -> bool {
    !title.is_empty()
        && !title.contains(char::is_whitespace)
        && title
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
        && title.chars().skip(1).any(char::is_uppercase)
}

/// Parses a runbook, or `None` when the text is not one.
pub(super) fn parse(origin: &str, text: &str) -> Option<Draft> {
    let (fm_title, body) = front_matter(text);
    let hs = headings(body);
    let known = hs
        .iter()
        .filter(|h| h.level == 2 && part_of(&h.text).is_some())
        .count();
    if known < 2 {
        return None;
    }
    let mut d = Draft::default();
    let h1 = hs.iter().position(|h| h.level == 1);
    let stem = Path::new(origin)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The front matter's title reads best ("Kube Pod Crash Looping"); the
    // `# KubePodCrashLooping` heading (or the file name) names the alert.
    let h1_text = h1.map(|i| hs[i].text.clone());
    let alert_name = h1_text
        .iter()
        .chain(std::iter::once(&stem))
        .find(|t| is_alert_name(t))
        .cloned();
    d.title = fm_title.or(h1_text).unwrap_or_else(|| split_camel(&stem));
    let generic = matches!(
        stem.to_lowercase().as_str(),
        "" | "readme" | "index" | "_index" | "runbook"
    );
    d.id = slugify(&split_camel(if generic { &d.title } else { &stem }));

    let (mut meaning, mut impact, mut alert) = (String::new(), String::new(), String::new());
    let mut sections: Vec<(SectionKind, String)> = Vec::new();
    let first_h2 = hs.iter().position(|h| h.level == 2).unwrap_or(hs.len());
    if let Some(i) = h1.filter(|&i| i < first_h2) {
        let end = hs.get(first_h2).map_or(body.len(), |h| h.range.start);
        meaning = body_of(body, &hs, i, 6, end).to_owned();
    }
    for (i, h) in hs.iter().enumerate() {
        if h.level != 2 {
            continue;
        }
        let md = body_of(body, &hs, i, 2, body.len()).to_owned();
        match part_of(&h.text) {
            Some(Part::Alert) => alert = one_line(&md),
            Some(Part::Meaning) => meaning = join(&meaning, &md),
            Some(Part::Impact) => impact = join(&impact, &md),
            Some(Part::Section(kind)) => match sections.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, existing)) => *existing = join(existing, &md),
                None => sections.push((kind, md)),
            },
            None => d.warnings.push(format!(
                "section `## {}` is not a playbook section; left out",
                h.text
            )),
        }
    }

    if alert.is_empty() {
        let sentence = text::first_sentence(&meaning);
        alert = match (&alert_name, sentence.is_empty()) {
            (Some(name), false) => format!("{name}: {sentence}"),
            (_, false) => sentence,
            (_, true) => String::new(),
        };
    }
    d.alert = alert;

    let mut symptoms = meaning;
    if !impact.is_empty() {
        symptoms = join(&symptoms, &format!("**Impact:**\n\n{impact}"));
    }
    if let Some((_, s)) = sections.iter().find(|(k, _)| *k == SectionKind::Symptoms) {
        symptoms = join(&symptoms, s);
    }
    sections.retain(|(k, _)| *k != SectionKind::Symptoms);
    if !symptoms.is_empty() {
        sections.push((SectionKind::Symptoms, symptoms));
    }
    for (kind, md) in sections.iter_mut() {
        if *kind == SectionKind::Investigation {
            let (steps, whole) = text::investigation_steps(md);
            if whole {
                d.warnings
                    .push("Diagnosis kept as one step; split it into numbered steps".to_owned());
            }
            *md = steps;
        }
    }
    d.sections = sections;
    Some(d)
}

fn join(a: &str, b: &str) -> String {
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}\n\n{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_ids() {
        assert_eq!(
            slugify(&split_camel("KubePodCrashLooping")),
            "kube-pod-crash-looping"
        );
        assert_eq!(slugify(&split_camel("TargetDown")), "target-down");
        assert_eq!(
            slugify(&split_camel("etcd-members-down")),
            "etcd-members-down"
        );
        assert_eq!(
            slugify(&split_camel("NodeFilesystemSpaceFillingUp")),
            "node-filesystem-space-filling-up"
        );
        assert_eq!(slugify(&split_camel("HTTPErrors")), "http-errors");
        assert!(is_alert_name("KubePodCrashLooping"));
        assert!(!is_alert_name("Disk full"));
    }

    #[test]
    fn yaml_front_matter_is_skipped() {
        let text = "---\ntitle: Target Down\nweight: 20\n---\n\n# TargetDown\n\n## Meaning\n\nA target is down. More.\n\n## Impact\n\nNo metrics.\n\n## Diagnosis\n\nLook at the targets page.\n\n## Mitigation\n\nRestart it.\n";
        let d = parse("TargetDown.md", text).unwrap();
        assert_eq!(d.title, "Target Down", "the front matter's title");
        assert_eq!(d.id, "target-down");
        assert_eq!(d.alert, "TargetDown: A target is down.");
        let symptoms = &d
            .sections
            .iter()
            .find(|(k, _)| *k == SectionKind::Symptoms)
            .unwrap()
            .1;
        assert_eq!(
            symptoms,
            "A target is down. More.\n\n**Impact:**\n\nNo metrics."
        );
    }

    #[test]
    fn toml_front_matter_gives_the_title() {
        let text = "+++\ntitle = \"Disk Almost Full\"\nweight = 3\n+++\n\n# DiskAlmostFull\n\n## Meaning\n\nThe disk is nearly full.\n\n## Mitigation\n\nDelete old files.\n";
        let d = parse("disk.md", text).unwrap();
        assert_eq!(d.title, "Disk Almost Full");
        assert_eq!(d.id, "disk");
        assert_eq!(d.alert, "DiskAlmostFull: The disk is nearly full.");
        assert!(
            without_front_matter(text)
                .trim_start()
                .starts_with("# DiskAlmostFull\n")
        );
    }

    #[test]
    fn not_a_runbook() {
        assert!(parse("x.md", "# Notes\n\n## Meaning\n\nonly one known section\n").is_none());
    }
}
