//! ndots: a resolv.conf with `ndots:5` and four search domains, and a DNS
//! server (on an address inside the lab's namespace) that answers NXDOMAIN
//! slowly. An external name walks the whole search list before it is tried
//! as written.

use std::time::Duration;

use anyhow::Result;

use crate::support::{self, Netns, Proc, lab_exe, probe_collect, ship, workdir};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "ndots",
        expect: "dns-ndots-search-delay",
        needs: || Ok(()),
        run,
        group: "ndots",
    }
}

const NAME: &str = "api.partner.example";

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("ndots")?;
    let ns = Netns::new("dns")?;
    ns.ip(&["addr", "add", "10.53.0.1/32", "dev", "lo"])?;
    // Each NXDOMAIN takes this long: a busy cluster DNS.
    let delay_ms = (lab.secs(0.35, 1.0) * 1000.0) as u64;
    let _dns = Proc::spawn(
        "dns server",
        ns.cmd(lab_exe())
            .args(["helper", "dns", "10.53.0.1:53", &delay_ms.to_string(), NAME]),
        Some(&dir.path().join("dns.out")),
    )?;
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 10.53.0.1\n\
         search default.svc.cluster.local svc.cluster.local cluster.local lab.internal\n\
         options ndots:5 timeout:3 attempts:1\n",
    )?;
    support::wait_udp(&ns, 53, Duration::from_secs(10))?;
    let report = dir.path().join("report.json");
    probe_collect(
        Some(&ns),
        &[
            // Host collectors stay on: their child processes' SIGCHLD
            // once broke the DNS wait with EINTR; the probe retries now.
            "--for".into(),
            "1".into(),
            "--resolv-conf".into(),
            resolv.display().to_string(),
            "--dns".into(),
            NAME.into(),
        ],
        &report,
        Duration::from_secs(60),
    )?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!("NXDOMAIN after {delay_ms} ms; probe run with its host collectors on"),
    })
}
