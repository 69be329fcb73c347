//! Conntrack table full: a namespace's connection-tracking table filled to
//! the limit with assured TIME_WAIT entries (loaded with `conntrack -R`),
//! then new connections made inside it, which the kernel can no longer
//! track and drops.
//!
//! This kernel makes `nf_conntrack_max` read-only inside a network
//! namespace (the limit is the host's), so the lab cannot give its
//! namespace a small table: it fills the namespace's share up to the host's
//! limit instead. The count is per namespace, so the host's own flows are
//! untouched; the entries go away with the namespace.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::support::{Netns, Proc, Rule, lab_exe, must, probe_collect, run_for, ship, workdir};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "conntrack",
        expect: "conntrack-table-full",
        needs: || crate::support::need_tool("conntrack").and(crate::support::need_tool("iptables")),
        run: |lab| run(lab, false),
        // Loading 262,144 entries keeps the kernel busy for seconds: not
        // while the saturation scenario times its latency samples.
        group: "timing",
    }
}

/// The same fault seen by no probe: node_exporter in the namespace,
/// scraped by Prometheus, read back with `faultline pull`.
pub fn prometheus_scenario() -> Scenario {
    Scenario {
        name: "conntrack_prometheus",
        expect: "conntrack-table-full",
        needs: || {
            crate::support::need_tool("conntrack")
                .and(crate::support::need_tool("iptables"))
                .and(crate::prometheus::need_prometheus())
        },
        run: |lab| run(lab, true),
        // As the probe's run, and Prometheus loads the machine too.
        group: "timing",
    }
}

/// The largest table the lab will fill (entries are ~300 bytes of kernel
/// memory each); a bigger host limit is reported as a skip reason.
const MAX_FILL: u64 = 1 << 20;

/// Connections per storm wave: below the sink's accept backlog, so each
/// completes and leaves an assured entry rather than one the kernel could
/// evict early.
const STORM_CLIENTS: u64 = 100;

fn run(lab: &Lab, prometheus: bool) -> Result<Run> {
    let dir = workdir("conntrack")?;
    let ns = Netns::new(if prometheus { "ctp" } else { "ct" })?;
    // Connection tracking starts in a namespace once a rule needs it.
    let _track = Rule::add(
        &ns,
        "filter",
        &[
            "INPUT",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    )?;
    let max: u64 = ns
        .sh("cat /proc/sys/net/netfilter/nf_conntrack_max")?
        .trim()
        .parse()
        .context("nf_conntrack_max")?;
    if max == 0 || max > MAX_FILL {
        bail!("nf_conntrack_max is {max}: too large to fill in a test");
    }
    // Watching from before the fault, as a team's Prometheus would be.
    let watch = match prometheus {
        true => Some(crate::prometheus::Watch::start(
            &ns,
            "ct-node:9100",
            dir.path(),
        )?),
        false => None,
    };
    // Assured TIME_WAIT entries: the kernel cannot evict them early.
    let entries = dir.path().join("entries.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&entries)?);
        for i in 0..max + 16 {
            let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
            writeln!(
                f,
                "-I -p tcp -s 10.{a}.{b}.{c} -d 10.255.0.1 --sport {} --dport 443 --state TIME_WAIT -u ASSURED -t 600",
                1024 + (i % 60000)
            )?;
        }
    }
    // conntrack -R stops at the first entry the full table refuses.
    let _ = run_for(
        ns.cmd("conntrack").arg("-R").arg(&entries),
        Duration::from_secs(90),
    )?;
    let count: u64 = ns
        .sh("cat /proc/sys/net/netfilter/nf_conntrack_count")?
        .trim()
        .parse()?;
    if count < max * 9 / 10 {
        bail!("filled only {count} of {max} conntrack entries");
    }
    // New flows now: each needs an entry the table has no room for.
    let _server = Proc::spawn(
        "service",
        ns.cmd(lab_exe()).args(["helper", "sink", "127.0.0.1:7300"]),
        None,
    )?;
    std::thread::sleep(Duration::from_millis(200));
    // `conntrack -R` may stop a few hundred entries short of the limit:
    // enough new flows to take that room first (each leaves an assured
    // entry behind), then some the kernel must drop. Bounded: a loaded
    // machine may need another round before the kernel has counted a drop.
    let room = max.saturating_sub(count);
    let waves = (room / STORM_CLIENTS + 2).to_string();
    let clients = STORM_CLIENTS.to_string();
    let mut dropped = 0;
    for _ in 0..3 {
        let _ = run_for(
            ns.cmd(lab_exe())
                .args(["helper", "storm", "127.0.0.1:7300", &clients, &waves, "100"]),
            Duration::from_secs(30),
        );
        dropped = must(ns.cmd("conntrack").arg("-S"))?
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("drop="))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>();
        if dropped > 0 {
            break;
        }
    }
    let report = dir.path().join("report.json");
    let source = match &watch {
        Some(w) => {
            w.pull(&report)?;
            " (seen through node_exporter and Prometheus alone)"
        }
        None => {
            probe_collect(
                Some(&ns),
                &["--for".into(), "1".into()],
                &report,
                Duration::from_secs(90),
            )?;
            ""
        }
    };
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!(
            "nf_conntrack_max is read-only in a namespace on this kernel: filled the namespace to the host limit {max} ({count} entries), {dropped} new packets dropped{source}"
        ),
    })
}
