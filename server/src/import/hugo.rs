//! Hugo's cross-reference shortcodes, `{{< ref "Other.md" >}}` and
//! `{{< relref ... >}}` (also written with `%` delimiters), as runbook sites
//! built with Hugo use them to point from one page to another. An import
//! turns each into a link to the playbook the target file became, or, when
//! the target was not imported, keeps the link's words as plain text.

use std::ops::Range;

/// One shortcode: its byte range in the text and the path it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ref {
    pub range: Range<usize>,
    pub target: String,
}

/// Every `ref` / `relref` shortcode in `text`, in order.
pub(super) fn refs(text: &str) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("{{") {
        let start = at + found;
        match parse_at(text, start) {
            Some(r) => {
                at = r.range.end;
                out.push(r);
            }
            None => at = start + 2,
        }
    }
    out
}

/// Parses `{{< ref "x" >}}` (or `{{% relref x %}}`) starting at `start`.
fn parse_at(text: &str, start: usize) -> Option<Ref> {
    let rest = &text[start + 2..];
    let delim = match rest.chars().next()? {
        '<' => '>',
        '%' => '%',
        _ => return None,
    };
    let mut s = rest[1..].trim_start();
    let name_len = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    if !matches!(&s[..name_len], "ref" | "relref") {
        return None;
    }
    s = &s[name_len..];
    if !s.starts_with(char::is_whitespace) {
        return None;
    }
    s = s.trim_start();
    let target = if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        let t = &q[..end];
        s = &q[end + 1..];
        t
    } else {
        let end = s.find(|c: char| c.is_whitespace() || c == delim)?;
        let t = &s[..end];
        s = &s[end..];
        t
    };
    if target.is_empty() || target.contains('\n') {
        return None;
    }
    let close = format!("{delim}}}}}");
    let s = s.trim_start();
    if !s.starts_with(&close) {
        return None;
    }
    let end = text.len() - s.len() + close.len();
    Some(Ref {
        range: start..end,
        target: target.to_owned(),
    })
}

/// Replaces every shortcode: where `resolve` names the playbook id its
/// target became, with `/playbooks/<id>`; otherwise the whole Markdown link
/// around it becomes its words (a bare shortcode, the target in code).
/// Returns the text and a warning per link left as text.
pub(super) fn rewrite(
    text: &str,
    resolve: impl Fn(&str) -> Option<String>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut warnings = Vec::new();
    let mut copied = 0;
    for r in refs(text) {
        let in_link = text[..r.range.start].ends_with("](") && text[r.range.end..].starts_with(')');
        match resolve(&r.target) {
            Some(id) => {
                out.push_str(&text[copied..r.range.start]);
                if in_link {
                    out.push_str(&format!("/playbooks/{id}"));
                } else {
                    out.push_str(&format!("[{id}](/playbooks/{id})"));
                }
                copied = r.range.end;
            }
            None => {
                warnings.push(format!(
                    "link to `{}` kept as text: that file was not imported as a playbook",
                    r.target
                ));
                let label_start = if in_link {
                    label_start(text, r.range.start - 2)
                } else {
                    None
                };
                match label_start {
                    Some(open) if open >= copied => {
                        out.push_str(&text[copied..open]);
                        out.push_str(&text[open + 1..r.range.start - 2]);
                        copied = r.range.end + 1;
                    }
                    _ => {
                        out.push_str(&text[copied..r.range.start]);
                        out.push('`');
                        out.push_str(&r.target);
                        out.push('`');
                        copied = r.range.end;
                    }
                }
            }
        }
    }
    out.push_str(&text[copied..]);
    (out, warnings)
}

/// The `[` opening the link label that ends with the `]` at `close`.
fn label_start(text: &str, close: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(close) != Some(&b']') {
        return None;
    }
    let mut depth = 0usize;
    for i in (0..close).rev() {
        match bytes[i] {
            b']' => depth += 1,
            b'[' if depth == 0 => return Some(i),
            b'[' => depth -= 1,
            b'\n' if i > 0 && bytes[i - 1] == b'\n' => return None,
            _ => {}
        }
    }
    None
}

/// The destinations of Markdown inline links in `text` (`[..](dest)`).
pub(super) fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("](") {
        let start = at + found + 2;
        match text[start..].find(')') {
            Some(end) => {
                let dest = text[start..start + end].trim();
                if !dest.is_empty() && !dest.contains('\n') {
                    out.push(dest.to_owned());
                }
                at = start + end;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_both_shortcodes_and_delimiters() {
        let text = "a {{< ref \"./A.md\" >}} b {{% relref B.md %}} c {{< figure src=\"x\" >}} {{<relref \"d/C\">}}";
        let got: Vec<_> = refs(text).into_iter().map(|r| r.target).collect();
        assert_eq!(got, ["./A.md", "B.md", "d/C"]);
        assert!(refs("{{< ref >}} {{< ref \"x\" %}} {{ ref \"x\" }}").is_empty());
    }

    #[test]
    fn resolved_refs_become_playbook_links() {
        let text = "See [the other one]({{< ref \"./Other.md\" >}}) for more.\nAlso {{< relref \"Other.md\" >}}.";
        let (out, warnings) = rewrite(text, |t| t.ends_with("Other.md").then(|| "other".into()));
        assert_eq!(
            out,
            "See [the other one](/playbooks/other) for more.\nAlso [other](/playbooks/other)."
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn unresolved_refs_keep_their_words() {
        let text = "See [Disk [raid] page]({{< ref \"./Gone.md\" >}}) and {{< ref \"Gone.md\" >}}.";
        let (out, warnings) = rewrite(text, |_| None);
        assert_eq!(out, "See Disk [raid] page and `Gone.md`.");
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("`./Gone.md`"), "{warnings:?}");
    }

    #[test]
    fn link_targets_are_listed() {
        assert_eq!(
            link_targets("See [a](/playbooks/a) and [b](https://x.example/b)."),
            ["/playbooks/a", "https://x.example/b"]
        );
    }
}
