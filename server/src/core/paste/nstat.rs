//! `nstat` / `nstat -az`: `Name value rate` rows under `#kernel`.

use std::collections::BTreeMap;

use faultline_probe::report::NetCounters;

use super::{Block, Claim, Found, count};

/// Counter families the kernel exports (`TcpExt…`, `IpExt…`, `Udp6…`).
const FAMILIES: &[&str] = &["Ip", "Icmp", "Tcp", "Udp", "MPTcp", "Sctp", "Xfrm"];

fn row(line: &str) -> Option<(String, i64)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [name, value, rate] = w.as_slice() else {
        return None;
    };
    let known = FAMILIES.iter().any(|f| name.starts_with(f));
    let word = name.chars().all(|c| c.is_ascii_alphanumeric());
    (known && word && rate.parse::<f64>().is_ok()).then_some(())?;
    Some((name.to_string(), count(value)?))
}

/// The counters as printed. nstat shows deltas since its last run (absolute
/// values with `-a`); the window is not in the output, so `interval_s` is 0
/// ("unknown").
pub fn parse(block: &Block) -> Option<Claim> {
    let mut lines = Vec::new();
    let mut deltas = BTreeMap::new();
    for (i, line) in block.lines.iter().enumerate() {
        if line.trim() == "#kernel" {
            lines.push(i);
        } else if let Some((name, v)) = row(line) {
            deltas.insert(name, v);
            lines.push(i);
        }
    }
    if deltas.is_empty() {
        return None;
    }
    Some(Claim::new(
        lines,
        vec![Found {
            obs: NetCounters {
                interval_s: 0.0,
                deltas,
            }
            .into(),
            format: "nstat",
        }],
    ))
}
