//! MTU black hole: client — router — server, where the router's hop toward
//! the server carries only 1400 bytes (as a tunnel does) while both ends
//! have 1500, and the router's ICMP "fragmentation needed" is dropped by an
//! iptables rule. Small pings pass; a bulk TCP transfer from the client
//! stalls and retransmits while the probe sends DF-set pings.

use std::time::Duration;

use anyhow::Result;

use crate::support::{
    Netns, Proc, Rule, lab_exe, probe_collect, ship, veth, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "mtu",
        expect: "mtu-blackhole",
        needs: || crate::support::need_tool("iptables"),
        run,
        group: "mtu",
    }
}

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("mtu")?;
    let client = Netns::new("mtua")?;
    let router = Netns::new("mtur")?;
    let server = Netns::new("mtub")?;
    veth(
        &client,
        "eth0",
        "10.60.1.1/24",
        &router,
        "eth0",
        "10.60.1.2/24",
        1500,
    )?;
    veth(
        &router,
        "tun0",
        "10.60.2.1/24",
        &server,
        "eth0",
        "10.60.2.2/24",
        1500,
    )?;
    // The hop toward the server is narrower than either end knows.
    router.ip(&["link", "set", "tun0", "mtu", "1400"])?;
    client.ip(&["route", "add", "default", "via", "10.60.1.2"])?;
    server.ip(&["route", "add", "default", "via", "10.60.2.1"])?;
    router.sysctl("net.ipv4.ip_forward", "1")?;
    let _drop_icmp = Rule::add(
        &router,
        "filter",
        &[
            "OUTPUT",
            "-p",
            "icmp",
            "--icmp-type",
            "fragmentation-needed",
            "-j",
            "DROP",
        ],
    )?;
    let _sink = Proc::spawn(
        "server",
        server
            .cmd(lab_exe())
            .args(["helper", "sink", "10.60.2.2:9000"]),
        None,
    )?;
    wait_listening(Some(&client), "10.60.2.2:9000", Duration::from_secs(10))?;
    // A large upload that cannot get its full-size segments through.
    let _upload = Proc::spawn(
        "upload",
        client
            .cmd(lab_exe())
            .args(["helper", "bulk", "10.60.2.2:9000", "4000", "0", "1"]),
        None,
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let report = dir.path().join("report.json");
    probe_collect(
        Some(&client),
        &[
            "--for".into(),
            "2".into(),
            "--pmtu".into(),
            "10.60.2.2".into(),
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
