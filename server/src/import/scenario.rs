//! One long document with a `## Scenario: <name>` section per case and
//! `### Alert / Symptoms / Investigation / Root cause / Fix / Prevention`
//! subsections. What a scenario lacks is derived from what the document
//! says elsewhere: prevention from "Rule:" / "Prevention:" lines and from a
//! "Key Takeaways" list matched to scenarios by shared distinctive words, a
//! fix from a "Fix:" part of the root cause, and so on.

use std::collections::{BTreeSet, HashMap};

use super::Draft;
use super::text::{
    self, Block, Heading, blocks, body_of, dedent, escape, fence, headings, one_line,
};
use crate::core::playbook::{SectionKind, slugify, steps};

/// A subsection's role in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Alert,
    Section(SectionKind),
}

fn part_of(heading: &str) -> Option<Part> {
    let h = heading.trim().trim_end_matches(':').trim().to_lowercase();
    let h = h.trim_start_matches("the ").trim();
    let kind = match h {
        "alert" | "alerts" | "page" | "alert text" | "what on-call sees" => {
            return Some(Part::Alert);
        }
        "symptoms" | "symptom" | "observed" | "observations" | "what you see" | "signs" => {
            SectionKind::Symptoms
        }
        "investigation"
        | "investigation steps"
        | "diagnosis"
        | "diagnostics"
        | "debugging"
        | "triage"
        | "analysis"
        | "troubleshooting" => SectionKind::Investigation,
        "root cause"
        | "root-cause"
        | "root causes"
        | "cause"
        | "causes"
        | "root cause analysis"
        | "why" => SectionKind::RootCause,
        "fix" | "fixes" | "resolution" | "remediation" | "mitigation" | "solution"
        | "solutions" | "workaround" => SectionKind::Fix,
        "prevention" | "preventing it" | "prevent" | "how to prevent it" | "follow-up"
        | "follow-ups" | "lessons" | "lesson" => SectionKind::Prevention,
        _ => return None,
    };
    Some(Part::Section(kind))
}

/// The scenario name in a `## Scenario: <name>` heading.
fn scenario_name(heading: &str) -> Option<&str> {
    let h = heading.trim();
    if !h.get(..8)?.eq_ignore_ascii_case("scenario") {
        return None;
    }
    let rest = h[8..]
        .trim_start()
        .strip_prefix([':', '-', '—', '–'])?
        .trim();
    (!rest.is_empty()).then_some(rest)
}

struct Scenario {
    name: String,
    line: usize,
    alert: Option<String>,
    parts: Vec<(SectionKind, String)>,
    intro: String,
    ignored: Vec<String>,
}

impl Scenario {
    fn part(&self, kind: SectionKind) -> Option<&str> {
        self.parts
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, md)| md.as_str())
    }

    fn all_text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n{}\n",
            self.name,
            self.alert.as_deref().unwrap_or(""),
            self.intro
        );
        for (_, md) in &self.parts {
            t.push_str(md);
            t.push('\n');
        }
        t
    }
}

/// Parses a scenario document, or `None` when the text is not one.
pub(super) fn parse(text: &str) -> Option<Vec<Draft>> {
    let hs = headings(text);
    let mut scenarios = Vec::new();
    let mut takeaways: Vec<String> = Vec::new();
    let mut lessons: Vec<String> = Vec::new();
    for (i, h) in hs.iter().enumerate() {
        if h.level != 2 {
            continue;
        }
        let end = hs[i + 1..]
            .iter()
            .find(|n| n.level <= 2)
            .map_or(text.len(), |n| n.range.start);
        let subs: Vec<usize> = (i + 1..hs.len())
            .filter(|&j| hs[j].level == 3 && hs[j].range.start < end)
            .collect();
        let known = subs
            .iter()
            .filter(|&&j| part_of(&hs[j].text).is_some())
            .count();
        let name = scenario_name(&h.text)
            .map(str::to_owned)
            .or_else(|| (known >= 2).then(|| h.text.clone()));
        if let Some(name) = name {
            scenarios.push(read_scenario(text, &hs, i, &subs, end, name));
            continue;
        }
        let lower = h.text.to_lowercase();
        let body = body_of(text, &hs, i, 2, end);
        if lower.contains("takeaway") {
            takeaways.extend(numbered_items(body));
        } else if lower.contains("lesson") || lower.contains("pattern") {
            lessons.extend(numbered_items(body));
        }
    }
    if scenarios.is_empty() {
        return None;
    }
    Some(build(scenarios, &takeaways, &lessons))
}

fn read_scenario(
    text: &str,
    hs: &[Heading],
    i: usize,
    subs: &[usize],
    end: usize,
    name: String,
) -> Scenario {
    let intro_end = subs.first().map_or(end, |&j| hs[j].range.start);
    let mut s = Scenario {
        name,
        line: hs[i].line,
        alert: None,
        parts: Vec::new(),
        intro: body_of(text, hs, i, 6, intro_end).to_owned(),
        ignored: Vec::new(),
    };
    for &j in subs {
        let body = body_of(text, hs, j, 3, end).to_owned();
        match part_of(&hs[j].text) {
            Some(Part::Alert) => s.alert = Some(body),
            Some(Part::Section(kind)) => match s.parts.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, md)) => {
                    md.push_str("\n\n");
                    md.push_str(&body);
                }
                None => s.parts.push((kind, body)),
            },
            None => s.ignored.push(hs[j].text.clone()),
        }
    }
    s
}

fn build(scenarios: Vec<Scenario>, takeaways: &[String], lessons: &[String]) -> Vec<Draft> {
    let docs: Vec<BTreeSet<String>> = scenarios.iter().map(|s| stems(&s.all_text())).collect();
    let matcher = Matcher::new(&docs);
    let mut extra: Vec<Vec<String>> = vec![Vec::new(); scenarios.len()];
    for t in takeaways {
        if let Some(n) = matcher.best_scenario(t) {
            extra[n].push(t.clone());
        }
    }
    scenarios
        .into_iter()
        .enumerate()
        .map(|(n, s)| draft(s, &extra[n], lessons, &matcher, n))
        .collect()
}

fn draft(
    s: Scenario,
    takeaways: &[String],
    lessons: &[String],
    matcher: &Matcher,
    n: usize,
) -> Draft {
    let mut d = Draft {
        id: slugify(&s.name),
        title: s.name.clone(),
        line: s.line,
        ..Draft::default()
    };
    for h in &s.ignored {
        d.warnings.push(format!(
            "subsection `### {h}` is not a playbook section; left out"
        ));
    }
    d.alert = s.alert.as_deref().map(one_line).unwrap_or_default();
    if d.alert.is_empty() {
        d.alert = text::first_sentence(&s.intro);
    }

    let mut symptoms = s.part(SectionKind::Symptoms).unwrap_or("").to_owned();
    if !s.intro.trim().is_empty() {
        symptoms = if symptoms.is_empty() {
            s.intro.clone()
        } else {
            format!("{}\n\n{symptoms}", s.intro)
        };
    }
    d.sections.push((SectionKind::Symptoms, symptoms.clone()));

    let mut root_cause = s.part(SectionKind::RootCause).unwrap_or("").to_owned();
    let mut fix = s.part(SectionKind::Fix).unwrap_or("").to_owned();
    if fix.trim().is_empty()
        && let Some((cause, embedded)) = split_embedded_fix(&root_cause)
    {
        root_cause = cause;
        fix = embedded;
        d.warnings
            .push("no Fix subsection; took the fix given inside Root cause".to_owned());
    }

    let investigation = match s.part(SectionKind::Investigation) {
        Some(md) => {
            let (steps, whole) = text::investigation_steps(md);
            if whole {
                d.warnings.push(
                    "Investigation kept as one step; split it into numbered steps".to_owned(),
                );
            }
            steps
        }
        None => {
            let derived = steps_from_symptoms(&symptoms);
            if !derived.is_empty() {
                d.warnings.push(
                    "no Investigation subsection; derived one step from the symptoms".to_owned(),
                );
            }
            derived
        }
    };

    if root_cause.trim().is_empty() {
        root_cause = findings(&investigation);
        if !root_cause.is_empty() {
            d.warnings.push(
                "no Root cause subsection; derived from the investigation's findings".to_owned(),
            );
        }
    }

    let mut prevention: Vec<String> = Vec::new();
    if let Some(p) = s.part(SectionKind::Prevention) {
        prevention.push(p.to_owned());
    }
    let mut derived: Vec<String> = Vec::new();
    for (_, md) in &s.parts {
        derived.extend(labelled_lines(md).into_iter().map(|l| format!("- {l}")));
    }
    derived.extend(takeaways.iter().map(|t| format!("- {t}")));
    if prevention.is_empty()
        && derived.is_empty()
        && let Some(l) = matcher.best_item(n, lessons)
    {
        derived.push(format!("- {}", lessons[l]));
    }
    if !derived.is_empty() {
        if prevention.is_empty() {
            d.warnings.push(
                "no Prevention subsection; gathered from the document's rules and takeaways"
                    .to_owned(),
            );
        }
        prevention.push(derived.join("\n"));
    }

    d.sections.push((SectionKind::Investigation, investigation));
    d.sections.push((SectionKind::RootCause, root_cause));
    d.sections.push((SectionKind::Fix, fix));
    d.sections
        .push((SectionKind::Prevention, prevention.join("\n\n")));
    d
}

// ----- derived sections ---------------------------------------------------

/// A root cause that carries the fix after a `Fix:` line: (cause, fix).
fn split_embedded_fix(markdown: &str) -> Option<(String, String)> {
    let is_fix_label = |l: &str| {
        let t = strip_comment(l).trim().to_lowercase();
        [
            "fix:",
            "the fix:",
            "fixed:",
            "solution:",
            "fix it:",
            "to fix:",
        ]
        .iter()
        .any(|p| t.starts_with(p))
    };
    let bs = blocks(markdown);
    for (k, (b, src)) in bs.iter().enumerate() {
        let before = bs[..k].iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>();
        let after = bs[k + 1..]
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>();
        match b {
            Block::Code { lang, content } => {
                let lines: Vec<&str> = content.lines().collect();
                let Some(at) = lines.iter().position(|l| is_fix_label(l)) else {
                    continue;
                };
                let label_rest = strip_comment(lines[at]).trim();
                let label_rest = label_rest.split_once(':').map_or("", |(_, r)| r.trim());
                let mut cause = before.join("\n\n");
                let head = dedent(&lines[..at]);
                if !head.trim().is_empty() {
                    cause = join_nonempty(&[&cause, &fence(lang, head.trim_matches('\n'))]);
                }
                let mut fix = String::new();
                if !label_rest.is_empty() {
                    fix.push_str(&escape(label_rest));
                }
                let code = dedent(&lines[at + 1..]);
                if !code.trim().is_empty() {
                    fix = join_nonempty(&[&fix, &fence(lang, code.trim_matches('\n'))]);
                }
                fix = join_nonempty(&[&fix, &after.join("\n\n")]);
                return (!fix.trim().is_empty()).then_some((cause, fix));
            }
            _ if is_fix_label(src.lines().next().unwrap_or("")) => {
                let stripped = src.trim_start_matches(['*', '_']);
                let rest = stripped
                    .split_once(':')
                    .map_or("", |(_, r)| r.trim_start_matches(['*', '_']).trim());
                let fix = join_nonempty(&[rest, &after.join("\n\n")]);
                return (!fix.trim().is_empty()).then(|| (before.join("\n\n"), fix));
            }
            _ => {}
        }
    }
    None
}

fn join_nonempty(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    for m in ["//", "#", "--", ">", ";"] {
        if let Some(rest) = t.strip_prefix(m) {
            return rest.trim_start();
        }
    }
    t
}

/// One investigation step asking to confirm each symptom.
fn steps_from_symptoms(symptoms: &str) -> String {
    let plain = text::unwrap_code(symptoms);
    let items: Vec<&str> = plain
        .lines()
        .map(|l| l.trim().trim_start_matches(['-', '*', '•']).trim())
        .filter(|l| !l.is_empty())
        .collect();
    if items.is_empty() {
        return String::new();
    }
    let list = items
        .iter()
        .map(|i| format!("   - {}", escape(i)))
        .collect::<Vec<_>>()
        .join("\n");
    format!("1. **Confirm the symptoms.** Check each of these against what you observe:\n\n{list}")
}

/// The findings an investigation points at (output lines marked with `←`
/// or `→`), each with the step it came from.
fn findings(investigation: &str) -> String {
    let mut out = Vec::new();
    for step in steps(investigation) {
        for line in step.markdown.lines() {
            let t = line
                .trim()
                .trim_start_matches("- ")
                .trim_matches('`')
                .trim();
            let found = t
                .split_once('←')
                .map(|(_, r)| r)
                .or_else(|| t.strip_prefix('→'))
                .map(str::trim);
            if let Some(f) = found.filter(|f| !f.is_empty()) {
                let title = step.title.trim_end_matches(['.', ':', '?']);
                out.push(format!("- {}: {}", escape(title), escape(f)));
            }
        }
    }
    if out.is_empty() {
        return String::new();
    }
    format!("What the investigation finds:\n\n{}", out.join("\n"))
}

const LABELS: &[(&str, &str)] = &[
    ("prevention:", ""),
    ("to prevent:", ""),
    ("prevent:", ""),
    ("rule:", "Rule: "),
    ("lesson:", "Lesson: "),
    ("long-term:", "Long-term: "),
    ("long term:", "Long-term: "),
];

/// Lines (with their continuation lines) that state a rule, a lesson or a
/// prevention, anywhere in a section, code blocks included.
fn labelled_lines(markdown: &str) -> Vec<String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let body = strip_comment(line);
        let lower = body.to_lowercase();
        let Some((label, shown)) = LABELS.iter().find(|(l, _)| lower.starts_with(l)) else {
            i += 1;
            continue;
        };
        let marker = comment_marker(line);
        let indent = line.len() - line.trim_start().len();
        let mut text = body[label.len()..].trim().to_owned();
        i += 1;
        while i < lines.len() {
            let next = lines[i];
            if next.trim().is_empty() || comment_marker(next) != marker {
                break;
            }
            let next_body = strip_comment(next).trim();
            let next_indent = next.len() - next.trim_start().len();
            let next_lower = next_body.to_lowercase();
            if next_body.is_empty()
                || LABELS.iter().any(|(l, _)| next_lower.starts_with(l))
                || (marker.is_none() && next_indent <= indent)
            {
                break;
            }
            if next_body.starts_with(char::is_uppercase)
                && !text.ends_with(['.', '!', '?', ':', ';'])
            {
                text.push('.');
            }
            text.push(' ');
            text.push_str(next_body);
            i += 1;
        }
        if !text.is_empty() {
            if !text.ends_with(['.', '!', '?', ')']) {
                text.push('.');
            }
            let shown = if shown.is_empty() {
                String::new()
            } else {
                format!("**{shown}**")
            };
            out.push(format!(
                "{}{}",
                shown.replace(": **", ":** "),
                escape(&text)
            ));
        }
    }
    out
}

fn comment_marker(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    ["//", "#", "--", ">", ";"]
        .into_iter()
        .find(|m| t.starts_with(m))
}

/// The numbered items of a list, whether a Markdown list or numbered lines
/// inside a code block; each as one Markdown line.
fn numbered_items(markdown: &str) -> Vec<String> {
    let listed = steps(markdown);
    if !listed.is_empty() {
        return listed
            .into_iter()
            .map(|s| s.markdown.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
    }
    let plain: String = blocks(markdown)
        .into_iter()
        .filter_map(|(b, src)| match b {
            Block::Code { content, .. } => Some(content),
            Block::Other => None,
            _ => Some(src),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut items: Vec<(String, Vec<String>)> = Vec::new();
    for line in plain.lines() {
        let t = line.trim();
        let number_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        if number_end > 0 && t[number_end..].starts_with(". ") {
            items.push((t[number_end + 2..].trim().to_owned(), Vec::new()));
        } else if !t.is_empty()
            && let Some(item) = items.last_mut()
        {
            item.1.push(t.to_owned());
        }
    }
    items
        .into_iter()
        .map(|(title, body)| {
            let title = title.trim_end_matches(['.', ':']);
            let mut title = title.to_owned();
            if title
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase)
            {
                title = sentence_case(&title);
            }
            let mut line = format!("**{}.**", escape(&title));
            for b in body {
                line.push(' ');
                line.push_str(&escape(&b));
                if !b.ends_with(['.', '!', '?', ':', ')']) {
                    line.push('.');
                }
            }
            line
        })
        .collect()
}

/// "MTU ISSUES ARE INVISIBLE" -> "MTU issues are invisible": the first word
/// (often an acronym) stays, the rest goes lowercase.
fn sentence_case(title: &str) -> String {
    let mut words = title.split_whitespace();
    let first = words.next().unwrap_or_default();
    let first = if first.len() <= 4 {
        first.to_owned()
    } else {
        let mut cs = first.chars();
        cs.next().map(|c| c.to_string()).unwrap_or_default() + &cs.as_str().to_lowercase()
    };
    std::iter::once(first)
        .chain(words.map(str::to_lowercase))
        .collect::<Vec<_>>()
        .join(" ")
}

// ----- matching lessons to scenarios ---------------------------------------

const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "for", "with", "by", "at",
    "from", "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these",
    "those", "not", "no", "can", "will", "must", "should", "all", "any", "every", "each", "use",
    "using", "always", "never", "you", "your", "they", "their", "them", "than", "then", "there",
    "what", "when", "which", "who", "how", "why", "do", "does", "don", "t", "s", "isn", "into",
    "out", "up", "so", "more", "most", "only", "just", "also", "same", "new", "old",
];

fn stem(w: &str) -> String {
    let n = w.len();
    if n > 5 && w.ends_with("ies") {
        return format!("{}y", &w[..n - 3]);
    }
    if n > 5 && w.ends_with("ing") {
        return w[..n - 3].to_owned();
    }
    if n > 4 && w.ends_with("ed") {
        return w[..n - 2].to_owned();
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") {
        return w[..n - 1].to_owned();
    }
    w.to_owned()
}

fn stems(text: &str) -> BTreeSet<String> {
    text::words(text)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()) && w.len() > 1)
        .map(|w| stem(&w))
        .collect()
}

/// Scores how many distinctive words a lesson shares with each scenario;
/// a word's weight falls with the number of scenarios that use it.
struct Matcher<'a> {
    docs: &'a [BTreeSet<String>],
    weight: HashMap<&'a str, f64>,
}

impl<'a> Matcher<'a> {
    fn new(docs: &'a [BTreeSet<String>]) -> Self {
        let mut df: HashMap<&str, usize> = HashMap::new();
        for d in docs {
            for w in d {
                *df.entry(w.as_str()).or_default() += 1;
            }
        }
        let n = docs.len() as f64;
        let weight = df
            .into_iter()
            .map(|(w, k)| (w, (n / k as f64).ln()))
            .collect();
        Matcher { docs, weight }
    }

    /// Total weight and number of distinctive words `item` shares with
    /// scenario `n`.
    fn score(&self, item: &BTreeSet<String>, n: usize) -> (f64, usize) {
        let distinctive = (self.docs.len() as f64 / 3.0).max(1.0);
        let mut total = 0.0;
        let mut count = 0;
        for w in item.intersection(&self.docs[n]) {
            let weight = self.weight.get(w.as_str()).copied().unwrap_or(0.0);
            total += weight;
            if weight >= (self.docs.len() as f64 / distinctive).ln() - 1e-9 && weight > 0.0 {
                count += 1;
            }
        }
        (total, count)
    }

    /// At least three distinctive words in common, and enough weight: a
    /// strict bar for assigning a takeaway, a looser one for picking the
    /// closest lesson for a scenario that has no prevention at all.
    fn good_enough(&self, total: f64, count: usize, strict: bool) -> bool {
        let factor = if strict { 3.0 } else { 2.0 };
        count >= 3 && total >= factor * (self.docs.len() as f64).ln().max(1.0)
    }

    /// The scenario a takeaway is about, if one clearly is.
    fn best_scenario(&self, item: &str) -> Option<usize> {
        let words = stems(item);
        let mut scored: Vec<(f64, usize, usize)> = (0..self.docs.len())
            .map(|n| (self.score(&words, n), n))
            .map(|((t, c), n)| (t, c, n))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
        let (best, count, n) = *scored.first()?;
        let second = scored.get(1).map_or(0.0, |s| s.0);
        (self.good_enough(best, count, true) && best > second * 1.5).then_some(n)
    }

    /// The item that best fits scenario `n`, if any fits well.
    fn best_item(&self, n: usize, items: &[String]) -> Option<usize> {
        items
            .iter()
            .enumerate()
            .map(|(i, t)| (self.score(&stems(t), n), i))
            .filter(|((t, c), _)| self.good_enough(*t, *c, false))
            .max_by(|a, b| a.0.0.total_cmp(&b.0.0).then(b.1.cmp(&a.1)))
            .map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_headings() {
        assert_eq!(
            scenario_name("Scenario: The Mystery 502s"),
            Some("The Mystery 502s")
        );
        assert_eq!(scenario_name("scenario - Slow DNS"), Some("Slow DNS"));
        assert_eq!(scenario_name("Scenarios"), None);
        assert_eq!(scenario_name("Key Takeaways"), None);
        assert_eq!(
            part_of("Root Cause"),
            Some(Part::Section(SectionKind::RootCause))
        );
        assert_eq!(
            part_of("Diagnosis"),
            Some(Part::Section(SectionKind::Investigation))
        );
        assert_eq!(part_of("ALERT"), Some(Part::Alert));
    }

    #[test]
    fn rule_lines_with_continuations() {
        let md = "```\nOption 1: x\n\nRule: Upstream timeout MUST be longer than\n      the proxy's timeout.\n      Backend > proxy\nOther\n```";
        assert_eq!(
            labelled_lines(md),
            [
                "**Rule:** Upstream timeout MUST be longer than the proxy's timeout. Backend \\> proxy."
            ]
        );
        let md = "```bash\n# Prevention: Validate nodes at bootstrap\n# Check rules too\nls\n```";
        assert_eq!(
            labelled_lines(md),
            ["Validate nodes at bootstrap. Check rules too."]
        );
    }

    #[test]
    fn embedded_fix_is_split_out() {
        let md = "```\nBug:\n  leak()\n\n  Fix:\n  defer close()\n```";
        let (cause, fix) = split_embedded_fix(md).unwrap();
        assert_eq!(cause, "```\nBug:\n  leak()\n```");
        assert_eq!(fix, "```\ndefer close()\n```");
        assert!(split_embedded_fix("No fix here.").is_none());
    }

    #[test]
    fn numbered_items_from_code_and_lists() {
        let items = numbered_items(
            "```\nThemes:\n\n1. MTU ISSUES ARE INVISIBLE\n   Small packets work\n```",
        );
        assert_eq!(items, ["**MTU issues are invisible.** Small packets work."]);
        let items = numbered_items("1. **One** — first\n2. **Two** —\n   second\n");
        assert_eq!(items, ["**One** — first", "**Two** — second"]);
    }
}
