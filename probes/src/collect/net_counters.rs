//! `net_counters`: kernel counters as deltas over the collection window, with
//! nstat names (`TcpExtListenOverflows`, `TcpRetransSegs`, …).

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::report::{NetCounters, Observation};

/// Always reported, even when unchanged, so a zero is evidence rather than absence.
const KEY_COUNTERS: &[&str] = &[
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtSyncookiesSent",
    "TcpExtTCPTimeouts",
    "TcpExtTCPAbortOnTimeout",
    "TcpRetransSegs",
    "TcpOutSegs",
    "TcpInSegs",
    "TcpActiveOpens",
    "TcpPassiveOpens",
    "TcpAttemptFails",
    "TcpEstabResets",
    "TcpOutRsts",
    "UdpRcvbufErrors",
    "UdpInErrors",
    "IpFragFails",
    "IcmpInDestUnreachs",
];

/// One reading of every counter.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    values: BTreeMap<String, i64>,
}

/// Reads /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6 now.
pub fn snapshot() -> Result<Snapshot> {
    let mut values = BTreeMap::new();
    for file in ["/proc/net/netstat", "/proc/net/snmp"] {
        let text = fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        values.extend(parse_paired(&text));
    }
    if let Ok(text) = fs::read_to_string("/proc/net/snmp6") {
        values.extend(parse_flat(&text));
    }
    Ok(Snapshot {
        at: Instant::now(),
        values,
    })
}

/// The observation for the window between two snapshots.
pub fn delta(start: &Snapshot, end: &Snapshot) -> Observation {
    let mut deltas = BTreeMap::new();
    for (name, after) in &end.values {
        let d = after - start.values.get(name).copied().unwrap_or(0);
        if d != 0 || KEY_COUNTERS.contains(&name.as_str()) {
            deltas.insert(name.clone(), d);
        }
    }
    let interval_s = end.at.duration_since(start.at).as_secs_f64();
    NetCounters { interval_s, deltas }.into()
}

/// Parses the "Prefix: names…" / "Prefix: values…" line pairs of netstat and snmp.
pub fn parse_paired(text: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((prefix, names)), Some((_, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse::<i64>() {
                out.insert(format!("{prefix}{n}"), v);
            }
        }
    }
    out
}

/// Parses "Name value" lines (/proc/net/snmp6).
pub fn parse_flat(text: &str) -> BTreeMap<String, i64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_lines_get_nstat_names() {
        let text = "TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 3 17\nTcp: RtoAlgorithm RetransSegs\nTcp: 1 42\n";
        let m = parse_paired(text);
        assert_eq!(m["TcpExtListenOverflows"], 17);
        assert_eq!(m["TcpRetransSegs"], 42);
        assert_eq!(m["TcpExtSyncookiesSent"], 3);
    }

    #[test]
    fn deltas_over_a_window_see_our_connections() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let start = snapshot().unwrap();
        let conns: Vec<_> = (0..20)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let end = snapshot().unwrap();
        let Observation::NetCounters(n) = delta(&start, &end) else {
            panic!()
        };
        assert!(n.deltas["TcpActiveOpens"] >= 20, "{:?}", n.deltas);
        assert!(
            n.deltas.contains_key("TcpExtListenOverflows"),
            "key counters always present"
        );
        assert!(n.interval_s > 0.0);
        drop(conns);
    }
}
