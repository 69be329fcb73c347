//! Markdown to safe HTML.
//!
//! pulldown-cmark passes raw HTML and `javascript:` links through, so its output
//! is always sanitised with ammonia before a template marks it safe.
//!
//! Parsing is linear, but ammonia's HTML tree builder checks the whole stack
//! of open elements for each new one: 100 KB of `>>>>…` (100,000 nested
//! blockquotes) took over a minute. So nesting is bounded: documents deeper
//! than [`MAX_NESTING`] are refused where they are written (playbook and
//! postmortem parsing name the line), and anything deeper that still reaches
//! [`to_safe_html`] is shown as written, escaped, instead of rendered.

use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser, html};

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    // Keep the language class on code blocks (`language-nginx`) for styling.
    b.add_tag_attributes("code", &["class"]);
    b.add_tag_attributes("th", &["style"])
        .add_tag_attributes("td", &["style"]);
    b.link_rel(Some("noopener noreferrer"));
    b
});

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// How deep elements may nest (blockquotes, lists, emphasis, raw HTML tags
/// together). Real playbooks stay under ten; rendering cost grows with the
/// square of the depth.
pub const MAX_NESTING: usize = 32;

/// The largest playbook or postmortem text, in bytes. The built-in
/// playbooks are 10–20 KB.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Where a document first nests deeper than [`MAX_NESTING`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// 1-based line within the Markdown given.
    pub line: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the text nests more than {MAX_NESTING} levels deep here (blockquotes, lists, \
             emphasis or HTML tags inside each other); flatten it"
        )
    }
}

/// Raw HTML elements that never hold others (`<br>`), or that the HTML
/// parser closes by itself (`<p>`, `<li>`): they add no depth.
const FLAT_TAGS: [&str; 16] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "!--",
];

/// The change in depth a piece of raw HTML makes: tags opened minus closed.
fn html_depth_change(html: &str) -> isize {
    let mut change = 0;
    for tag in html.split('<').skip(1) {
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!' || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        let self_closing = tag.split('>').next().is_some_and(|t| t.ends_with('/'));
        if name.is_empty() || self_closing || FLAT_TAGS.contains(&name.as_str()) {
            continue;
        }
        change += if closing { -1 } else { 1 };
    }
    change
}

/// Checks that `markdown` nests at most [`MAX_NESTING`] deep, in linear time.
pub fn check_nesting(markdown: &str) -> Result<(), TooDeep> {
    use pulldown_cmark::Event;
    let (mut depth, mut html_depth) = (0usize, 0isize);
    for (event, range) in Parser::new_ext(markdown, options()).into_offset_iter() {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Html(h) | Event::InlineHtml(h) => {
                html_depth = (html_depth + html_depth_change(&h)).max(0);
            }
            _ => {}
        }
        if depth + html_depth.unsigned_abs() > MAX_NESTING {
            let line = markdown[..range.start].matches('\n').count() + 1;
            return Err(TooDeep { line });
        }
    }
    Ok(())
}

/// Renders Markdown to HTML with raw HTML and unsafe URLs removed. Code
/// blocks keep their text verbatim (escaped, never interpreted). Text that
/// nests too deep to render in reasonable time is shown as written.
pub fn to_safe_html(markdown: &str) -> String {
    if check_nesting(markdown).is_err() {
        return format!(
            "<p class=\"muted\">This text nests more than {MAX_NESTING} levels deep, so it is \
             shown as written.</p><pre>{}</pre>",
            ammonia::clean_text(markdown)
        );
    }
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options()));
    SANITIZER.clean(&raw).to_string()
}

/// Plain text of a Markdown fragment, for search fields and snippets.
pub fn to_plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, TagEnd};
    let mut out = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Item | TagEnd::CodeBlock | TagEnd::Heading(_),
            ) => out.push('\n'),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_and_script_links_are_removed() {
        let html = to_safe_html(
            "hi <script>alert(1)</script> [x](javascript:alert(1)) <b onclick=\"x\">b</b>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
    }

    #[test]
    fn code_blocks_are_kept_verbatim_and_escaped() {
        let html = to_safe_html("```nginx\nupstream b { keepalive 64; } <tag>\n```\n");
        assert!(html.contains("class=\"language-nginx\""), "{html}");
        assert!(
            html.contains("upstream b { keepalive 64; } &lt;tag&gt;"),
            "{html}"
        );
    }

    #[test]
    fn deep_nesting_is_found_at_its_line_and_shown_as_written() {
        let ok = format!("intro\n\n{}x\n", ">".repeat(MAX_NESTING / 2));
        assert_eq!(check_nesting(&ok), Ok(()));
        let deep = format!("intro\n\nsome text\n{}x\n", ">".repeat(5 * MAX_NESTING));
        assert_eq!(check_nesting(&deep), Err(TooDeep { line: 4 }));
        let lists = format!("a\n\n{}x\n", "- ".repeat(2 * MAX_NESTING));
        assert_eq!(check_nesting(&lists), Err(TooDeep { line: 3 }));
        let tags = format!("a\n\n{}x\n", "<div><span>".repeat(MAX_NESTING));
        assert_eq!(check_nesting(&tags), Err(TooDeep { line: 3 }));
        let flat = format!("a\n\n{}x\n", "<br><img src=x/><span>y</span>".repeat(200));
        assert_eq!(check_nesting(&flat), Ok(()));

        let html = to_safe_html(&format!("{}<script>x", ">".repeat(20_000)));
        assert!(html.contains("shown as written"), "{html}");
        assert!(html.contains("&gt;&gt;&gt;") && html.contains("&lt;script&gt;x"));
        assert!(!html.contains("<blockquote>"));
    }

    #[test]
    fn plain_text_drops_markup() {
        let text = to_plain_text("**Count** the `CLOSE_WAIT` sockets.\n\n```sh\nss -tan\n```\n");
        assert!(text.contains("Count the CLOSE_WAIT sockets."), "{text}");
        assert!(text.contains("ss -tan"), "{text}");
        assert!(!text.contains("**"));
    }
}
