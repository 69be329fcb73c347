//! Periodic saturation: client — router — server, the router's link toward
//! the server shaped with tc tbf (5 Mbit/s, 150 ms of queue). A "cron job"
//! on the client uploads on three streams as fast as it can for 1 s every 5 s (every 60 s
//! with production timers) while the probe samples HTTP latency to the
//! server through the same link.

use std::time::Duration;

use anyhow::Result;

use crate::support::{
    Netns, Proc, lab_exe, must, probe_collect, ship, veth, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "saturation",
        expect: "periodic-saturation-p99",
        needs: || crate::support::need_tool("tc"),
        run,
        group: "timing",
    }
}

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("saturation")?;
    let client = Netns::new("satc")?;
    let router = Netns::new("satr")?;
    let server = Netns::new("sats")?;
    veth(
        &client,
        "eth0",
        "10.70.1.1/24",
        &router,
        "eth0",
        "10.70.1.2/24",
        1500,
    )?;
    veth(
        &router,
        "eth1",
        "10.70.2.1/24",
        &server,
        "eth0",
        "10.70.2.2/24",
        1500,
    )?;
    client.ip(&["route", "add", "default", "via", "10.70.1.2"])?;
    server.ip(&["route", "add", "default", "via", "10.70.2.1"])?;
    router.sysctl("net.ipv4.ip_forward", "1")?;
    must(router.cmd("tc").args([
        "qdisc", "add", "dev", "eth1", "root", "tbf", "rate", "5mbit", "burst", "16kb", "latency",
        "150ms",
    ]))?;
    let _web = Proc::spawn(
        "web server",
        server
            .cmd(lab_exe())
            .args(["helper", "http", "10.70.2.2:8000"]),
        None,
    )?;
    let _sink = Proc::spawn(
        "backup target",
        server
            .cmd(lab_exe())
            .args(["helper", "sink", "10.70.2.2:9000"]),
        None,
    )?;
    wait_listening(Some(&client), "10.70.2.2:8000", Duration::from_secs(10))?;
    wait_listening(Some(&client), "10.70.2.2:9000", Duration::from_secs(10))?;
    let period_s = lab.secs(5.0, 60.0);
    // Four periods: the rhythm needs three bursts inside the window even
    // when a loaded machine starts the probe a period late.
    let watch = period_s * 4.0 + 1.5;
    let rounds = (watch / period_s).ceil() as u64 + 1;
    let period_ms = ((period_s * 1000.0) as u64).to_string();
    let rounds = rounds.to_string();
    let _jobs = (0..3)
        .map(|i| {
            Proc::spawn(
                &format!("periodic upload {i}"),
                client.cmd(lab_exe()).args([
                    "helper",
                    "bulk",
                    "10.70.2.2:9000",
                    "1000",
                    &period_ms,
                    &rounds,
                ]),
                None,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let report = dir.path().join("report.json");
    probe_collect(
        Some(&client),
        &[
            "--for".into(),
            watch.to_string(),
            "--http".into(),
            "http://10.70.2.2:8000/".into(),
        ],
        &report,
        Duration::from_secs_f64(watch + 30.0),
    )?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!("upload 1 s every {period_s} s over a 5 Mbit/s tbf link"),
    })
}
