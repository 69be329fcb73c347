//! Crashing endpoint: three backends on one service; one of them leaks
//! memory inside a 64 MiB memory cgroup (its container limit) and is
//! OOM-killed by the kernel about half a second after every start; its
//! supervisor restarts it 0.7 s later. (Without a v1 memory cgroup it
//! aborts itself after 0.5 s instead, and the pod list says "Error".) The probe connects to all three, as the callers do, right
//! after a crash, and reads the pod list the lab's supervisor keeps
//! (restart count and last termination reason of each backend process).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::support::{
    MemCgroup, Netns, Pod, Proc, lab_exe, pods_json, probe_collect, ship, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "crashing",
        expect: "crashing-endpoint-refused",
        needs: || Ok(()),
        run,
        group: "crashing",
    }
}

const UP_MS: u64 = 500;
const DOWN_MS: u64 = 700;
const RESTARTS: u32 = 5;

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("crashing")?;
    let ns = Netns::new("crash")?;
    let backend = |port: u16, extra: &[&str]| {
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = ns.cmd(lab_exe());
        cmd.args(["helper", "http", &addr]).args(extra);
        Proc::spawn(&format!("backend {port}"), &mut cmd, None)
    };
    let _b1 = backend(8081, &[])?;
    let _b2 = backend(8082, &[])?;
    wait_listening(Some(&ns), "127.0.0.1:8081", Duration::from_secs(10))?;
    wait_listening(Some(&ns), "127.0.0.1:8082", Duration::from_secs(10))?;

    // The supervisor: restart backend 3 each time it dies; report each crash.
    let cgroup = MemCgroup::new("crash", 64 << 20);
    let oom = |cg: &Option<MemCgroup>| cg.as_ref().map_or(0, MemCgroup::oom_kills);
    let stop = AtomicBool::new(false);
    let (crashed, crashes) = mpsc::channel::<(u32, u64)>();
    let crash_ms = format!("crash_ms={UP_MS}");
    let result = thread::scope(|s| {
        let supervisor = s.spawn(|| -> Result<()> {
            let mut restarts = 0;
            while !stop.load(Ordering::SeqCst) && restarts < 40 {
                let mut p = match &cgroup {
                    Some(cg) => Proc::spawn(
                        "backend 8083",
                        // Into the cgroup first: `ip netns exec` remounts /sys.
                        Command::new("sh")
                            .args(["-c", &cg.enter_script(), "sh"])
                            .args(["ip", "netns", "exec", &ns.name])
                            .arg(lab_exe())
                            .args(["helper", "http", "127.0.0.1:8083", "leak_mb_s=128"]),
                        None,
                    )?,
                    None => backend(8083, &[&crash_ms])?,
                };
                let done = crate::support::wait_until(Duration::from_secs(10), || {
                    stop.load(Ordering::SeqCst) || matches!(p.child.try_wait(), Ok(Some(_)))
                });
                if !done || stop.load(Ordering::SeqCst) {
                    break;
                }
                restarts += 1;
                let _ = crashed.send((restarts, oom(&cgroup)));
                thread::sleep(Duration::from_millis(DOWN_MS));
            }
            Ok(())
        });
        let measured = (|| -> Result<std::path::PathBuf> {
            // Wait until it has crashed RESTARTS times, then measure at once.
            loop {
                let (n, oom_kills) = crashes
                    .recv_timeout(Duration::from_secs(10))
                    .context("backend 3 did not crash on schedule")?;
                // What Kubernetes would show: OOMKilled when the kernel's
                // OOM killer ended it, Error for an abort (exit code 134).
                let reason = if oom_kills > 0 { "OOMKilled" } else { "Error" };
                if n >= RESTARTS {
                    let pods = dir.path().join("pods.json");
                    let pod = |name, restarts, reason| Pod {
                        name,
                        restarts,
                        last_reason: reason,
                        ready: true,
                        readiness_probe: false,
                        pre_stop: false,
                    };
                    let list = pods_json(&[
                        pod("backend-1", 0, None),
                        pod("backend-2", 0, None),
                        pod("backend-3", n, Some(reason)),
                    ]);
                    std::fs::write(&pods, serde_json::to_vec_pretty(&list)?)?;
                    let report = dir.path().join("report.json");
                    let mut args: Vec<String> = vec!["--for".into(), "1".into()];
                    for port in [8081, 8082, 8083] {
                        args.extend(["--connect".into(), format!("127.0.0.1:{port}")]);
                    }
                    args.extend(["--k8s-pods".into(), pods.display().to_string()]);
                    let got = probe_collect(Some(&ns), &args, &report, Duration::from_secs(30))?;
                    let refused: i64 = got["observations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|o| o["kind"] == "connect_attempts")
                        .flat_map(|o| o["targets"].as_array().cloned().unwrap_or_default())
                        .map(|t| t["refused"].as_i64().unwrap_or(0))
                        .sum();
                    if refused == 0 {
                        bail!(
                            "the probe saw no refused connect: backend 3 never went down in its window"
                        );
                    }
                    return Ok(report);
                }
            }
        })();
        stop.store(true, Ordering::SeqCst);
        let _ = supervisor.join();
        measured
    });
    let report = result?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!(
            "pod list written by the lab's supervisor from what it saw: {}",
            if cgroup.is_some() {
                "restarts and OOM kills counted in a 64 MiB memory cgroup"
            } else {
                "no v1 memory cgroup here, so the backend aborts (reason Error)"
            }
        ),
    })
}
