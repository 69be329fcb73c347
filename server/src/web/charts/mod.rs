//! Server-rendered SVG charts: pure functions from numbers to SVG text.
//!
//! The page's Content-Security-Policy forbids inline styles, so no element
//! carries a `style` attribute: every mark has a class that `static/app.css`
//! colours (both themes). Every text that reaches the SVG goes through
//! [`escape`]. Charts scale with `viewBox` and take the page's width.

pub mod bars;
pub mod gauge;
pub mod latency;
pub mod lifetime;
pub mod postmortem;

use std::fmt::Write;

/// Escapes text for SVG/XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate: one decimal, never NaN or infinite.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".into();
    }
    let rounded = (x * 10.0).round() / 10.0;
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// A value for people: 12, 1.5, 0.25, 12.3k, 4.2M.
pub fn human(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 || x == x.trunc() {
        format!("{}", x.round() as i64)
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The smallest 1, 2 or 5 × 10^k at or above `x` (an axis maximum).
pub fn nice_ceiling(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(x.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= x * (1.0 - 1e-12) {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Text anchoring.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// An SVG document under construction.
pub(crate) struct Svg {
    buf: String,
}

impl Svg {
    /// `<svg>` with a `viewBox`, classes `chart` + `kind`, and an
    /// accessible name.
    pub fn new(width: f64, height: f64, kind: &str, label: &str) -> Svg {
        let mut buf = String::with_capacity(4096);
        let label = escape(label);
        let _ = write!(
            buf,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" \
             class=\"chart {}\" role=\"img\" aria-label=\"{label}\"><title>{label}</title>",
            num(width),
            num(height),
            escape(kind),
        );
        Svg { buf }
    }

    pub fn rect(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64, tip: Option<&str>) {
        let _ = write!(
            self.buf,
            "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
            escape(class),
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0)),
        );
        self.close_with_tip(tip, "rect");
    }

    pub fn circle(&mut self, class: &str, cx: f64, cy: f64, r: f64, tip: Option<&str>) {
        let _ = write!(
            self.buf,
            "<circle class=\"{}\" cx=\"{}\" cy=\"{}\" r=\"{}\"",
            escape(class),
            num(cx),
            num(cy),
            num(r),
        );
        self.close_with_tip(tip, "circle");
    }

    pub fn line(&mut self, class: &str, x1: f64, y1: f64, x2: f64, y2: f64) {
        let _ = write!(
            self.buf,
            "<line class=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            escape(class),
            num(x1),
            num(y1),
            num(x2),
            num(y2),
        );
    }

    pub fn text(&mut self, class: &str, x: f64, y: f64, anchor: Anchor, text: &str) {
        let _ = write!(
            self.buf,
            "<text class=\"{}\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>",
            escape(class),
            num(x),
            num(y),
            anchor.as_str(),
            escape(text),
        );
    }

    fn close_with_tip(&mut self, tip: Option<&str>, element: &str) {
        match tip {
            Some(tip) => {
                let _ = write!(self.buf, "><title>{}</title></{element}>", escape(tip));
            }
            None => self.buf.push_str("/>"),
        }
    }

    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

/// A chart with nothing to draw: a framed message, so the page keeps its
/// shape and says why.
pub(crate) fn empty(kind: &str, label: &str, message: &str) -> String {
    let mut svg = Svg::new(640.0, 60.0, &format!("{kind} chart-empty"), label);
    svg.rect("frame", 0.5, 0.5, 639.0, 59.0, None);
    svg.text("axis-label", 320.0, 35.0, Anchor::Middle, message);
    svg.finish()
}

#[cfg(test)]
pub(crate) mod testing {
    //! A small XML well-formedness check for the chart tests: balanced tags,
    //! quoted attributes, no raw `<` or `&` in text, no `style` attributes,
    //! no scripts.

    pub fn assert_well_formed_svg(svg: &str) {
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(!svg.contains("style="), "inline style in {svg}");
        assert!(!svg.to_ascii_lowercase().contains("<script"), "{svg}");
        assert!(
            !svg.contains("\"NaN") && !svg.contains("\"inf") && !svg.contains("\"-inf"),
            "bad number in {svg}"
        );
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open], svg);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack
                    .pop()
                    .unwrap_or_else(|| panic!("stray </{name}> in {svg}"));
                assert_eq!(top, name, "mismatched tags in {svg}");
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "bad tag name {name:?} in {svg}"
                );
                check_attributes(attrs, svg);
                if !self_closing {
                    stack.push(name.to_owned());
                }
            }
            rest = &rest[close + 1..];
        }
        check_text(rest, svg);
        assert!(stack.is_empty(), "unclosed {stack:?} in {svg}");
    }

    fn check_text(text: &str, svg: &str) {
        assert!(!text.contains('>'), "raw > in text {text:?} of {svg}");
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            let end = rest[amp..].find(';').expect("unterminated entity") + amp;
            let entity = &rest[amp + 1..end];
            assert!(
                matches!(entity, "amp" | "lt" | "gt" | "quot" | "#39"),
                "unknown entity &{entity}; in {svg}"
            );
            rest = &rest[end + 1..];
        }
    }

    fn check_attributes(attrs: &str, svg: &str) {
        let mut rest = attrs.trim();
        while !rest.is_empty() {
            let eq = rest
                .find("=\"")
                .unwrap_or_else(|| panic!("bad attributes {rest:?}"));
            let name = &rest[..eq];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
                "bad attribute name {name:?} in {svg}"
            );
            let value_end = rest[eq + 2..].find('"').expect("unterminated value") + eq + 2;
            let value = &rest[eq + 2..value_end];
            assert!(!value.contains('<'), "raw < in attribute of {svg}");
            check_text(value, svg);
            rest = rest[value_end + 1..].trim_start();
        }
    }

    /// The numbers in attribute `name` of every element of class `class`.
    pub fn attr_values(svg: &str, class: &str, name: &str) -> Vec<f64> {
        let needle = format!("class=\"{class}\"");
        svg.match_indices(&needle)
            .filter_map(|(i, _)| {
                let tag_end = svg[i..].find('>')? + i;
                let tag = &svg[i..tag_end];
                let key = format!(" {name}=\"");
                let start = tag.find(&key)? + key.len();
                let end = tag[start..].find('"')? + start;
                tag[start..end].parse().ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::assert_well_formed_svg;
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>x</script> & \"q\" 'a'"),
            "&lt;script&gt;x&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;"
        );
        assert_eq!(escape("bell\u{7}"), "bell\u{fffd}");
    }

    #[test]
    fn numbers_are_finite_and_short() {
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(human(1234.0), "1234");
        assert_eq!(human(12_345.0), "12.3k");
        assert_eq!(human(0.256), "0.26");
        assert_eq!(human(2.5), "2.5");
    }

    #[test]
    fn nice_ceilings() {
        for (x, want) in [
            (0.0, 1.0),
            (-3.0, 1.0),
            (0.7, 1.0),
            (1.0, 1.0),
            (1.1, 2.0),
            (3.0, 5.0),
            (7.0, 10.0),
            (120.0, 200.0),
            (65_536.0, 100_000.0),
        ] {
            assert_eq!(nice_ceiling(x), want, "{x}");
        }
    }

    #[test]
    fn the_builder_escapes_and_closes() {
        let mut svg = Svg::new(100.0, 50.0, "chart-x", "a <b> & \"c\"");
        svg.rect("bar", 0.0, 0.0, 10.0, -5.0, Some("</title><script>"));
        svg.text("t", 1.0, 2.0, Anchor::End, "x < y");
        let svg = svg.finish();
        assert_well_formed_svg(&svg);
        assert!(svg.contains("height=\"0\""), "negative sizes clamp to 0");
        assert!(svg.contains("&lt;/title&gt;&lt;script&gt;"));
        assert_well_formed_svg(&empty("chart-x", "<x>", "no <data>"));
    }
}
