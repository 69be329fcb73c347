//! resolv.conf parsing with glibc's rules and limits.

use std::path::Path;

use anyhow::{Context, Result};

use crate::report::ResolvConf;

/// Reads and parses a resolv.conf file.
pub fn read(path: &Path) -> Result<ResolvConf> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&text))
}

/// Parses resolv.conf text. The last `search`/`domain` line wins, as in glibc;
/// ndots is capped at 15, timeout at 30 s, attempts at 5; at most 3 nameservers count.
pub fn parse(text: &str) -> ResolvConf {
    let mut rc = ResolvConf::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words
                    .next()
                    .filter(|ns| ns.parse::<std::net::IpAddr>().is_ok())
                    && rc.nameservers.len() < 3
                {
                    rc.nameservers.push(ns.to_string());
                }
            }
            Some("search") => {
                rc.search = words.map(|w| w.trim_end_matches('.').to_string()).collect()
            }
            Some("domain") => {
                rc.search = words
                    .next()
                    .map(|w| vec![w.to_string()])
                    .unwrap_or_default()
            }
            Some("options") => words.for_each(|o| apply_option(&mut rc, o)),
            _ => {}
        }
    }
    rc
}

fn apply_option(rc: &mut ResolvConf, option: &str) {
    let Some((name, value)) = option.split_once(':') else {
        return;
    };
    let Ok(n) = value.parse::<i64>() else { return };
    match name {
        "ndots" => rc.ndots = n.clamp(0, 15),
        "timeout" => rc.timeout_s = n.clamp(1, 30) as f64,
        "attempts" => rc.attempts = n.clamp(1, 5),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_style_file() {
        let rc = parse(
            "# generated\nnameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n\
options ndots:5 timeout:2 attempts:3 rotate\n",
        );
        assert_eq!(rc.nameservers, ["10.96.0.10"]);
        assert_eq!(rc.search.len(), 3);
        assert_eq!((rc.ndots, rc.timeout_s, rc.attempts), (5, 2.0, 3));
    }

    #[test]
    fn defaults_limits_and_last_search_wins() {
        let rc = parse(
            "search a.example\ndomain b.example\noptions ndots:99 timeout:0\nnameserver 1::1\nnameserver x\n",
        );
        assert_eq!(rc.search, ["b.example"]);
        assert_eq!(rc.ndots, 15);
        assert_eq!(rc.timeout_s, 1.0);
        assert_eq!(rc.attempts, 2);
        assert_eq!(rc.nameservers, ["1::1"]);
    }
}
