//! Small Markdown helpers shared by the import layouts: headings, blocks,
//! one-line alerts, keyword inference and investigation steps.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};

use crate::core::playbook::{Layer, steps};

/// A heading outside code blocks.
#[derive(Debug, Clone)]
pub(super) struct Heading {
    pub level: usize,
    pub text: String,
    /// Byte range of the heading line(s).
    pub range: Range<usize>,
    /// 1-based line of the heading.
    pub line: usize,
}

pub(super) fn headings(text: &str) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Range<usize>, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some((level_number(level), range, String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, s)) = current.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, range, s)) = current.take() {
                    let line = text[..range.start].matches('\n').count() + 1;
                    out.push(Heading {
                        level,
                        text: s.trim().to_owned(),
                        range,
                        line,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn level_number(level: HeadingLevel) -> usize {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// The text between the end of heading `i` and the next heading of level
/// `<= max_level` (or `end`), without surrounding blank lines.
pub(super) fn body_of<'a>(
    text: &'a str,
    hs: &[Heading],
    i: usize,
    max_level: usize,
    end: usize,
) -> &'a str {
    let start = line_end(text, hs[i].range.end).min(end);
    let stop = hs[i + 1..]
        .iter()
        .find(|h| h.level <= max_level)
        .map_or(end, |h| h.range.start.min(end));
    let mut body = text[start..stop.max(start)].trim_matches(['\n', '\r']);
    // A thematic break that separates this part from the next is not content.
    loop {
        let (rest, last) = body.rsplit_once('\n').unwrap_or(("", body));
        if !is_rule(last) {
            break;
        }
        body = rest.trim_end_matches(['\n', '\r']);
    }
    body
}

fn is_rule(line: &str) -> bool {
    let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3
        && (t.chars().all(|c| c == '-')
            || t.chars().all(|c| c == '*')
            || t.chars().all(|c| c == '_'))
}

/// The byte offset just past the line containing `at` (a heading ends at its
/// newline or, for setext headings, after the underline).
fn line_end(text: &str, at: usize) -> usize {
    if at > 0 && text.as_bytes().get(at - 1) == Some(&b'\n') {
        return at;
    }
    text[at..].find('\n').map_or(text.len(), |n| at + n + 1)
}

/// A top-level block of a Markdown fragment.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Block {
    /// A fenced or indented code block: language and content.
    Code {
        lang: String,
        content: String,
    },
    Paragraph,
    Heading,
    List {
        ordered: bool,
    },
    Other,
}

/// Top-level blocks with their source text.
pub(super) fn blocks(markdown: &str) -> Vec<(Block, String)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start: Option<(Block, Range<usize>)> = None;
    let mut code = String::new();
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    let block = match &tag {
                        Tag::CodeBlock(CodeBlockKind::Fenced(lang)) => Block::Code {
                            lang: lang.split_whitespace().next().unwrap_or("").to_owned(),
                            content: String::new(),
                        },
                        Tag::CodeBlock(CodeBlockKind::Indented) => Block::Code {
                            lang: String::new(),
                            content: String::new(),
                        },
                        Tag::Paragraph => Block::Paragraph,
                        Tag::Heading { .. } => Block::Heading,
                        Tag::List(first) => Block::List {
                            ordered: first.is_some(),
                        },
                        _ => Block::Other,
                    };
                    code.clear();
                    start = Some((block, range));
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0
                    && let Some((mut block, r)) = start.take()
                {
                    if let Block::Code { content, .. } = &mut block {
                        *content = std::mem::take(&mut code);
                    }
                    out.push((block, markdown[r].trim_end_matches(['\n', '\r']).to_owned()));
                }
            }
            Event::Text(t) if depth == 1 => {
                if matches!(start, Some((Block::Code { .. }, _))) {
                    code.push_str(&t);
                }
            }
            Event::Rule | Event::Html(_) if depth == 0 => {
                out.push((Block::Other, markdown[range].trim_end().to_owned()));
            }
            _ => {}
        }
    }
    out
}

/// The plain content of a fragment that is wrapped in one code block (or
/// blockquote), else the fragment itself.
pub(super) fn unwrap_code(markdown: &str) -> String {
    let bs = blocks(markdown);
    if bs.len() == 1
        && let Block::Code { content, .. } = &bs[0].0
    {
        return content.trim_end().to_owned();
    }
    markdown
        .lines()
        .map(|l| l.trim_start().strip_prefix('>').unwrap_or(l).trim())
        .collect::<Vec<_>>()
        .join("\n")
}

/// An alert as one line: fences, quote markers and surrounding quotes gone,
/// whitespace collapsed.
pub(super) fn one_line(markdown: &str) -> String {
    let plain = unwrap_code(markdown);
    let mut line = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    for (open, close) in [('"', '"'), ('“', '”'), ('\'', '\'')] {
        if line.len() >= 2 && line.starts_with(open) && line.ends_with(close) {
            line = line[open.len_utf8()..line.len() - close.len_utf8()]
                .trim()
                .to_owned();
            break;
        }
    }
    line
}

/// The first sentence of a Markdown paragraph, as plain text on one line.
pub(super) fn first_sentence(markdown: &str) -> String {
    let plain = crate::core::markdown::to_plain_text(markdown);
    let para = plain
        .split("\n")
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut end = para.len();
    for (i, c) in para.char_indices() {
        if matches!(c, '.' | '!' | '?') {
            let next = para[i + c.len_utf8()..].chars().next();
            if next.is_none_or(char::is_whitespace) {
                end = i + c.len_utf8();
                break;
            }
        }
    }
    para[..end].trim().to_owned()
}

/// Escapes text so that Markdown shows it literally.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An inline code span that holds `text` whatever backticks it contains.
pub(super) fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// Removes the indentation all non-blank lines share.
pub(super) fn dedent(lines: &[&str]) -> String {
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(common..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fenced code block around `content`, with a fence longer than any
/// backtick run inside.
pub(super) fn fence(lang: &str, content: &str) -> String {
    let longest = content
        .lines()
        .map(|l| l.trim_start().chars().take_while(|c| *c == '`').count())
        .max()
        .unwrap_or(0);
    let f = "`".repeat(longest.max(2) + 1);
    format!("{f}{lang}\n{}\n{f}", content.trim_end_matches('\n'))
}

// ----- keywords -----------------------------------------------------------

/// Lowercase words; `_`, `-` and punctuation separate words.
pub(super) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

const LAYER_WORDS: [(Layer, &[&str]); 5] = [
    (
        Layer::Dns,
        &[
            "dns", "resolv", "ndots", "nslookup", "nxdomain", "coredns", "resolver",
        ],
    ),
    (
        Layer::Tls,
        &[
            "tls",
            "ssl",
            "certificate",
            "certificates",
            "handshake",
            "x509",
            "openssl",
            "intermediate",
        ],
    ),
    (
        Layer::Kubernetes,
        &[
            "pod",
            "pods",
            "kubernetes",
            "kube",
            "kubectl",
            "kubelet",
            "k8s",
            "prestop",
            "readinessprobe",
        ],
    ),
    (
        Layer::Network,
        &[
            "mtu",
            "nat",
            "masquerade",
            "conntrack",
            "nf",
            "icmp",
            "pmtud",
            "iptables",
            "mss",
            "vpn",
        ],
    ),
    (
        Layer::Transport,
        &[
            "keepalive",
            "tcp",
            "syn",
            "rst",
            "close",
            "retransmission",
            "retransmissions",
            "backlog",
        ],
    ),
];

/// The layer whose keywords the text uses most; the title and alert count
/// three times. Ties go to the earlier layer in the list above.
pub(super) fn infer_layer(headline: &str, body: &str) -> Layer {
    let mut best = (0usize, Layer::Application);
    for (layer, keys) in LAYER_WORDS {
        let count = |t: &str| {
            words(t)
                .iter()
                .filter(|w| keys.contains(&w.as_str()))
                .count()
        };
        let score = 3 * count(headline) + count(body);
        if score > best.0 {
            best = (score, layer);
        }
    }
    best.1
}

/// Tags and the words that suggest them.
const TAG_WORDS: &[(&str, &[&str])] = &[
    ("502", &["502"]),
    ("nginx", &["nginx"]),
    ("keepalive", &["keepalive", "keepalivetimeout"]),
    ("timeout", &["timeout", "timeouts"]),
    ("dns", &["dns", "nslookup", "nxdomain"]),
    ("ndots", &["ndots"]),
    ("grpc", &["grpc"]),
    ("load-balancer", &["alb", "nlb", "balancer"]),
    ("tls", &["tls", "ssl", "handshake"]),
    (
        "certificate",
        &["certificate", "certificates", "intermediate"],
    ),
    ("java", &["jdk", "java", "javax"]),
    ("oom", &["oomkilled", "oom"]),
    ("readiness", &["readinessprobe", "readiness"]),
    ("close-wait", &["close_wait"]),
    ("fd", &["fd", "fds", "descriptors"]),
    ("nat", &["nat", "masquerade", "snat"]),
    ("iptables", &["iptables"]),
    ("cni", &["cni"]),
    ("latency", &["latency", "p99"]),
    ("retransmission", &["retransmission", "retransmissions"]),
    ("syn", &["syn", "syncookiessent", "syncookies"]),
    ("backoff", &["backoff", "jitter"]),
    ("mtu", &["mtu", "pmtud", "mss"]),
    ("vpn", &["vpn", "wireguard", "tun0"]),
    ("icmp", &["icmp"]),
    ("conntrack", &["conntrack", "nf_conntrack"]),
    ("kubernetes", &["kubernetes", "kubectl", "pod", "pods"]),
    ("deployment", &["deployment", "rollout", "prestop"]),
    ("tcp", &["tcp"]),
    ("memory", &["memory"]),
    ("disk", &["disk", "filesystem"]),
    ("cpu", &["cpu"]),
];

/// Up to five tags, those the title and alert suggest first, then the most
/// frequent in the body.
pub(super) fn infer_tags(headline: &str, body: &str) -> Vec<String> {
    let tokens = |t: &str| -> Vec<String> {
        let lower = t.to_lowercase();
        let mut ws = words(&lower);
        // Keep identifiers with underscores whole as well (CLOSE_WAIT).
        ws.extend(
            lower
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| w.contains('_'))
                .map(str::to_owned),
        );
        ws
    };
    let (head, rest) = (tokens(headline), tokens(body));
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    for (i, (tag, keys)) in TAG_WORDS.iter().enumerate() {
        let hits = |ws: &[String]| ws.iter().filter(|w| keys.contains(&w.as_str())).count();
        let score = 5 * hits(&head) + hits(&rest);
        if score >= 2 || hits(&head) > 0 {
            scored.push((score, i, tag));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(5)
        .map(|(_, _, t)| t.to_owned())
        .collect()
}

// ----- investigation steps -------------------------------------------------

fn is_shell(lang: &str) -> bool {
    matches!(
        lang,
        "" | "bash" | "sh" | "shell" | "console" | "zsh" | "shell-session" | "sh-session"
    )
}

/// A step made from part of a shell code block.
#[derive(Debug, Default)]
struct ScriptStep {
    title: String,
    lead: Vec<String>,
    /// Runs of commands, each with the comment lines (output, notes) after it.
    runs: Vec<(Vec<String>, Vec<String>)>,
}

const STEP_VERBS: &[&str] = &[
    "check", "test", "count", "compare", "find", "look", "inspect", "capture", "verify", "measure",
    "list", "confirm", "watch", "trace", "query", "examine", "ssh", "run", "time", "show", "get",
    "describe",
];

fn comment_text(line: &str) -> Option<&str> {
    let t = line.trim_start().strip_prefix('#')?;
    Some(t.strip_prefix(' ').unwrap_or(t))
}

/// Turns a shell code block with `# comment` lines into steps: each
/// paragraph (blank-line separated) whose comments lead to a command is one
/// step titled by its first comment.
fn script_steps(content: &str) -> Vec<ScriptStep> {
    let mut out: Vec<ScriptStep> = Vec::new();
    let paragraphs = content
        .split("\n\n")
        .flat_map(|p| p.split("\n \n"))
        .filter(|p| !p.trim().is_empty());
    for para in paragraphs {
        let lines: Vec<&str> = para.lines().filter(|l| !l.trim().is_empty()).collect();
        let lead: Vec<&str> = lines
            .iter()
            .take_while(|l| comment_text(l).is_some())
            .copied()
            .collect();
        let rest = &lines[lead.len()..];
        let comment_only = rest.is_empty();
        let first = lead
            .first()
            .and_then(|l| comment_text(l))
            .unwrap_or("")
            .trim();
        let first_word = words(first).into_iter().next().unwrap_or_default();
        let looks_like_step = STEP_VERBS.contains(&first_word.as_str()) || first.ends_with('?');
        if comment_only
            && !looks_like_step
            && let Some(prev) = out.last_mut()
        {
            let notes = lead
                .iter()
                .filter_map(|l| comment_text(l))
                .map(str::to_owned);
            match prev.runs.last_mut() {
                Some(run) => run.1.extend(notes),
                None => prev.lead.extend(notes),
            }
            continue;
        }
        if lead.is_empty()
            && let Some(prev) = out.last_mut()
        {
            prev.runs.extend(runs_of(rest));
            continue;
        }
        let mut step = ScriptStep::default();
        let mut lead_texts = lead
            .iter()
            .filter_map(|l| comment_text(l))
            .map(|t| t.trim().to_owned());
        step.title = lead_texts
            .next()
            .unwrap_or_else(|| "Run these commands.".to_owned());
        step.lead = lead_texts.collect();
        step.runs = runs_of(rest);
        out.push(step);
    }
    out
}

fn runs_of(lines: &[&str]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut runs: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for line in lines {
        match comment_text(line) {
            Some(note) if !runs.is_empty() => runs
                .last_mut()
                .map(|r| r.1.push(note.to_owned()))
                .unwrap_or(()),
            Some(_) => {}
            None => match runs.last_mut() {
                Some(run) if run.1.is_empty() => run.0.push((*line).to_owned()),
                _ => runs.push((vec![(*line).to_owned()], Vec::new())),
            },
        }
    }
    runs
}

fn title_markdown(title: &str) -> String {
    let t = title.trim().trim_end_matches(':').trim();
    let t = if t.ends_with(['.', '?', '!']) {
        t.to_owned()
    } else {
        format!("{t}.")
    };
    format!("**{}**", escape(&t))
}

fn render_script_step(n: usize, lang: &str, step: &ScriptStep) -> String {
    let mut parts = vec![title_markdown(&step.title)];
    if !step.lead.is_empty() {
        parts.push(
            step.lead
                .iter()
                .map(|l| escape(l.trim()))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    for (commands, notes) in &step.runs {
        let refs: Vec<&str> = commands.iter().map(String::as_str).collect();
        parts.push(fence(
            if lang.is_empty() { "sh" } else { lang },
            &dedent(&refs),
        ));
        let notes: Vec<&String> = notes.iter().filter(|n| !n.trim().is_empty()).collect();
        if !notes.is_empty() {
            let list = notes
                .iter()
                .map(|n| format!("- {}", code_span(n.trim())))
                .collect::<Vec<_>>()
                .join("\n");
            parts.push(format!("What it shows:\n\n{list}"));
        }
    }
    numbered(n, &parts.join("\n\n"))
}

/// One numbered list item holding `markdown`.
fn numbered(n: usize, markdown: &str) -> String {
    let marker = format!("{n}. ");
    let pad = " ".repeat(marker.len());
    let mut lines = markdown.lines();
    let mut out = format!("{marker}{}", lines.next().unwrap_or_default());
    for line in lines {
        out.push('\n');
        if !line.trim().is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

/// An investigation section as numbered steps. Existing numbered lists are
/// kept; shell code blocks are split at their `# comment` lines; a bullet
/// list becomes numbered; paragraphs followed by code become one step each;
/// anything else is kept as one step. The flag says whether the text had to
/// be kept as one step.
pub(super) fn investigation_steps(markdown: &str) -> (String, bool) {
    let markdown = markdown.trim_matches('\n');
    if markdown.trim().is_empty() || !steps(markdown).is_empty() {
        return (markdown.to_owned(), false);
    }
    let bs = blocks(markdown);
    // All shell code: split at comments.
    if bs
        .iter()
        .all(|(b, _)| matches!(b, Block::Code { lang, .. } if is_shell(lang)))
    {
        let mut items = Vec::new();
        for (b, _) in &bs {
            if let Block::Code { lang, content } = b {
                for s in script_steps(content) {
                    items.push(render_script_step(items.len() + 1, lang, &s));
                }
            }
        }
        if !items.is_empty() && items.len() >= bs.len() {
            return (items.join("\n\n"), false);
        }
    }
    // Bullet lists become numbered lists.
    if bs.iter().any(|(b, _)| *b == Block::List { ordered: false }) {
        let mut n = 0;
        let converted: Vec<String> = bs
            .iter()
            .map(|(b, text)| match b {
                Block::List { ordered: false } => bullets_to_numbers(text, &mut n),
                _ => text.clone(),
            })
            .collect();
        let out = converted.join("\n\n");
        if !steps(&out).is_empty() {
            return (out, false);
        }
    }
    // A paragraph followed by code blocks is a step.
    let has_pairs = bs
        .windows(2)
        .any(|w| w[0].0 == Block::Paragraph && matches!(w[1].0, Block::Code { .. }));
    if has_pairs {
        let mut out: Vec<String> = Vec::new();
        let mut n = 0;
        let mut i = 0;
        while i < bs.len() {
            let (b, text) = &bs[i];
            if *b == Block::Paragraph && matches!(bs.get(i + 1), Some((Block::Code { .. }, _))) {
                let mut item = text.clone();
                i += 1;
                while let Some((Block::Code { .. }, code)) = bs.get(i) {
                    item.push_str("\n\n");
                    item.push_str(code);
                    i += 1;
                }
                n += 1;
                out.push(numbered(n, &item));
            } else {
                out.push(text.clone());
                i += 1;
            }
        }
        return (out.join("\n\n"), false);
    }
    (numbered(1, markdown), true)
}

/// Rewrites one top-level bullet list as a numbered list, re-indenting item
/// continuation lines.
fn bullets_to_numbers(list: &str, n: &mut usize) -> String {
    let mut out = Vec::new();
    let mut item_indent = 2;
    for line in list.lines() {
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        let marker = ["- ", "* ", "+ "].iter().find(|m| trimmed.starts_with(**m));
        if lead < 2 && marker.is_some() {
            *n += 1;
            let rest = &trimmed[2..];
            let rest_lead = rest.len() - rest.trim_start().len();
            item_indent = lead + 2 + rest_lead;
            out.push(format!("{}. {}", n, rest.trim_start()));
        } else if line.trim().is_empty() {
            out.push(String::new());
        } else {
            let strip = lead.min(item_indent);
            let pad = " ".repeat(format!("{n}. ").len());
            out.push(format!("{pad}{}", &line[strip..]));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_become_one_line() {
        assert_eq!(one_line("```\n\"Disk is \nfull.\"\n```"), "Disk is full.");
        assert_eq!(one_line("> Pager: *link down*"), "Pager: *link down*");
    }

    #[test]
    fn first_sentences() {
        assert_eq!(
            first_sentence("The disk is full. Writes fail."),
            "The disk is full."
        );
        assert_eq!(first_sentence("Version 1.2 is out"), "Version 1.2 is out");
    }

    #[test]
    fn script_blocks_split_into_steps() {
        let md = "```bash\n# Count sockets\nss -tan | wc -l\n# 900  <- many\n\n# Peers are all one host\n# (explains it)\n\n# Which process?\nss -tanp \\\n  state close-wait\n```";
        let (out, whole) = investigation_steps(md);
        assert!(!whole);
        let s = steps(&out);
        assert_eq!(s.len(), 2, "{out}");
        assert_eq!(s[0].title, "Count sockets.");
        assert_eq!(s[0].commands, ["ss -tan | wc -l"]);
        assert!(s[0].markdown.contains("`Peers are all one host`"), "{out}");
        assert_eq!(s[1].title, "Which process?");
        assert_eq!(s[1].commands, ["ss -tanp \\\n  state close-wait"]);
    }

    #[test]
    fn bullets_and_paragraphs_become_steps() {
        let (out, _) = investigation_steps("Look first.\n\n- Check `x`.\n- Check y:\n  more\n");
        let s = steps(&out);
        assert_eq!(s.len(), 2, "{out}");
        assert!(out.starts_with("Look first."));
        let (out, _) = investigation_steps(
            "Check the pods:\n\n```sh\nkubectl get pods\n```\n\nThen logs:\n\n```sh\nkubectl logs x\n```",
        );
        let s = steps(&out);
        assert_eq!(s.len(), 2, "{out}");
        assert_eq!(s[1].commands, ["kubectl logs x"]);
        let (out, whole) = investigation_steps("Just prose.\n\nMore prose.");
        assert!(whole);
        assert_eq!(steps(&out).len(), 1);
    }

    #[test]
    fn layers_and_tags() {
        assert_eq!(
            infer_layer("Slow DNS", "ndots and resolv.conf on the pod"),
            Layer::Dns
        );
        assert_eq!(
            infer_layer("Too many open files", "CLOSE_WAIT sockets, tcp"),
            Layer::Transport
        );
        assert_eq!(infer_layer("Page is slow", "the app"), Layer::Application);
        let tags = infer_tags("CLOSE_WAIT leak", "fd fd tcp");
        assert!(tags.contains(&"close-wait".to_owned()), "{tags:?}");
        assert!(tags.contains(&"fd".to_owned()), "{tags:?}");
    }
}
