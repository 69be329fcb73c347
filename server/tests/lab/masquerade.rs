//! Missing MASQUERADE: a "pod" namespace routed through a "node" namespace
//! to an "external" namespace that has no route back to the pod range.
//! With the node's MASQUERADE rule the pod reaches the outside (checked
//! first, as the control); without it the replies never come back.
//!
//! The probe runs twice, as it would on a real node: on the node (host
//! collectors: its NAT rules, with the node's pod CIDR from the probe's
//! config) and in the pod (`--connect` to the external address). The pod's
//! connect attempts are added to the node's report: one incident, seen from
//! both places.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::support::{
    Netns, Proc, Rule, add_observation, lab_exe, probe_collect, ship, veth, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "masquerade",
        expect: "missing-masquerade",
        needs: || crate::support::need_tool("iptables"),
        run,
        group: "masquerade",
    }
}

const POD_CIDR: &str = "10.200.1.0/24";
const EXTERNAL: &str = "192.168.200.2:80";

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("masquerade")?;
    let pod = Netns::new("pod")?;
    let node = Netns::new("node")?;
    let ext = Netns::new("ext")?;
    veth(
        &pod,
        "eth0",
        "10.200.1.2/24",
        &node,
        "cni0",
        "10.200.1.1/24",
        1500,
    )?;
    veth(
        &node,
        "eth0",
        "192.168.200.1/24",
        &ext,
        "eth0",
        "192.168.200.2/24",
        1500,
    )?;
    pod.ip(&["route", "add", "default", "via", "10.200.1.1"])?;
    node.sysctl("net.ipv4.ip_forward", "1")?;
    let _server = Proc::spawn(
        "external server",
        ext.cmd(lab_exe()).args(["helper", "sink", EXTERNAL]),
        None,
    )?;
    wait_listening(Some(&node), EXTERNAL, Duration::from_secs(10))?;
    let config = dir.path().join("probe.toml");
    std::fs::write(
        &config,
        format!("[collect]\npod_cidrs = [\"{POD_CIDR}\"]\n"),
    )?;

    // Control: with the rule, the pod gets out.
    {
        let _rule = Rule::add(
            &node,
            "nat",
            &[
                "POSTROUTING",
                "-s",
                POD_CIDR,
                "-o",
                "eth0",
                "-j",
                "MASQUERADE",
            ],
        )?;
        wait_listening(Some(&pod), EXTERNAL, Duration::from_secs(5))
            .context("control: the pod cannot reach the outside even with MASQUERADE")?;
        let control = dir.path().join("control.json");
        let got = probe_collect(
            Some(&node),
            &[
                "--config".into(),
                config.display().to_string(),
                "--for".into(),
                "1".into(),
            ],
            &control,
            Duration::from_secs(30),
        )?;
        if !nat_sources(&got).iter().any(|s| s == POD_CIDR) {
            bail!(
                "control: the probe did not see the MASQUERADE rule: {:?}",
                nat_sources(&got)
            );
        }
    }

    // The fault: the rule is gone (the guard deleted it).
    let report = dir.path().join("report.json");
    probe_collect(
        Some(&node),
        &[
            "--config".into(),
            config.display().to_string(),
            "--for".into(),
            "1".into(),
        ],
        &report,
        Duration::from_secs(30),
    )?;
    let from_pod = dir.path().join("pod.json");
    let pod_report = probe_collect(
        Some(&pod),
        &["--no-host".into(), "--connect".into(), EXTERNAL.into()],
        &from_pod,
        Duration::from_secs(40),
    )?;
    for o in pod_report["observations"].as_array().into_iter().flatten() {
        add_observation(&report, o.clone())?;
    }
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: "control with MASQUERADE connected; node report + the pod probe's connect_attempts"
            .into(),
    })
}

fn nat_sources(report: &Value) -> Vec<String> {
    report["observations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["kind"] == "nat_rules")
        .flat_map(|o| {
            o["masquerade_sources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}
