//! Collectors inside network namespaces this test creates (root only):
//! an MTU black hole between two namespaces, and interface discovery.
//!
//! Topology: ns A (va, MTU 1500, 192.0.2.1) <-veth-> ns B (vb, MTU 1280,
//! 192.0.2.2). B's side silently drops frames above 1280 bytes and no ICMP
//! "fragmentation needed" comes back: the classic PMTU black hole.
#![cfg(feature = "collectors")]

use std::path::Path;
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

/// Established pairs and CLOSE_WAIT sockets [`hold_sockets`] makes.
const HELD_ESTABLISHED: usize = 4;
const HELD_CLOSE_WAIT: usize = 3;

/// Not a test: the process [`sockets_in_a_namespace_are_reported_as_that_namespace`]
/// runs inside its namespace (`ip netns exec NS <this binary> --exact
/// hold_sockets --ignored`). On the namespace's loopback it holds
/// established pairs and CLOSE_WAIT sockets (their clients closed, it never
/// does), prints `READY <pid>`, and keeps them until stdin closes.
#[test]
#[ignore = "a helper the namespace test runs inside its namespace"]
fn hold_sockets() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    if std::env::var_os("FAULTLINE_HOLD_SOCKETS").is_none() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..HELD_ESTABLISHED {
        held.push(TcpStream::connect(addr).unwrap());
        held.push(l.accept().unwrap().0);
    }
    for _ in 0..HELD_CLOSE_WAIT {
        let client = TcpStream::connect(addr).unwrap();
        held.push(l.accept().unwrap().0);
        drop(client);
    }
    // The clients' FINs cross the loopback at once; give them a moment.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut out = std::io::stdout();
    writeln!(out, "READY {}", std::process::id()).unwrap();
    out.flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop((l, held));
}

/// A namespace with [`hold_sockets`] running inside; both go on drop.
struct Holder {
    ns: String,
    child: std::process::Child,
    pid: u32,
    /// Its stdout, kept open so it can finish writing.
    _out: std::io::BufReader<std::process::ChildStdout>,
}

impl Holder {
    fn start(tag: &str) -> Holder {
        use std::io::BufRead;
        let ns = format!("fl-{tag}-{}", std::process::id());
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let me = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(me)
            .args(["--exact", "hold_sockets", "--ignored", "--nocapture"])
            .env("FAULTLINE_HOLD_SOCKETS", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut pid = None;
        let mut line = String::new();
        while pid.is_none() && out.read_line(&mut line).is_ok_and(|n| n > 0) {
            pid = line
                .strip_prefix("READY ")
                .and_then(|p| p.trim().parse().ok());
            line.clear();
        }
        let mut h = Holder {
            ns,
            child,
            pid: 0,
            _out: out,
        };
        h.pid = pid.expect("the holder in the namespace never got ready");
        h
    }

    /// The namespace's inode, as the probe labels it.
    fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", self.ns))
            .unwrap()
            .ino()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// CLOSE_WAIT sockets held by this process in the probe's own namespace.
fn close_waits_here(n: usize) -> Vec<std::net::TcpStream> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = (0..n)
        .map(|_| {
            let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let s = l.accept().unwrap().0;
            drop(c);
            s
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    held
}

fn tcp_tables(r: &Report) -> Vec<&faultline_probe::report::TcpStates> {
    r.observations
        .iter()
        .filter_map(|o| match o {
            Observation::TcpStates(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[test]
fn sockets_in_a_namespace_are_reported_as_that_namespace() {
    let h = Holder::start("ss");
    let _mine = close_waits_here(2);
    // The probe runs where a DaemonSet's does: in the host's namespace.
    let out = Command::new(env!("CARGO_BIN_EXE_faultline-probe"))
        .args(["collect", "--for", "1", "--out", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = Report::from_json(&out.stdout).expect("valid v1 report");
    let tables = tcp_tables(&r);
    let host = tables[0];
    assert!(
        host.netns.is_none(),
        "the probe's own namespace comes first"
    );
    assert!(host.counts["CLOSE_WAIT"] >= 2, "{:?}", host.counts);
    assert!(
        !host.by_process.iter().any(|p| p.pid == h.pid),
        "the namespace's holder is not in the host's table: {:?}",
        host.by_process
    );
    let inode = h.inode();
    let t = tables
        .iter()
        .find(|t| t.netns.as_ref().is_some_and(|n| n.inode == inode))
        .unwrap_or_else(|| panic!("no table for netns {inode}: {tables:?} {:?}", r.skipped));
    // Exactly the holder's sockets: nothing of the host's is mixed in.
    let (e, c) = (HELD_ESTABLISHED as i64, HELD_CLOSE_WAIT as i64);
    assert_eq!(
        t.counts,
        [
            ("CLOSE_WAIT".to_string(), c),
            ("ESTABLISHED".to_string(), 2 * e),
            ("FIN_WAIT2".to_string(), c),
            ("LISTEN".to_string(), 1),
        ]
        .into(),
        "{t:?}"
    );
    let w = t.window.as_ref().expect("sampled over the window");
    assert!(w.samples >= 2, "{w:?}");
    assert_eq!(w.persistent["CLOSE_WAIT"], c, "{w:?}");
    let label = t.netns.as_ref().unwrap();
    assert_eq!(label.name.as_deref(), Some(h.ns.as_str()));
    assert_eq!(label.read_via.as_deref(), Some("sock_diag"));
    // `ip netns exec` may run the holder itself or as its child.
    assert!(
        label.pid == Some(h.pid) || label.pid == Some(h.child.id()),
        "{label:?}, holder {}",
        h.pid
    );
    assert_eq!(t.by_process.len(), 1, "{:?}", t.by_process);
    let p = &t.by_process[0];
    assert_eq!(p.pid, h.pid);
    assert_eq!(
        (
            p.counts["CLOSE_WAIT"],
            p.counts["ESTABLISHED"],
            p.counts["LISTEN"]
        ),
        (c, 2 * e, 1)
    );
    assert_eq!(
        (p.by_peer[0].peer.as_str(), p.by_peer[0].count),
        ("127.0.0.1", c)
    );
}

#[test]
fn a_namespace_the_probe_may_not_enter_is_read_through_proc() {
    use faultline_probe::collect::{netns, process_fds};
    let h = Holder::start("proc");
    let inode = h.inode();
    let found = netns::discover(
        Path::new("/proc"),
        Path::new("/run/netns"),
        netns::own_inode().unwrap(),
    );
    let mut f = found
        .into_iter()
        .find(|f| f.label.inode == inode)
        .expect("the namespace is found");
    assert!(f.pids.contains(&h.pid), "{f:?}");
    // As if setns were refused: the file to enter is not there.
    f.path = "/nonexistent".into();
    let mut spaces = netns::Namespaces::open_found(Path::new("/proc"), vec![f]);
    spaces.sample();
    spaces.sample();
    let owners = process_fds::walk(Path::new("/proc")).unwrap();
    let (tables, unread) = spaces.finish(&owners);
    assert_eq!(unread, None);
    let [t] = &tables[..] else {
        panic!("{tables:?}")
    };
    let label = t.netns.as_ref().unwrap();
    assert_eq!(label.read_via.as_deref(), Some("proc"));
    assert_eq!(t.counts["CLOSE_WAIT"], HELD_CLOSE_WAIT as i64, "{t:?}");
    assert_eq!(t.counts["ESTABLISHED"], 2 * HELD_ESTABLISHED as i64);
    assert_eq!(t.by_process[0].pid, h.pid);
}
