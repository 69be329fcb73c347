//! Drain race: two backends behind one endpoint list; a rolling deploy
//! sends SIGTERM to one of them, which stops listening at once (no preStop
//! pause, no drain) while it is still on the list the clients use. The
//! probe connects to both listed endpoints, as the callers do, through the
//! moment of the SIGTERM, and reads the pod list (no restarts, readiness
//! probes present, no preStop hook).

use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::support::{
    Netns, Pod, Proc, lab_exe, pods_json, probe_collect, ship, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "drain",
        expect: "termination-drain-race",
        needs: || crate::support::need_tool("kill"),
        run,
        group: "drain",
    }
}

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("drain")?;
    let ns = Netns::new("drain")?;
    let backend = |addr: &str| {
        Proc::spawn(
            &format!("backend {addr}"),
            ns.cmd(lab_exe())
                .args(["helper", "http", addr, "stop_on_term"]),
            None,
        )
    };
    let old = backend("127.0.0.1:8091")?;
    let _other = backend("127.0.0.1:8092")?;
    wait_listening(Some(&ns), "127.0.0.1:8091", Duration::from_secs(10))?;
    wait_listening(Some(&ns), "127.0.0.1:8092", Duration::from_secs(10))?;
    let pods = dir.path().join("pods.json");
    let pod = |name| Pod {
        name,
        restarts: 0,
        last_reason: None,
        ready: true,
        readiness_probe: true,
        pre_stop: false,
    };
    std::fs::write(
        &pods,
        serde_json::to_vec_pretty(&pods_json(&[pod("backend-7d9f-a"), pod("backend-7d9f-b")]))?,
    )?;
    let report = dir.path().join("report.json");
    let args: Vec<String> = vec![
        "--for".into(),
        "1".into(),
        "--connect".into(),
        "127.0.0.1:8091".into(),
        "--connect".into(),
        "127.0.0.1:8092".into(),
        "--k8s-pods".into(),
        pods.display().to_string(),
    ];
    let got = thread::scope(|s| {
        let probe = s.spawn(|| probe_collect(Some(&ns), &args, &report, Duration::from_secs(30)));
        // The rollout reaches this pod while callers are connecting.
        thread::sleep(Duration::from_millis(150));
        let term = old.signal("TERM");
        let got = probe.join().expect("probe thread");
        term.and(got)
    })?;
    let refused: i64 = got["observations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["kind"] == "connect_attempts")
        .flat_map(|o| o["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["refused"].as_i64().unwrap_or(0))
        .sum();
    if refused == 0 {
        bail!("no connect was refused after SIGTERM: the backend kept listening");
    }
    drop(old);
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: "pod list written by the lab (its two backend processes: no preStop, no restarts)"
            .into(),
    })
}
