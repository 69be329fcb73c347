//! Small statistics the signals need: percentiles, clusters, bursts and
//! periods. Inputs are plain slices so each can be tested on its own.

/// The `q` quantile (0..=1) by nearest rank; None for no data.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// The largest group of values that lie within `tolerance(value)` of their
/// neighbour, as (median, size). Connection endings cut by one timer form one
/// tight group; natural endings spread out.
pub fn dominant_cluster(values: &[f64], tolerance: impl Fn(f64) -> f64) -> Option<(f64, usize)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mut best: Option<&[f64]> = None;
    let mut start = 0;
    for i in 1..=v.len() {
        let split = i == v.len() || v[i] - v[i - 1] > tolerance(v[i - 1]);
        if split {
            let group = &v[start..i];
            if best.is_none_or(|b| group.len() > b.len()) {
                best = Some(group);
            }
            start = i;
        }
    }
    best.map(|g| (g[g.len() / 2], g.len()))
}

/// Groups sorted times (ms) into bursts separated by more than `gap_ms`;
/// returns the start of each burst and its size.
pub fn bursts(times_ms: &[i64], gap_ms: i64) -> Vec<(i64, usize)> {
    let mut t = times_ms.to_vec();
    t.sort_unstable();
    let mut out: Vec<(i64, usize)> = Vec::new();
    let mut last = None;
    for x in t {
        match (last, out.last_mut()) {
            (Some(prev), Some(burst)) if x - prev <= gap_ms => burst.1 += 1,
            _ => out.push((x, 1)),
        }
        last = Some(x);
    }
    out
}

/// The regular interval between burst starts, when there is one: at least
/// three bursts, gaps within 20 % of their median.
pub fn period_s(starts_ms: &[i64]) -> Option<f64> {
    if starts_ms.len() < 3 {
        return None;
    }
    let gaps: Vec<f64> = starts_ms
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1000.0)
        .collect();
    let median = quantile(&gaps, 0.5)?;
    let regular = median > 0.0 && gaps.iter().all(|g| (g - median).abs() <= median * 0.2);
    regular.then_some(median)
}

/// The most common second (modulo `modulus` seconds) at which bursts start,
/// and the share of bursts within 2 s of it (circularly).
pub fn alignment(starts_ms: &[i64], modulus: f64) -> Option<(f64, f64)> {
    if starts_ms.is_empty() || modulus < 1.0 {
        return None;
    }
    let secs: Vec<f64> = starts_ms
        .iter()
        .map(|t| (*t as f64 / 1000.0).rem_euclid(modulus))
        .collect();
    let near = |a: f64, b: f64| {
        let d = (a - b).abs();
        d.min(modulus - d) <= 2.0
    };
    let best = secs
        .iter()
        .copied()
        .max_by_key(|c| secs.iter().filter(|s| near(**s, *c)).count())?;
    let share = secs.iter().filter(|s| near(**s, best)).count() as f64 / secs.len() as f64;
    Some((best.floor(), share))
}

/// a / b, or None when b is zero.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_tight_group_wins_over_scattered_values() {
        let v = [3.0, 60.01, 17.0, 60.02, 59.99, 120.0, 60.0];
        let (centre, size) = dominant_cluster(&v, |_| 0.5).unwrap();
        assert_eq!(size, 4);
        assert!((centre - 60.01).abs() < 0.02, "{centre}");
    }

    #[test]
    fn bursts_periods_and_alignment() {
        // Slow samples at :00 and :30 of every minute, two each.
        let starts: Vec<i64> = (0..6)
            .flat_map(|i| [i * 30_000, i * 30_000 + 400])
            .collect();
        let b = bursts(&starts, 2_000);
        assert_eq!(b.len(), 6);
        assert!(b.iter().all(|(_, n)| *n == 2));
        let s: Vec<i64> = b.iter().map(|(t, _)| *t).collect();
        assert_eq!(period_s(&s), Some(30.0));
        let (second, share) = alignment(&s, 30.0).unwrap();
        assert_eq!((second, share), (0.0, 1.0));
        assert_eq!(period_s(&[0, 30_000, 95_000]), None, "irregular");
    }
}
