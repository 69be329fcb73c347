//! The conntrack fill gauge.

use super::{Anchor, Svg, empty, human};

/// Fill at which the gauge turns to a warning, and to critical.
pub const WARN: f64 = 0.75;
pub const CRITICAL: f64 = 0.9;

/// A horizontal gauge of `count` out of `max`, coloured by level.
pub fn conntrack_fill(count: Option<i64>, max: Option<i64>) -> String {
    let label = "Connection-tracking table fill";
    let (count, max) = match (count, max) {
        (Some(c), Some(m)) if m > 0 => (c.max(0) as f64, m as f64),
        (Some(c), _) => {
            return empty(
                "chart-gauge",
                label,
                &format!("{} entries; the table size is unknown", human(c as f64)),
            );
        }
        _ => return empty("chart-gauge", label, "no entry count"),
    };
    let fill = count / max;
    let level = if fill >= CRITICAL {
        "gauge-critical"
    } else if fill >= WARN {
        "gauge-warn"
    } else {
        "gauge-ok"
    };
    let (x, w, h) = (10.0, 620.0, 26.0);
    let mut svg = Svg::new(640.0, 74.0, "chart-gauge", label);
    let shown = format!(
        "{} of {} entries ({:.1}%)",
        human(count),
        human(max),
        fill * 100.0
    );
    svg.rect("gauge-track", x, 10.0, w, h, None);
    svg.rect(
        &format!("gauge-fill {level}"),
        x,
        10.0,
        w * fill.min(1.0),
        h,
        Some(&shown),
    );
    for (at, name) in [(WARN, "75%"), (CRITICAL, "90%")] {
        let tx = x + w * at;
        svg.line("gauge-tick", tx, 6.0, tx, 40.0);
        svg.text("axis-label", tx, 54.0, Anchor::Middle, name);
    }
    svg.text("gauge-value", x, 68.0, Anchor::Start, &shown);
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_well_formed_svg, attr_values};
    use super::*;

    #[test]
    fn fill_scales_and_levels() {
        let svg = conntrack_fill(Some(131_072), Some(262_144));
        assert_well_formed_svg(&svg);
        assert_eq!(
            attr_values(&svg, "gauge-fill gauge-ok", "width"),
            vec![310.0]
        );
        assert!(svg.contains("(50.0%)"));
        let svg = conntrack_fill(Some(250_000), Some(262_144));
        assert!(svg.contains("gauge-critical"));
        let svg = conntrack_fill(Some(200_000), Some(262_144));
        assert!(svg.contains("gauge-warn"));
        // Over the limit (racy counters): the bar stops at the end.
        let svg = conntrack_fill(Some(300), Some(100));
        assert_eq!(
            attr_values(&svg, "gauge-fill gauge-critical", "width"),
            vec![620.0]
        );
    }

    #[test]
    fn unknown_sizes_say_so() {
        for svg in [
            conntrack_fill(Some(5), None),
            conntrack_fill(Some(5), Some(0)),
            conntrack_fill(None, Some(10)),
            conntrack_fill(None, None),
        ] {
            assert_well_formed_svg(&svg);
            assert!(svg.contains("chart-empty"));
        }
    }
}
