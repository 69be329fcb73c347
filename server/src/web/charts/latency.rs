//! HTTP latency over time, with the p50 and p99 lines, and a heat strip of
//! the 60 seconds of the minute (periodic saturation shows as a hot column
//! at the same second every minute).

use chrono::{DateTime, Utc};

use super::{Anchor, Svg, empty, human, nice_ceiling};

const WIDTH: f64 = 640.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 630.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 182.0;
const STRIP_Y: f64 = 222.0;
const STRIP_H: f64 = 22.0;
const HEIGHT: f64 = 270.0;
/// Points drawn at most; more samples are thinned evenly.
const MAX_POINTS: usize = 2000;

/// Nearest-rank percentile of unsorted values (`p` in 0..=100).
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

/// The heat level of a second-of-minute cell: its mean latency against the
/// overall median.
pub fn heat_level(mean_ms: f64, p50_ms: f64) -> u8 {
    let ratio = if p50_ms > 0.0 { mean_ms / p50_ms } else { 1.0 };
    match ratio {
        r if r < 1.5 => 0,
        r if r < 2.0 => 1,
        r if r < 4.0 => 2,
        r if r < 8.0 => 3,
        _ => 4,
    }
}

fn clock(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .map_or_else(|| "?".into(), |t| t.format("%H:%M:%S").to_string())
}

/// `samples` are `[unix_ms, latency_ms, status]` (status 0: transport error).
pub fn over_time(target: &str, samples: &[(i64, f64, i64)]) -> String {
    let label = format!("HTTP latency of {target} over time");
    let samples: Vec<(i64, f64, i64)> = samples
        .iter()
        .copied()
        .filter(|(t, ms, _)| *t >= 0 && ms.is_finite() && *ms >= 0.0)
        .collect();
    if samples.is_empty() {
        return empty("chart-latency", &label, "no samples");
    }
    let latencies: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let p50 = percentile(&latencies, 50.0).unwrap_or(0.0);
    let p99 = percentile(&latencies, 99.0).unwrap_or(0.0);
    let y_max = nice_ceiling(latencies.iter().copied().fold(0.0, f64::max));
    let t0 = samples.iter().map(|s| s.0).min().unwrap_or(0);
    let t1 = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| {
        if t1 == t0 {
            (LEFT + RIGHT) / 2.0
        } else {
            LEFT + (RIGHT - LEFT) * (t - t0) as f64 / span
        }
    };
    let y = |ms: f64| BOTTOM - (BOTTOM - TOP) * (ms / y_max).min(1.0);

    let mut svg = Svg::new(WIDTH, HEIGHT, "chart-latency", &label);
    svg.line("axis", LEFT, TOP, LEFT, BOTTOM);
    svg.line("axis", LEFT, BOTTOM, RIGHT, BOTTOM);
    svg.text(
        "axis-label",
        LEFT - 6.0,
        TOP + 4.0,
        Anchor::End,
        &format!("{} ms", human(y_max)),
    );
    svg.text("axis-label", LEFT - 6.0, BOTTOM, Anchor::End, "0");
    svg.text("axis-label", LEFT, BOTTOM + 16.0, Anchor::Start, &clock(t0));
    svg.text("axis-label", RIGHT, BOTTOM + 16.0, Anchor::End, &clock(t1));

    let stride = samples.len().div_ceil(MAX_POINTS).max(1);
    for (t, ms, status) in samples.iter().step_by(stride) {
        let error = *status == 0 || *status >= 500;
        let class = if error { "pt pt-error" } else { "pt" };
        let what = if *status == 0 {
            "transport error".to_owned()
        } else {
            format!("HTTP {status}")
        };
        svg.circle(
            class,
            x(*t),
            y(*ms),
            2.2,
            Some(&format!("{} — {} ms, {what}", clock(*t), human(*ms))),
        );
    }
    for (value, name, class) in [
        (p50, "p50", "pct-line pct-p50"),
        (p99, "p99", "pct-line pct-p99"),
    ] {
        let py = y(value);
        svg.line(class, LEFT, py, RIGHT, py);
        svg.text(
            "pct-label",
            RIGHT - 2.0,
            py - 3.0,
            Anchor::End,
            &format!("{name} {} ms", human(value)),
        );
    }

    // Second-of-minute heat strip.
    let mut cells = [(0usize, 0.0f64); 60];
    for (t, ms, _) in &samples {
        let second = (t.div_euclid(1000) % 60) as usize;
        cells[second].0 += 1;
        cells[second].1 += ms;
    }
    svg.text(
        "axis-label",
        LEFT,
        STRIP_Y - 8.0,
        Anchor::Start,
        "mean latency by second of the minute",
    );
    let cell_w = (RIGHT - LEFT) / 60.0;
    for (second, (n, sum)) in cells.iter().enumerate() {
        let cx = LEFT + cell_w * second as f64;
        if *n == 0 {
            svg.rect(
                "heat heat-none",
                cx,
                STRIP_Y,
                cell_w - 1.0,
                STRIP_H,
                Some(&format!(":{second:02} — no samples")),
            );
        } else {
            let mean = sum / *n as f64;
            svg.rect(
                &format!("heat heat-{}", heat_level(mean, p50)),
                cx,
                STRIP_Y,
                cell_w - 1.0,
                STRIP_H,
                Some(&format!(
                    ":{second:02} — {n} samples, mean {} ms",
                    human(mean)
                )),
            );
        }
    }
    for second in [0, 15, 30, 45] {
        svg.text(
            "axis-label",
            LEFT + cell_w * second as f64,
            STRIP_Y + STRIP_H + 14.0,
            Anchor::Start,
            &format!(":{second:02}"),
        );
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_well_formed_svg, attr_values};
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[f64::NAN, 3.0], 50.0), Some(3.0));
    }

    #[test]
    fn periodic_spike_heats_one_second_of_the_minute() {
        // Ten minutes, a sample every second; at :00 of every minute, 900 ms.
        let t0 = 1_800_000_000_000i64;
        let samples: Vec<(i64, f64, i64)> = (0..600)
            .map(|i| {
                let ms = if i % 60 == 0 { 900.0 } else { 20.0 };
                (t0 + i * 1000, ms, 200)
            })
            .collect();
        let svg = over_time("http://svc/<x>", &samples);
        assert_well_formed_svg(&svg);
        assert_eq!(svg.matches("class=\"heat ").count(), 60);
        assert_eq!(svg.matches("heat heat-4").count(), 1);
        assert_eq!(svg.matches("heat heat-0").count(), 59);
        assert!(svg.contains("p50 20 ms"), "{svg}");
        assert!(svg.contains("p99 900 ms"));
        assert!(svg.contains("http://svc/&lt;x&gt;"));
        // y scale: 900 ms tops out at the nice ceiling of 1000 ms.
        let p99_y = attr_values(&svg, "pct-line pct-p99", "y1")[0];
        assert!(
            (p99_y - (BOTTOM - (BOTTOM - TOP) * 0.9)).abs() < 0.11,
            "{p99_y}"
        );
        let xs = attr_values(&svg, "pt", "cx");
        assert_eq!(xs.len(), 600);
        assert_eq!(xs[0], LEFT);
        assert!(
            (xs[1] - (LEFT + (RIGHT - LEFT) / 599.0)).abs() < 0.051,
            "{}",
            xs[1]
        );
        assert_eq!(xs[599], RIGHT);
    }

    #[test]
    fn errors_are_marked_and_big_inputs_thinned() {
        let samples: Vec<(i64, f64, i64)> = (0..10_000)
            .map(|i| (i * 10, 5.0, if i % 1000 == 0 { 0 } else { 200 }))
            .collect();
        let svg = over_time("t", &samples);
        assert_well_formed_svg(&svg);
        assert!(svg.matches("<circle").count() <= MAX_POINTS);
        assert!(svg.contains("pt pt-error"));
    }

    #[test]
    fn empty_and_single_samples() {
        let svg = over_time("t", &[]);
        assert_well_formed_svg(&svg);
        assert!(svg.contains("no samples"));
        let svg = over_time("t", &[(5, f64::NAN, 200), (-1, 3.0, 200)]);
        assert!(svg.contains("chart-empty"));
        let svg = over_time("t", &[(1_000, 3.0, 200)]);
        assert_well_formed_svg(&svg);
        assert_eq!(attr_values(&svg, "pt", "cx"), vec![(LEFT + RIGHT) / 2.0]);
    }

    #[test]
    fn heat_levels() {
        assert_eq!(heat_level(10.0, 10.0), 0);
        assert_eq!(heat_level(18.0, 10.0), 1);
        assert_eq!(heat_level(30.0, 10.0), 2);
        assert_eq!(heat_level(70.0, 10.0), 3);
        assert_eq!(heat_level(900.0, 10.0), 4);
        assert_eq!(heat_level(5.0, 0.0), 0);
    }
}
