//! CLOSE_WAIT leak, caught early: a service that never closes the sockets
//! its clients closed. 300 of them sit in CLOSE_WAIT, far below its
//! descriptor limit, on a host whose ordinary traffic leaves a thousand
//! TIME_WAIT sockets behind (clients of another service that close
//! first). Nothing has failed yet; the leak must show anyway.

use std::time::Duration;

use anyhow::Result;

use crate::support::{self, Netns, Proc, lab_exe, probe_collect, ship, wait_listening, workdir};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "close_wait",
        expect: "close-wait-leak",
        needs: || support::need_tool("prlimit"),
        run,
        group: "close_wait",
    }
}

/// The service's descriptor limit, the clients it leaks, and the ordinary
/// short connections to another service that end in TIME_WAIT.
const FD_LIMIT: u32 = 1024;
const LEAKED: u32 = 300;
const CHURN: u32 = 1200;
/// The short connections come in waves small enough for the listen queue.
const CHURN_WAVES: u32 = 12;

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("close_wait")?;
    let ns = Netns::new("cw")?;
    let log = dir.path().join("service.log");
    let (leaky, other) = ("127.0.0.1:7000", "127.0.0.1:7001");
    let _service = Proc::spawn(
        "leaky service",
        ns.cmd("prlimit")
            .arg(format!("--nofile={FD_LIMIT}:{FD_LIMIT}"))
            .arg("--")
            .arg(lab_exe())
            .args(["helper", "leaky", leaky])
            .arg(&log),
        Some(&dir.path().join("service.out")),
    )?;
    let _other = Proc::spawn(
        "ordinary service",
        ns.cmd(lab_exe()).args(["helper", "sink", other]),
        None,
    )?;
    wait_listening(Some(&ns), leaky, Duration::from_secs(10))?;
    wait_listening(Some(&ns), other, Duration::from_secs(10))?;
    // Ordinary traffic: clients that close first, so TIME_WAIT is theirs.
    support::run_for(
        ns.cmd(lab_exe()).args([
            "helper",
            "storm",
            other,
            &(CHURN / CHURN_WAVES).to_string(),
            &CHURN_WAVES.to_string(),
            "300",
        ]),
        Duration::from_secs(20),
    )?;
    // The leak: clients connect, then go away; the service never closes.
    // Waves of 100, as for the churn: a burst past the listen queue would
    // leave connects unfinished when their clients give up.
    support::run_for(
        ns.cmd(lab_exe())
            .args(["helper", "storm", leaky, "100"])
            .arg((LEAKED / 100).to_string())
            .arg("500"),
        Duration::from_secs(20),
    )?;
    let report = dir.path().join("report.json");
    let measured = probe_collect(
        Some(&ns),
        &["--for".into(), "2".into()],
        &report,
        Duration::from_secs(30),
    )?;
    // The case is the leak among churn: both must be there, or the
    // reproduction proves nothing.
    let counts = measured["observations"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "tcp_states"))
        .map(|t| t["counts"].clone())
        .unwrap_or_default();
    let n = |state: &str| counts[state].as_i64().unwrap_or(0);
    if n("CLOSE_WAIT") < i64::from(LEAKED) || n("TIME_WAIT") < 900 {
        anyhow::bail!("wanted {LEAKED} CLOSE_WAIT among at least 900 TIME_WAIT, measured {counts}");
    }
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!(
            "{} CLOSE_WAIT (leaked of a {FD_LIMIT}-descriptor limit) among {} TIME_WAIT from short connections to another service; no error yet, no log read",
            n("CLOSE_WAIT"),
            n("TIME_WAIT")
        ),
    })
}
