//! `conntrack`: the netfilter connection-tracking table, from /proc.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::report::{Conntrack, Observation};

/// Reads the host's conntrack state; fails (and is skipped) when the module is not loaded.
pub fn collect() -> Result<Observation> {
    collect_from(Path::new("/proc"))
}

/// Same as [`collect`] over another procfs root.
pub fn collect_from(proc_root: &Path) -> Result<Observation> {
    let sys = proc_root.join("sys/net/netfilter");
    if !sys.join("nf_conntrack_max").exists() {
        bail!(
            "nf_conntrack is not loaded ({} has no nf_conntrack_max)",
            sys.display()
        );
    }
    let read_num = |name: &str| -> Option<i64> {
        fs::read_to_string(sys.join(name)).ok()?.trim().parse().ok()
    };
    let mut c = Conntrack {
        count: read_num("nf_conntrack_count"),
        max: read_num("nf_conntrack_max"),
        timeouts: timeouts(&sys)?,
        ..Conntrack::default()
    };
    let sums = match fs::read_to_string(proc_root.join("net/stat/nf_conntrack")) {
        Ok(stat) => Some(sum_stat(&stat)),
        // Kernels without the stat file still answer `conntrack -S` over netlink.
        Err(_) => tool_output(&["-S"]).map(|t| sum_cli_stats(&t)),
    };
    if let Some(sums) = sums {
        c.drops = sums.get("drop").copied();
        c.insert_failed = sums.get("insert_failed").copied();
    }
    // The per-entry table exists only with CONFIG_NF_CONNTRACK_PROCFS.
    if let Ok(table) = fs::read_to_string(proc_root.join("net/nf_conntrack")) {
        (c.by_proto, c.tcp_states) = tally_table(&table);
    }
    Ok(c.into())
}

/// Timeout sysctls, named without the `nf_conntrack_` prefix.
fn timeouts(sys: &Path) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(sys)
        .with_context(|| format!("listing {}", sys.display()))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.contains("timeout") {
            continue;
        }
        if let Some(v) = fs::read_to_string(entry.path())
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            out.insert(name.trim_start_matches("nf_conntrack_").to_string(), v);
        }
    }
    Ok(out)
}

/// Sums each column of /proc/net/stat/nf_conntrack (a header, then one hex row per CPU).
pub fn sum_stat(text: &str) -> BTreeMap<String, i64> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for row in lines {
        for (name, hex) in header.iter().zip(row.split_whitespace()) {
            let v = i64::from_str_radix(hex, 16).unwrap_or(0);
            *sums.entry((*name).to_string()).or_default() += v;
        }
    }
    // `entries` is a global gauge repeated on every row, not a per-CPU counter.
    if let Some(first) = text.lines().nth(1)
        && let Some(i) = header.iter().position(|h| *h == "entries")
        && let Some(v) = first.split_whitespace().nth(i)
    {
        sums.insert("entries".into(), i64::from_str_radix(v, 16).unwrap_or(0));
    }
    sums
}

/// stdout of the `conntrack` tool, when it is installed and succeeds.
fn tool_output(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("conntrack")
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sums `key=value` counters over the per-CPU lines of `conntrack -S`.
pub fn sum_cli_stats(text: &str) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for pair in text.split_whitespace() {
        if let Some((k, v)) = pair.split_once('=')
            && k != "cpu"
            && let Ok(v) = v.parse::<i64>()
        {
            *sums.entry(k.to_string()).or_insert(0) += v;
        }
    }
    sums
}

/// Entries per protocol and TCP entries per state from /proc/net/nf_conntrack.
pub fn tally_table(text: &str) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let (mut by_proto, mut tcp) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        // ipv4 2 tcp 6 431999 ESTABLISHED src=… / ipv4 2 udp 17 29 src=…
        let cols: Vec<&str> = line.split_whitespace().collect();
        let Some(proto) = cols.get(2) else { continue };
        *by_proto.entry((*proto).to_string()).or_insert(0) += 1;
        if *proto == "tcp"
            && let Some(state) = cols.get(5)
        {
            *tcp.entry((*state).to_string()).or_insert(0) += 1;
        }
    }
    (by_proto, tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_columns_are_summed_over_cpus() {
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop\n\
0000002a  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000001 00000010 00000000\n\
0000002a  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000002 00000020 00000000\n";
        let s = sum_stat(text);
        assert_eq!(s["drop"], 0x30);
        assert_eq!(s["insert_failed"], 3);
        assert_eq!(s["entries"], 0x2a);
    }

    #[test]
    fn conntrack_tool_stats_are_summed() {
        let text = "cpu=0       found=0 invalid=12 insert=0 insert_failed=2 drop=7 early_drop=0 error=0 search_restart=4\n\
cpu=1       found=0 invalid=3 insert=0 insert_failed=1 drop=5 early_drop=0 error=0 search_restart=0\n";
        let s = sum_cli_stats(text);
        assert_eq!((s["drop"], s["insert_failed"], s["invalid"]), (12, 3, 15));
        assert!(!s.contains_key("cpu"));
    }

    #[test]
    fn table_lines_are_tallied() {
        let text = "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2\n\
ipv4     2 tcp      6 119 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=3 dport=2\n\
ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.3 sport=5 dport=53\n";
        let (p, t) = tally_table(text);
        assert_eq!(p["tcp"], 2);
        assert_eq!(p["udp"], 1);
        assert_eq!(t["TIME_WAIT"], 1);
    }

    #[test]
    fn fake_proc_without_module_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = collect_from(dir.path()).unwrap_err().to_string();
        assert!(err.contains("nf_conntrack is not loaded"), "{err}");
    }

    #[test]
    fn fake_proc_with_module_reads_everything() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys/net/netfilter");
        fs::create_dir_all(&sys).unwrap();
        fs::create_dir_all(dir.path().join("net/stat")).unwrap();
        fs::write(sys.join("nf_conntrack_max"), "262144\n").unwrap();
        fs::write(sys.join("nf_conntrack_count"), "262000\n").unwrap();
        fs::write(sys.join("nf_conntrack_tcp_timeout_established"), "432000\n").unwrap();
        fs::write(
            dir.path().join("net/stat/nf_conntrack"),
            "entries drop insert_failed\n1 5 1\n1 6 0\n",
        )
        .unwrap();
        let Observation::Conntrack(c) = collect_from(dir.path()).unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.count, c.max, c.drops, c.insert_failed),
            (Some(262000), Some(262144), Some(11), Some(1))
        );
        assert_eq!(c.timeouts["tcp_timeout_established"], 432000);
    }

    #[test]
    fn this_host_is_read_or_skipped_with_reason() {
        match collect() {
            Ok(Observation::Conntrack(c)) => assert!(c.max.is_some_and(|m| m > 0), "{c:?}"),
            Ok(other) => panic!("wrong kind {other:?}"),
            Err(e) => assert!(e.to_string().contains("not loaded"), "{e:#}"),
        }
    }
}
