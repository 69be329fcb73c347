//! CLOSE_WAIT leak: a service that never closes the sockets its clients
//! closed. Its sockets pile up in CLOSE_WAIT until its descriptor limit is
//! reached and `accept` fails with "Too many open files".

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

/// The service's descriptor limit, and how many clients come and go.
const FD_LIMIT: u32 = 1024;
const CLIENTS: u32 = 1200;

fn run(_lab: &Lab) -> Result<Run> {
    let dir = workdir("close_wait")?;
    let ns = Netns::new("cw")?;
    let log = dir.path().join("service.log");
    let addr = "127.0.0.1:7000";
    let _service = Proc::spawn(
        "leaky service",
        ns.cmd("prlimit")
            .arg(format!("--nofile={FD_LIMIT}:{FD_LIMIT}"))
            .arg("--")
            .arg(lab_exe())
            .args(["helper", "leaky", addr])
            .arg(&log),
        Some(&dir.path().join("service.out")),
    )?;
    wait_listening(Some(&ns), addr, Duration::from_secs(10))?;
    // Clients connect, then go away (close): the service never closes its side.
    support::run_for(
        ns.cmd(lab_exe())
            .args(["helper", "storm", addr, &CLIENTS.to_string(), "1", "1500"]),
        Duration::from_secs(20),
    )?;
    let report = dir.path().join("report.json");
    probe_collect(
        Some(&ns),
        &[
            "--for".into(),
            "1".into(),
            "--log".into(),
            log.display().to_string(),
        ],
        &report,
        Duration::from_secs(30),
    )?;
    let verdict = ship(&_lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: String::new(),
    })
}
