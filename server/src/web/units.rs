//! Numbers as a person reads them on a page: durations in the largest units
//! that fit, sizes in binary units, and only the digits that tell something
//! (`2 s`, not `2.00183144 s`).

/// `n` with at most `digits` decimals below 1, two from 1 to 10, one from 10
/// to 100 and none above; trailing zeros dropped.
pub fn trim_float(n: f64, digits: usize) -> String {
    if !n.is_finite() {
        return "–".into();
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{n:.0}");
    }
    let a = n.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        digits.min(1)
    } else if a >= 1.0 {
        digits.min(2)
    } else {
        digits
    };
    let s = format!("{n:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A duration given in seconds: `12 ms`, `2.5 s`, `4 min 5 s`, `3 h 20 min`,
/// `5 days`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return "–".into();
    }
    if s < 0.0 {
        return format!("-{}", seconds(-s));
    }
    if s > 0.0 && s < 1.0 {
        return format!("{} ms", trim_float(s * 1000.0, 1));
    }
    if s < 60.0 {
        return format!("{} s", trim_float(s, 1));
    }
    let whole = s.round() as u64;
    let (d, h, m, sec) = (
        whole / 86_400,
        whole % 86_400 / 3600,
        whole % 3600 / 60,
        whole % 60,
    );
    let pair = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a} {ua}")
        } else {
            format!("{a} {ua} {b} {ub}")
        }
    };
    if d > 0 {
        pair(d, if d == 1 { "day" } else { "days" }, h, "h")
    } else if h > 0 {
        pair(h, "h", m, "min")
    } else {
        pair(m, "min", sec, "s")
    }
}

/// A size in bytes: `512 B`, `1.5 KiB`, `3 MiB`.
pub fn bytes(n: f64) -> String {
    if !n.is_finite() {
        return "–".into();
    }
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} {}", trim_float(v, 1), UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_the_digits_that_tell() {
        assert_eq!(trim_float(2.00183144, 3), "2");
        assert_eq!(trim_float(0.16833, 3), "0.168");
        assert_eq!(trim_float(12.345, 3), "12.3");
        assert_eq!(trim_float(301.0, 3), "301");
        assert_eq!(trim_float(1234.56, 3), "1235");
        assert_eq!(trim_float(f64::NAN, 3), "–");
    }

    #[test]
    fn durations_read_in_large_units() {
        assert_eq!(seconds(2.00183144), "2 s");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(0.0), "0 s");
        assert_eq!(seconds(45.5), "45.5 s");
        assert_eq!(seconds(60.0), "1 min");
        assert_eq!(seconds(125.0), "2 min 5 s");
        assert_eq!(seconds(3.0 * 3600.0 + 20.0 * 60.0 + 7.0), "3 h 20 min");
        assert_eq!(seconds(432_000.0), "5 days");
        assert_eq!(seconds(86_400.0 + 7200.0), "1 day 2 h");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3 MiB");
    }
}
