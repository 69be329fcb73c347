//! Horizontal bar charts: TCP states, DNS lookups with and without the
//! trailing dot.

use super::{Anchor, Svg, empty, human, nice_ceiling};

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Extra class for the bar (`bar` is always there).
    pub class: &'static str,
    /// Hover text; the label and value when `None`.
    pub tip: Option<String>,
}

const WIDTH: f64 = 640.0;
const LABEL_W: f64 = 190.0;
const VALUE_W: f64 = 70.0;
const ROW_H: f64 = 22.0;
const TOP: f64 = 8.0;

/// Bars from the left, one row each, scaled to the largest value; the value
/// is written after each bar, with `unit`.
pub fn horizontal(kind: &str, label: &str, bars: &[Bar], unit: &str) -> String {
    let finite: Vec<&Bar> = bars.iter().filter(|b| b.value.is_finite()).collect();
    if finite.is_empty() {
        return empty(kind, label, "nothing measured");
    }
    let max = nice_ceiling(finite.iter().map(|b| b.value).fold(0.0, f64::max));
    let plot_w = WIDTH - LABEL_W - VALUE_W;
    let height = TOP * 2.0 + ROW_H * finite.len() as f64;
    let mut svg = Svg::new(WIDTH, height, kind, label);
    for (i, bar) in finite.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let value = bar.value.max(0.0);
        let w = plot_w * value / max;
        let shown = format!("{} {unit}", human(bar.value)).trim_end().to_owned();
        let tip = bar
            .tip
            .clone()
            .unwrap_or_else(|| format!("{}: {shown}", bar.label));
        svg.text(
            "bar-label",
            LABEL_W - 8.0,
            y + 15.0,
            Anchor::End,
            &bar.label,
        );
        svg.rect("bar-track", LABEL_W, y + 3.0, plot_w, ROW_H - 6.0, None);
        let class = if bar.class.is_empty() {
            "bar".to_owned()
        } else {
            format!("bar {}", bar.class)
        };
        svg.rect(&class, LABEL_W, y + 3.0, w, ROW_H - 6.0, Some(&tip));
        svg.text(
            "bar-value",
            LABEL_W + w + 6.0,
            y + 15.0,
            Anchor::Start,
            &shown,
        );
    }
    svg.finish()
}

/// Kernel TCP states in `ss` order (unknown names after), one bar each.
pub fn tcp_states(counts: &[(String, i64)]) -> String {
    let order = |s: &str| {
        faultline_probe::report::TCP_STATES
            .iter()
            .position(|k| *k == s)
            .unwrap_or(usize::MAX)
    };
    let mut sorted: Vec<&(String, i64)> = counts.iter().collect();
    sorted.sort_by_key(|(s, _)| (order(s), s.clone()));
    let bars: Vec<Bar> = sorted
        .into_iter()
        .map(|(state, n)| Bar {
            label: state.clone(),
            value: *n as f64,
            class: match state.as_str() {
                "CLOSE_WAIT" | "SYN_RECV" | "LAST_ACK" => "bar-attention",
                _ => "",
            },
            tip: None,
        })
        .collect();
    horizontal("chart-tcp-states", "Sockets per TCP state", &bars, "")
}

/// One timed DNS lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub name: String,
    pub elapsed_ms: f64,
    pub ok: bool,
}

/// Each name with and without its trailing dot side by side: the relative
/// name walks the search list first, the absolute one does not, so the gap
/// between the two bars is the search-list penalty.
pub fn dns_lookups(lookups: &[Lookup]) -> String {
    let base = |name: &str| name.trim_end_matches('.').to_owned();
    let mut names: Vec<String> = Vec::new();
    for l in lookups {
        let b = base(&l.name);
        if !names.contains(&b) {
            names.push(b);
        }
    }
    let mut bars = Vec::new();
    for name in &names {
        for absolute in [false, true] {
            for l in lookups
                .iter()
                .filter(|l| base(&l.name) == *name && l.name.ends_with('.') == absolute)
            {
                let kind = if absolute {
                    "absolute (trailing dot)"
                } else {
                    "relative (search list)"
                };
                let outcome = if l.ok { "ok" } else { "failed" };
                bars.push(Bar {
                    label: l.name.clone(),
                    value: l.elapsed_ms,
                    class: match (l.ok, absolute) {
                        (false, _) => "bar-failed",
                        (true, true) => "bar-absolute",
                        (true, false) => "bar-relative",
                    },
                    tip: Some(format!(
                        "{}: {} ms, {kind}, {outcome}",
                        l.name,
                        super::human(l.elapsed_ms)
                    )),
                });
            }
        }
    }
    horizontal(
        "chart-dns",
        "DNS lookup time with and without the trailing dot",
        &bars,
        "ms",
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_well_formed_svg, attr_values};
    use super::*;

    #[test]
    fn bars_scale_to_a_nice_maximum() {
        let bars = vec![
            Bar {
                label: "a".into(),
                value: 50.0,
                class: "",
                tip: None,
            },
            Bar {
                label: "b".into(),
                value: 100.0,
                class: "",
                tip: None,
            },
            Bar {
                label: "c".into(),
                value: 0.0,
                class: "",
                tip: None,
            },
        ];
        let svg = horizontal("chart-t", "t", &bars, "ms");
        assert_well_formed_svg(&svg);
        let widths = attr_values(&svg, "bar", "width");
        let plot = WIDTH - LABEL_W - VALUE_W;
        assert_eq!(widths, vec![plot / 2.0, plot, 0.0]);
        assert!(svg.contains(">100 ms<"));
    }

    #[test]
    fn tcp_states_follow_kernel_order_and_escape_odd_names() {
        let counts = vec![
            ("TIME_WAIT".to_owned(), 30),
            ("<b>odd</b>".to_owned(), 1),
            ("ESTABLISHED".to_owned(), 120),
            ("CLOSE_WAIT".to_owned(), 400),
        ];
        let svg = tcp_states(&counts);
        assert_well_formed_svg(&svg);
        let est = svg.find(">ESTABLISHED<").unwrap();
        let tw = svg.find(">TIME_WAIT<").unwrap();
        let cw = svg.find(">CLOSE_WAIT<").unwrap();
        assert!(est < tw && tw < cw, "kernel order");
        assert!(svg.contains("&lt;b&gt;odd&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("class=\"bar bar-attention\""));
    }

    #[test]
    fn empty_and_non_finite_data_draw_a_message() {
        for svg in [
            tcp_states(&[]),
            dns_lookups(&[]),
            horizontal(
                "chart-t",
                "t",
                &[Bar {
                    label: "x".into(),
                    value: f64::NAN,
                    class: "",
                    tip: None,
                }],
                "",
            ),
        ] {
            assert_well_formed_svg(&svg);
            assert!(svg.contains("chart-empty"), "{svg}");
        }
    }

    #[test]
    fn dns_pairs_relative_and_absolute_names() {
        let lookups = vec![
            Lookup {
                name: "api.example.com".into(),
                elapsed_ms: 4000.0,
                ok: true,
            },
            Lookup {
                name: "db.internal.".into(),
                elapsed_ms: 2.0,
                ok: true,
            },
            Lookup {
                name: "api.example.com.".into(),
                elapsed_ms: 3.0,
                ok: true,
            },
            Lookup {
                name: "nx.invalid".into(),
                elapsed_ms: 9.0,
                ok: false,
            },
        ];
        let svg = dns_lookups(&lookups);
        assert_well_formed_svg(&svg);
        let rel = svg.find(">api.example.com<").unwrap();
        let abs = svg.find(">api.example.com.<").unwrap();
        let db = svg.find(">db.internal.<").unwrap();
        assert!(rel < abs && abs < db, "pairs stay together");
        assert!(svg.contains("bar bar-relative") && svg.contains("bar bar-absolute"));
        assert!(svg.contains("bar bar-failed"));
        assert!(svg.contains("search list"));
    }
}
