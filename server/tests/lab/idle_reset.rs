//! Idle-timeout reset: a TCP relay (a load balancer or NAT in miniature)
//! that resets both sides of a connection once it has been idle for N
//! seconds. N is 3 s in tests, a value no default timer has (60 s, the AWS
//! ALB default, with production timers); `idle_reset_custom` is a
//! hand-set 45 s (`timeout client 45s`), no default either. Exact-time
//! resets are the fingerprint whatever the number.

use std::time::Duration;

use anyhow::Result;

use crate::support::{Netns, Proc, lab_exe, probe_collect, ship, wait_listening, workdir};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "idle_reset",
        expect: "idle-timeout-reset",
        needs: || Ok(()),
        run: |lab| run(lab, "idle", lab.secs(3.0, 60.0)),
        group: "idle_reset",
    }
}

pub fn custom_scenario() -> Scenario {
    Scenario {
        name: "idle_reset_custom",
        expect: "idle-timeout-reset",
        needs: || Ok(()),
        run: |lab| run(lab, "idle45", 45.0),
        group: "idle_reset_custom",
    }
}

fn run(lab: &Lab, tag: &str, idle_s: f64) -> Result<Run> {
    let dir = workdir(tag)?;
    let ns = Netns::new(tag)?;
    let _upstream = Proc::spawn(
        "upstream",
        ns.cmd(lab_exe()).args(["helper", "sink", "127.0.0.1:7200"]),
        None,
    )?;
    let _relay = Proc::spawn(
        "relay",
        ns.cmd(lab_exe()).args([
            "helper",
            "relay",
            "127.0.0.1:7201",
            "127.0.0.1:7200",
            &((idle_s * 1000.0) as u64).to_string(),
        ]),
        Some(&dir.path().join("relay.out")),
    )?;
    wait_listening(Some(&ns), "127.0.0.1:7200", Duration::from_secs(10))?;
    wait_listening(Some(&ns), "127.0.0.1:7201", Duration::from_secs(10))?;
    let report = dir.path().join("report.json");
    let watch = idle_s + 2.5;
    probe_collect(
        Some(&ns),
        &[
            "--for".into(),
            watch.to_string(),
            "--lifetime".into(),
            "127.0.0.1:7201".into(),
        ],
        &report,
        Duration::from_secs_f64(watch + 30.0),
    )?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!("relay idle timeout {idle_s} s"),
    })
}
