//! Connection-lifetime histogram with a marker where most connections end
//! (an exact-time cluster points at a timer: an idle timeout, a NAT or
//! conntrack expiry).

use super::{Anchor, Svg, empty, human, nice_ceiling};

const WIDTH: f64 = 640.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 630.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 170.0;
const HEIGHT: f64 = 196.0;
const BINS: usize = 40;

/// A vertical marker on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at_s: f64,
    pub label: String,
}

/// One connection: how long it lived and how it ended (`rst`, `fin`,
/// `timeout`, `open`).
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetime {
    pub duration_s: f64,
    pub ended_by: String,
}

fn bin_width(max: f64) -> f64 {
    nice_ceiling(max / BINS as f64).max(0.001)
}

/// Where the dominant cluster of endings is: the fullest bin's median
/// duration, when that bin holds at least half the ended connections (an
/// "open" connection did not end, so it is not counted).
pub fn dominant_cluster(lifetimes: &[Lifetime]) -> Option<f64> {
    let ended: Vec<f64> = lifetimes
        .iter()
        .filter(|l| l.ended_by != "open" && l.duration_s.is_finite() && l.duration_s >= 0.0)
        .map(|l| l.duration_s)
        .collect();
    if ended.len() < 2 {
        return None;
    }
    let width = bin_width(ended.iter().copied().fold(0.0, f64::max));
    let mut bins: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
    for d in &ended {
        bins.entry((d / width).floor() as i64).or_default().push(*d);
    }
    let (_, mut fullest) = bins.into_iter().max_by_key(|(k, v)| (v.len(), -k))?;
    if fullest.len() * 2 < ended.len() {
        return None;
    }
    fullest.sort_by(f64::total_cmp);
    Some(fullest[fullest.len() / 2])
}

/// A histogram of lifetimes, each bin coloured by how most of its
/// connections ended, with an optional marker.
pub fn histogram(target: &str, lifetimes: &[Lifetime], marker: Option<&Marker>) -> String {
    let label = format!("Connection lifetimes to {target}");
    let valid: Vec<&Lifetime> = lifetimes
        .iter()
        .filter(|l| l.duration_s.is_finite() && l.duration_s >= 0.0)
        .collect();
    if valid.is_empty() {
        return empty("chart-lifetime", &label, "no connections");
    }
    let longest = valid.iter().map(|l| l.duration_s).fold(0.0, f64::max);
    let width = bin_width(longest.max(marker.map_or(0.0, |m| m.at_s)));
    let x_max = width * BINS as f64;
    let mut bins: Vec<Vec<&Lifetime>> = vec![Vec::new(); BINS];
    for l in &valid {
        let i = ((l.duration_s / width).floor() as usize).min(BINS - 1);
        bins[i].push(l);
    }
    let y_max = nice_ceiling(bins.iter().map(Vec::len).max().unwrap_or(1) as f64);
    let x = |s: f64| LEFT + (RIGHT - LEFT) * (s / x_max).min(1.0);
    let bar_w = (RIGHT - LEFT) / BINS as f64;

    let mut svg = Svg::new(WIDTH, HEIGHT, "chart-lifetime", &label);
    svg.line("axis", LEFT, BOTTOM, RIGHT, BOTTOM);
    svg.text(
        "axis-label",
        LEFT - 6.0,
        TOP + 4.0,
        Anchor::End,
        &human(y_max),
    );
    svg.text("axis-label", LEFT - 6.0, BOTTOM, Anchor::End, "0");
    svg.text("axis-label", LEFT, BOTTOM + 16.0, Anchor::Start, "0 s");
    svg.text(
        "axis-label",
        RIGHT,
        BOTTOM + 16.0,
        Anchor::End,
        &format!("{} s", human(x_max)),
    );
    for (i, bin) in bins.iter().enumerate() {
        if bin.is_empty() {
            continue;
        }
        let mut endings: Vec<(&str, usize)> = Vec::new();
        for l in bin {
            match endings.iter_mut().find(|(e, _)| *e == l.ended_by) {
                Some((_, n)) => *n += 1,
                None => endings.push((&l.ended_by, 1)),
            }
        }
        endings.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let class = match endings[0].0 {
            "rst" => "bar bar-rst",
            "fin" => "bar bar-fin",
            "timeout" => "bar bar-timeout",
            "open" => "bar bar-open",
            _ => "bar",
        };
        let h = (BOTTOM - TOP) * bin.len() as f64 / y_max;
        let from = width * i as f64;
        let tip = format!(
            "{}–{} s: {} connection(s), {}",
            human(from),
            human(from + width),
            bin.len(),
            endings
                .iter()
                .map(|(e, n)| format!("{n} {e}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        svg.rect(
            class,
            LEFT + bar_w * i as f64 + 0.5,
            BOTTOM - h,
            bar_w - 1.0,
            h,
            Some(&tip),
        );
    }
    if let Some(m) = marker.filter(|m| m.at_s.is_finite() && m.at_s >= 0.0) {
        let mx = x(m.at_s);
        svg.line("marker", mx, TOP - 6.0, mx, BOTTOM);
        let anchor = if mx > (LEFT + RIGHT) / 2.0 {
            Anchor::End
        } else {
            Anchor::Start
        };
        let tx = if matches!(anchor, Anchor::End) {
            mx - 4.0
        } else {
            mx + 4.0
        };
        svg.text("marker-label", tx, TOP - 10.0 + 12.0, anchor, &m.label);
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_well_formed_svg, attr_values};
    use super::*;

    fn l(d: f64, e: &str) -> Lifetime {
        Lifetime {
            duration_s: d,
            ended_by: e.into(),
        }
    }

    #[test]
    fn sixty_second_resets_make_the_dominant_cluster() {
        let mut lifetimes: Vec<Lifetime> = (0..20)
            .map(|i| l(60.0 + f64::from(i) * 0.01, "rst"))
            .collect();
        lifetimes.extend([l(3.0, "fin"), l(12.0, "fin"), l(95.0, "open")]);
        let at = dominant_cluster(&lifetimes).unwrap();
        assert!((60.0..60.2).contains(&at), "{at}");
        let marker = Marker {
            at_s: at,
            label: "most end at ≈ 60 s <idle timeout>".into(),
        };
        let svg = histogram("10.0.0.1:443", &lifetimes, Some(&marker));
        assert_well_formed_svg(&svg);
        assert!(svg.contains("bar bar-rst") && svg.contains("bar bar-fin"));
        assert!(svg.contains("&lt;idle timeout&gt;"));
        // The marker sits at 60 s on a 0..100 s axis (bins of 2.5 s... 95/40 → 5 s).
        let mx = attr_values(&svg, "marker", "x1")[0];
        let x_max = bin_width(95.0) * BINS as f64;
        assert!(
            (mx - (LEFT + (RIGHT - LEFT) * at / x_max)).abs() < 0.11,
            "{mx}"
        );
        // The 60 s bar is the tallest: full height.
        let heights = attr_values(&svg, "bar bar-rst", "height");
        assert_eq!(heights.len(), 1);
        assert!(heights[0] > (BOTTOM - TOP) * 0.5);
    }

    #[test]
    fn varied_lifetimes_have_no_dominant_cluster() {
        let lifetimes: Vec<Lifetime> = (1..=30).map(|i| l(f64::from(i * 7 % 97), "fin")).collect();
        assert_eq!(dominant_cluster(&lifetimes), None);
        assert_eq!(dominant_cluster(&[l(5.0, "rst")]), None);
        assert_eq!(dominant_cluster(&[l(5.0, "open"), l(5.0, "open")]), None);
        assert_well_formed_svg(&histogram("t", &lifetimes, None));
    }

    #[test]
    fn empty_and_bad_values() {
        let svg = histogram("t", &[], None);
        assert_well_formed_svg(&svg);
        assert!(svg.contains("no connections"));
        let svg = histogram("t", &[l(f64::NAN, "rst"), l(-1.0, "fin")], None);
        assert!(svg.contains("chart-empty"));
        let svg = histogram("t", &[l(0.0, "rst")], None);
        assert_well_formed_svg(&svg);
    }
}
