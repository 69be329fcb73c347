//! Collectors inside network namespaces this test creates (root only):
//! an MTU black hole between two namespaces, and interface discovery.
//!
//! Topology: ns A (va, MTU 1500, 192.0.2.1) <-veth-> ns B (vb, MTU 1280,
//! 192.0.2.2). B's side silently drops frames above 1280 bytes and no ICMP
//! "fragmentation needed" comes back: the classic PMTU black hole.
#![cfg(feature = "collectors")]

use std::process::Command;

use faultline_probe::report::{Observation, Report};

struct Netns {
    a: String,
    b: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 `ip` must be installed");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn blackhole(tag: &str) -> Netns {
        let id = std::process::id();
        let n = Netns {
            a: format!("fl-{tag}-a-{id}"),
            b: format!("fl-{tag}-b-{id}"),
        };
        ip(&["netns", "add", &n.a]);
        ip(&["netns", "add", &n.b]);
        ip(&[
            "-n", &n.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &n.b,
        ]);
        ip(&["-n", &n.a, "addr", "add", "192.0.2.1/24", "dev", "va"]);
        ip(&["-n", &n.b, "addr", "add", "192.0.2.2/24", "dev", "vb"]);
        ip(&["-n", &n.b, "link", "set", "vb", "mtu", "1280"]);
        for (ns, dev) in [(&n.a, "va"), (&n.b, "vb"), (&n.a, "lo"), (&n.b, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        n.wait_up(&n.a.clone(), "va");
        n.wait_up(&n.b.clone(), "vb");
        n
    }

    /// Waits for the carrier: operstate follows `link set up` a moment later.
    fn wait_up(&self, ns: &str, dev: &str) {
        for _ in 0..100 {
            let out = Command::new("ip")
                .args(["-n", ns, "-o", "link", "show", dev])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{dev} in {ns} never came up");
    }

    /// Runs the probe binary inside namespace `ns` and parses its report.
    fn collect(&self, ns: &str, args: &[&str]) -> Report {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                env!("CARGO_BIN_EXE_faultline-probe"),
                "collect",
                "--out",
                "-",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Report::from_json(&out.stdout).expect("valid v1 report")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and so the pair.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn pmtu_finds_the_black_hole() {
    let n = Netns::blackhole("pm");
    let r = n.collect(&n.a, &["--no-host", "--pmtu", "192.0.2.2"]);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let [Observation::Pmtu(p)] = &r.observations[..] else {
        panic!("{:?}", r.observations)
    };
    assert_eq!(p.iface_mtu, Some(1500));
    let ok = |size: i64| p.probes.iter().find(|x| x.size == size).map(|x| x.ok);
    assert_eq!(ok(576), Some(true), "{p:?}");
    assert_eq!(ok(1280), Some(true), "{p:?}");
    assert_eq!(ok(1400), Some(false), "{p:?}");
    assert_eq!(ok(1500), Some(false), "{p:?}");
}

#[test]
fn interfaces_inside_a_namespace() {
    let n = Netns::blackhole("if");
    let r = n.collect(&n.b, &[]);
    let Some(Observation::Interfaces(i)) = r.observations.iter().find(|o| o.kind() == "interfaces")
    else {
        panic!("no interfaces: {:?}", r.skipped)
    };
    let vb = i
        .interfaces
        .iter()
        .find(|i| i.name == "vb")
        .expect("vb listed");
    assert_eq!(
        (vb.mtu, vb.up, vb.kind.as_deref()),
        (1280, true, Some("veth"))
    );
    assert!(i.interfaces.iter().any(|i| i.name == "lo"));
    assert!(
        !i.interfaces.iter().any(|i| i.name == "va"),
        "va lives in the other namespace"
    );
}

/// Opens `k` loopback connections inside namespace `ns` (from a thread that
/// joins it; sockets stay in the namespace they were made in).
fn connections_in(ns: &str, k: usize) -> Vec<std::net::TcpStream> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = std::fs::File::open(&path).unwrap();
            rustix::thread::move_into_link_name_space(std::os::fd::AsFd::as_fd(&f), None).unwrap();
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut out = Vec::new();
            for _ in 0..k {
                out.push(std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap());
                out.push(l.accept().unwrap().0);
            }
            out
        })
        .join()
        .unwrap()
    })
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Runs a command inside a namespace, failing the test loudly if it fails.
fn in_ns(ns: &str, cmd: &[&str]) {
    ip(&[&["netns", "exec", ns][..], cmd].concat());
}

#[test]
fn nat_rules_and_conntrack_inside_a_namespace() {
    let n = Netns::blackhole("nat");
    let (nat_tool, with_iptables) = (have("iptables") || have("nft"), have("iptables"));
    if !nat_tool {
        // Nothing to read the rules with: the collector must say so, and the report still comes.
        let r = n.collect(&n.a, &["--for", "0"]);
        let s = r
            .skipped
            .iter()
            .find(|s| s.kind == "nat_rules")
            .expect("nat_rules skipped");
        assert!(
            s.reason.contains("iptables-save") && s.reason.contains("nft"),
            "{s:?}"
        );
        return;
    }
    if with_iptables {
        in_ns(
            &n.a,
            &[
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                "10.244.0.0/16",
                "!",
                "-d",
                "10.244.0.0/16",
                "-j",
                "MASQUERADE",
            ],
        );
    } else {
        in_ns(
            &n.a,
            &[
                "nft",
                "add table ip nat; add chain ip nat post { type nat hook postrouting priority 100; }; add rule ip nat post ip saddr 10.244.0.0/16 masquerade",
            ],
        );
    }
    // A NAT table turns connection tracking on in the namespace: hold a few
    // established connections there while the probe reads the table.
    let held = connections_in(&n.a, 3);
    let r = n.collect(&n.a, &["--for", "0"]);
    drop(held);
    let nat = r.observations.iter().find_map(|o| match o {
        Observation::NatRules(x) => Some(x),
        _ => None,
    });
    assert_eq!(
        nat.expect("nat_rules observed").masquerade_sources,
        ["10.244.0.0/16"]
    );
    let ct = r.observations.iter().find_map(|o| match o {
        Observation::Conntrack(x) => Some(x),
        _ => None,
    });
    let ct = ct.unwrap_or_else(|| panic!("conntrack skipped: {:?}", r.skipped));
    assert!(ct.count.is_some_and(|c| c >= 3), "{ct:?}");
    assert!(ct.by_proto.get("tcp").is_some_and(|t| *t >= 3), "{ct:?}");
    assert!(
        ct.tcp_states.get("ESTABLISHED").is_some_and(|t| *t >= 3),
        "{ct:?}"
    );
}
