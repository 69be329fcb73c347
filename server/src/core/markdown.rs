//! Markdown to safe HTML.
//!
//! pulldown-cmark passes raw HTML and `javascript:` links through, so its output
//! is always sanitised with ammonia before a template marks it safe.

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

/// Renders Markdown to HTML with raw HTML and unsafe URLs removed. Code
/// blocks keep their text verbatim (escaped, never interpreted).
pub fn to_safe_html(markdown: &str) -> String {
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
    fn plain_text_drops_markup() {
        let text = to_plain_text("**Count** the `CLOSE_WAIT` sockets.\n\n```sh\nss -tan\n```\n");
        assert!(text.contains("Count the CLOSE_WAIT sockets."), "{text}");
        assert!(text.contains("ss -tan"), "{text}");
        assert!(!text.contains("**"));
    }
}
