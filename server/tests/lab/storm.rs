//! Reconnect storm: a "database" namespace whose listener has a backlog of
//! 64 and accepts slowly, turning clients away (it has just come back), and an "app" namespace
//! whose 300 clients all reconnect at once, again and again, with no
//! backoff. The probe runs on the database side.

use std::time::Duration;

use anyhow::Result;

use crate::support::{
    Netns, Proc, lab_exe, must, probe_collect, ship, veth, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "storm",
        expect: "reconnect-storm-syn-flood",
        needs: || crate::support::need_tool("tc"),
        run: |lab| run(lab, false),
        group: "storm",
    }
}

/// The same storm seen by no probe: node_exporter in the database's
/// namespace, scraped by Prometheus, read back with `faultline pull`.
pub fn prometheus_scenario() -> Scenario {
    Scenario {
        name: "storm_prometheus",
        expect: "reconnect-storm-syn-flood",
        needs: || crate::support::need_tool("tc").and(crate::prometheus::need_prometheus()),
        run: |lab| run(lab, true),
        // Prometheus, node_exporter and 300 clients load the machine: not
        // while the saturation scenario times its latency samples.
        group: "timing",
    }
}

fn run(lab: &Lab, prometheus: bool) -> Result<Run> {
    let dir = workdir("storm")?;
    let (db, app) = match prometheus {
        true => (Netns::new("dbp")?, Netns::new("appp")?),
        false => (Netns::new("db")?, Netns::new("app")?),
    };
    veth(
        &db,
        "eth0",
        "10.77.0.1/24",
        &app,
        "eth0",
        "10.77.0.2/24",
        1500,
    )?;
    db.sysctl("net.ipv4.tcp_syncookies", "1")?;
    // Watching the database host from before the storm.
    let watch = match prometheus {
        true => Some(crate::prometheus::Watch::start(
            &db,
            "db-node:9100",
            dir.path(),
        )?),
        false => None,
    };
    // The database host's uplink is slow: its SYN-ACKs queue up, so SYNs
    // arrive faster than handshakes complete, as in a storm of thousands.
    must(db.cmd("tc").args([
        "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "200kbit", "burst", "2kb", "latency",
        "2s",
    ]))?;
    let _db = Proc::spawn(
        "database listener",
        db.cmd(lab_exe())
            .args(["helper", "backlog", "10.77.0.1:5432", "64", "20"]),
        None,
    )?;
    wait_listening(Some(&app), "10.77.0.1:5432", Duration::from_secs(10))?;
    let _storm = Proc::spawn(
        "clients",
        app.cmd(lab_exe())
            .args(["helper", "storm", "10.77.0.1:5432", "300", "8", "500"]),
        None,
    )?;
    std::thread::sleep(Duration::from_millis(400));
    let report = dir.path().join("report.json");
    if let Some(w) = &watch {
        // A few scrapes into the storm, then what Prometheus holds.
        std::thread::sleep(Duration::from_secs(2));
        w.pull(&report)?;
        let verdict = ship(&lab.server, &report)?;
        return Ok(Run {
            verdict,
            report,
            _dir: dir,
            note: "seen through node_exporter and Prometheus alone".into(),
        });
    }
    // The kernel's own words, if it logged them for this listener.
    let klog = dir.path().join("kernel.log");
    let lines = must(&mut std::process::Command::new("dmesg")).unwrap_or_default();
    let ours: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains("10.77.0.1:5432"))
        .collect();
    std::fs::write(&klog, ours.join("\n"))?;
    probe_collect(
        Some(&db),
        &[
            "--for".into(),
            "1".into(),
            "--log".into(),
            klog.display().to_string(),
        ],
        &report,
        Duration::from_secs(30),
    )?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: String::new(),
    })
}
