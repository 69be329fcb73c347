//! Paste parsers on real command output: each test runs the real command on
//! this machine (against servers it starts on 127.0.0.1) and parses what it
//! printed; outputs a test machine cannot produce are fixtures under
//! `tests/fixtures/paste/`. Every result must make a valid v1 report.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::core::paste::{self, recognise, recognise_all, to_report};
use faultline_probe::report::{Observation, Report};
use proptest::prelude::*;

/// Runs a command and returns stdout then stderr, as a terminal shows them.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test installs it): {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Runs a shell line with bash (for `time`), stdout and stderr together.
fn bash(line: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", &format!("{line} 2>&1")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/paste")
}

/// Parses, builds the report, validates it and round-trips it through JSON.
fn parse(text: &str) -> Vec<Observation> {
    let obs = recognise(text).unwrap_or_else(|e| panic!("{e}\n--- paste ---\n{text}"));
    let report = to_report(obs.clone(), "test-host");
    report.validate().unwrap();
    let json = serde_json::to_vec(&report).unwrap();
    let back = Report::from_json(&json).unwrap();
    assert_eq!(back.observations, obs);
    obs
}

fn only<T>(obs: Vec<Observation>, pick: impl Fn(Observation) -> Option<T>) -> T {
    let n = obs.len();
    let mut found: Vec<T> = obs.into_iter().filter_map(pick).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one observation of the kind among {n}"
    );
    found.remove(0)
}

macro_rules! kind {
    ($obs:expr, $variant:ident) => {
        only($obs, |o| match o {
            Observation::$variant(x) => Some(x),
            _ => None,
        })
    };
}

/// Three server-side sockets left in CLOSE_WAIT: the client closed, the
/// server never did.
fn close_wait_sockets() -> (TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(client);
        held.push(server);
    }
    std::thread::sleep(Duration::from_millis(100));
    (listener, held)
}

#[test]
fn ss_tan_real_output() {
    let (_l, _held) = close_wait_sockets();
    for args in [&["-tan"][..], &["-tanp"], &["-Htan"], &["-an"], &["-tani"]] {
        let out = run("ss", args);
        let t = kind!(parse(&out), TcpStates);
        assert!(t.counts["CLOSE_WAIT"] >= 3, "ss {args:?}: {t:?}");
        assert!(t.counts["LISTEN"] >= 1);
        assert!(
            t.by_peer
                .iter()
                .any(|p| p.peer == "127.0.0.1" && p.state == "CLOSE_WAIT" && p.count >= 3),
            "{:?}",
            t.by_peer
        );
        if args == ["-tanp"] {
            // This process holds its 3; only processes holding more may
            // push it out of the five listed.
            let cw = |p: &faultline_probe::report::ProcessSockets| {
                p.counts.get("CLOSE_WAIT").copied().unwrap_or(0)
            };
            match t.by_process.iter().find(|p| p.pid == std::process::id()) {
                Some(me) => assert_eq!(cw(me), 3, "{me:?}"),
                None => assert!(
                    t.by_process.len() == 5 && t.by_process.iter().all(|p| cw(p) >= 3),
                    "{:?}",
                    t.by_process
                ),
            }
        } else {
            assert!(t.by_process.is_empty(), "no -p, no processes");
        }
    }
}

#[test]
fn ss_state_filter_real_output_with_its_command_line() {
    let (_l, _held) = close_wait_sockets();
    let out = run("ss", &["-tn", "state", "close-wait"]);
    let with_prompt = format!("$ ss -tn state close-wait\n{out}");
    let t = kind!(parse(&with_prompt), TcpStates);
    assert_eq!(t.counts.keys().collect::<Vec<_>>(), ["CLOSE_WAIT"]);
    assert!(t.counts["CLOSE_WAIT"] >= 3);
    // Only that state was counted: the others are unknown, not zero.
    assert_eq!(t.counted, Some(vec!["CLOSE_WAIT".to_string()]));
    // Without the command line the state is unknown: a clear error, no guess.
    let err = recognise(&out).unwrap_err().to_string();
    assert!(err.contains("state"), "{err}");
}

#[test]
fn ss_summary_real_and_old_format() {
    let (_l, _held) = close_wait_sockets();
    let t = kind!(parse(&run("ss", &["-s"])), TcpStates);
    assert!(t.counts["ESTABLISHED"] >= 0 && t.counts.contains_key("TIME_WAIT"));
    let counted = t.counted.expect("a summary is a partial count");
    assert!(!counted.iter().any(|s| s == "CLOSE_WAIT"), "{counted:?}");
    let old = kind!(parse(&fixture("ss-s-old.txt")), TcpStates);
    assert_eq!(old.counts["ESTABLISHED"], 1021);
    assert_eq!(old.counts["TIME_WAIT"], 46498);
    assert_eq!(old.counts["CLOSE"], 32);
    assert_eq!(old.counts["SYN_RECV"], 0);
}

#[test]
fn nstat_real_output() {
    // Make sure the counters move.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let _c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let n = kind!(parse(&run("nstat", &["-az"])), NetCounters);
    assert!(n.deltas["TcpActiveOpens"] >= 1, "{:?}", n.deltas);
    assert!(n.deltas.contains_key("TcpExtListenOverflows"));
    assert!(n.deltas.contains_key("TcpRetransSegs"));
    // Plain `nstat` (deltas since its last run) has the same shape.
    let again = run("nstat", &[]);
    if again.lines().count() > 1 {
        kind!(parse(&again), NetCounters);
    }
}

#[test]
fn ss_s_then_nstat_concatenated_give_both() {
    let text = format!(
        "$ ss -s\n{}\n$ nstat -az\n{}",
        run("ss", &["-s"]),
        run("nstat", &["-az"])
    );
    let obs = parse(&text);
    assert_eq!(
        obs.iter().map(|o| o.kind()).collect::<Vec<_>>(),
        ["tcp_states", "net_counters"]
    );
    // Without prompts the two formats are still told apart.
    let bare = format!("{}{}", run("ss", &["-s"]), run("nstat", &["-az"]));
    assert_eq!(parse(&bare).len(), 2);
}

#[test]
fn ip_link_real_output() {
    for args in [&["link"][..], &["-d", "link"], &["addr"]] {
        let i = kind!(parse(&run("ip", args)), Interfaces);
        let lo = i.interfaces.iter().find(|i| i.name == "lo").unwrap();
        assert!(lo.up && lo.mtu == 65536, "ip {args:?}: {lo:?}");
        assert_eq!(lo.kind.as_deref(), Some("loopback"));
        // Same interfaces as the probe reads from sysfs.
        let Observation::Interfaces(probe) =
            faultline_probe::collect::interfaces::collect().unwrap()
        else {
            panic!()
        };
        for p in &probe.interfaces {
            let mine = i.interfaces.iter().find(|i| i.name == p.name).unwrap();
            assert_eq!((mine.mtu, mine.up), (p.mtu, p.up), "{}", p.name);
        }
    }
}

#[test]
fn iptables_save_real_output_in_a_private_netns() {
    let out = bash(
        "unshare -n sh -c 'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE \
         && iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE \
         && iptables -t filter -A FORWARD -s 192.168.0.0/16 -j ACCEPT && iptables-save'",
    );
    let n = kind!(parse(&out), NatRules);
    assert_eq!(
        n.masquerade_sources,
        ["10.244.0.0/16", "172.17.0.0/16"],
        "{out}"
    );
    // A host with no NAT rules at all still parses (empty list).
    let empty = bash("unshare -n sh -c 'iptables -A FORWARD -j ACCEPT && iptables-save'");
    assert!(kind!(parse(&empty), NatRules).masquerade_sources.is_empty());
}

#[test]
fn resolv_conf_real_and_kubernetes() {
    let k = kind!(parse(&fixture("resolv-k8s.conf")), DnsLookups);
    let r = k.resolv_conf.expect("resolv.conf parsed");
    assert_eq!(r.ndots, 5);
    assert_eq!(r.nameservers, ["10.96.0.10"]);
    assert_eq!(r.search.len(), 3);
    // This machine's own file reads the same as the probe reads it.
    let real = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    let useful = real
        .lines()
        .any(|l| l.starts_with("nameserver") || l.starts_with("search"));
    if useful {
        let d = kind!(
            parse(&format!("$ cat /etc/resolv.conf\n{real}")),
            DnsLookups
        );
        let probe = faultline_probe::collect::resolv::parse(&real);
        assert_eq!(d.resolv_conf, Some(probe));
    }
}

// ---- DNS: a tiny server on 127.0.0.1 ----

/// Answers A queries with 127.0.0.1, `nope.*` with NXDOMAIN, AAAA with no
/// answer; names starting with `slow` after 1.2 s.
fn dns_server() -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                return;
            };
            let q = &buf[..n];
            if n < 17 {
                continue;
            }
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let len = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..(i + 1 + len).min(n)]).into_owned());
                i += 1 + len;
            }
            let end = (i + 5).min(n);
            let qtype = u16::from_be_bytes([q[end - 4], q[end - 3]]);
            let name = labels.join(".");
            if name.starts_with("slow") {
                std::thread::sleep(Duration::from_millis(1200));
            }
            let nx = name.starts_with("nope");
            let answer = !nx && qtype == 1;
            let mut r = Vec::new();
            r.extend_from_slice(&q[..2]);
            r.extend_from_slice(&[0x81, if nx { 0x83 } else { 0x80 }]);
            r.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..end]);
            if answer {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            let _ = sock.send_to(&r, from);
        }
    });
    port
}

#[test]
fn dig_real_output() {
    let port = dns_server().to_string();
    let ok = run("dig", &["@127.0.0.1", "-p", &port, "api.shop.example"]);
    let d = kind!(parse(&ok), DnsLookups);
    let l = &d.lookups[0];
    assert_eq!((l.name.as_str(), l.ok), ("api.shop.example.", true), "{ok}");
    assert!(l.elapsed_ms < 1000.0);

    let nx = run("dig", &["@127.0.0.1", "-p", &port, "nope.shop.example"]);
    let l = kind!(parse(&nx), DnsLookups).lookups.remove(0);
    assert_eq!((l.ok, l.error.as_deref()), (false, Some("NXDOMAIN")));

    // Timed with `time`: the wall time wins over dig's own query time.
    let slow = bash(&format!("time dig @127.0.0.1 -p {port} slow.shop.example"));
    let text = format!("$ time dig @127.0.0.1 -p {port} slow.shop.example\n{slow}");
    let l = kind!(parse(&text), DnsLookups).lookups.remove(0);
    assert!(l.ok && l.elapsed_ms >= 1100.0, "{l:?}\n{slow}");

    // Nobody listening: refused or timed out, a failed lookup.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port().to_string();
    drop(dead);
    let down = bash(&format!(
        "time dig @127.0.0.1 -p {dead_port} +tries=1 +time=1 db.shop.example"
    ));
    let l = kind!(parse(&down), DnsLookups).lookups.remove(0);
    assert!(!l.ok && l.error.is_some(), "{l:?}\n{down}");
}

#[test]
fn time_nslookup_real_output() {
    let port = dns_server();
    let cmd = format!("time nslookup -port={port} slow.shop.example 127.0.0.1");
    let text = format!("$ {cmd}\n{}", bash(&cmd));
    let l = kind!(parse(&text), DnsLookups).lookups.remove(0);
    assert_eq!(l.name, "slow.shop.example");
    assert!(l.ok && l.elapsed_ms >= 1100.0, "{l:?}\n{text}");

    let cmd = format!("time nslookup -port={port} nope.shop.example 127.0.0.1");
    let out = bash(&cmd);
    // Without the command line the name comes from nslookup's own message.
    let l = kind!(parse(&out), DnsLookups).lookups.remove(0);
    assert_eq!(l.name, "nope.shop.example");
    assert_eq!(
        (l.ok, l.error.as_deref()),
        (false, Some("NXDOMAIN")),
        "{out}"
    );

    // Without `time` there is no duration: said clearly, not guessed.
    let untimed = run(
        "nslookup",
        &[&format!("-port={port}"), "api.shop.example", "127.0.0.1"],
    );
    let err = recognise(&untimed).unwrap_err().to_string();
    assert!(err.contains("time nslookup"), "{err}");
}

#[test]
fn resolv_conf_and_lookups_merge_into_one_observation() {
    let port = dns_server();
    let text = format!(
        "$ cat /etc/resolv.conf\n{}\n$ time nslookup -port={port} api.shop.example 127.0.0.1\n{}",
        fixture("resolv-k8s.conf"),
        bash(&format!(
            "time nslookup -port={port} api.shop.example 127.0.0.1"
        ))
    );
    let d = kind!(parse(&text), DnsLookups);
    assert_eq!(d.resolv_conf.map(|r| r.ndots), Some(5));
    assert_eq!(d.lookups.len(), 1);
}

// ---- TLS: openssl s_server with throwaway certificates ----

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A root CA, an intermediate, and a leaf for `localhost`.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let script = format!(
            "set -e; cd {d}
openssl req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=Paste Test Root' \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign
openssl req {key} -keyout int.key -out int.csr -subj '/CN=Paste Test Intermediate'
printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,cRLSign\\n' > int.ext
openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out int.pem -days 2 -extfile int.ext
openssl req {key} -keyout leaf.key -out leaf.csr -subj '/CN=localhost'
printf 'subjectAltName=DNS:localhost\\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext
openssl req -x509 {key} -keyout self.key -out self.pem -days 2 -subj '/CN=localhost'"
        );
        let out = Command::new("bash").args(["-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s_server(args: &[&str]) -> Server {
    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    let child = Command::new("openssl")
        .args(["s_server", "-accept", &accept, "-quiet"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&accept).is_err() {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child, port)
}

/// The s_client command line and what it printed (stderr first, as a
/// terminal shows the `depth=` lines before the chain).
fn s_client(port: u16, extra: &[&str]) -> String {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect, "-servername", "localhost"];
    args.extend_from_slice(extra);
    let out = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "$ openssl {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

#[test]
fn openssl_s_client_real_output() {
    let pki = Pki::new();
    let (leaf, key, int, ca) = (
        pki.path("leaf.pem"),
        pki.path("leaf.key"),
        pki.path("int.pem"),
        pki.path("ca.pem"),
    );

    // The intermediate is not sent: the chain is incomplete.
    let incomplete = s_server(&["-cert", &leaf, "-key", &key]);
    let text = s_client(incomplete.1, &["-showcerts", "-CAfile", &ca]);
    let t = kind!(parse(&text), TlsHandshake);
    assert_eq!(t.verify, "unknown_issuer", "{text}");
    assert_eq!(t.chain.len(), 1);
    assert_eq!(t.chain[0].subject, "CN=localhost");
    assert_eq!(t.chain[0].issuer, "CN=Paste Test Intermediate");
    assert!(!t.chain[0].self_signed);
    assert!(t.chain[0].not_after > chrono::Utc::now());
    assert_eq!(t.target, format!("127.0.0.1:{}", incomplete.1));
    assert_eq!(t.sni.as_deref(), Some("localhost"));
    assert!(t.versions.values().all(|ok| *ok) && !t.versions.is_empty());

    // With the intermediate sent, it verifies.
    let complete = s_server(&["-cert", &leaf, "-key", &key, "-cert_chain", &int]);
    let text = s_client(complete.1, &["-showcerts", "-CAfile", &ca]);
    let t = kind!(parse(&text), TlsHandshake);
    assert_eq!(t.verify, "ok", "{text}");
    assert_eq!(t.chain.len(), 2);
    assert_eq!(t.chain[1].subject, "CN=Paste Test Intermediate");

    // Without -showcerts only s:/i: lines (and openssl 3's v: line) remain.
    let text = s_client(complete.1, &["-CAfile", &ca]);
    let t = kind!(parse(&text), TlsHandshake);
    assert_eq!((t.verify.as_str(), t.chain.len()), ("ok", 2), "{text}");

    // A self-signed certificate.
    let selfs = s_server(&[
        "-cert",
        &pki.path("self.pem"),
        "-key",
        &pki.path("self.key"),
    ]);
    let text = s_client(selfs.1, &["-showcerts"]);
    let t = kind!(parse(&text), TlsHandshake);
    assert_eq!(t.verify, "unknown_issuer");
    assert!(t.chain[0].self_signed);

    // TLS 1.3 only on the server, 1.2 only on the client: no handshake.
    let only13 = s_server(&["-cert", &leaf, "-key", &key, "-tls1_3"]);
    let text = s_client(only13.1, &["-tls1_2"]);
    let t = kind!(parse(&text), TlsHandshake);
    assert_eq!(t.verify, "handshake_failure", "{text}");
    assert_eq!(t.versions.get("TLSv1.2"), Some(&false));
}

// ---- curl -w against a local HTTP server ----

/// Answers every request; `/fail` with 502.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            let status = if String::from_utf8_lossy(&buf[..n]).starts_with("GET /fail") {
                "502 Bad Gateway"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    port
}

#[test]
fn curl_w_real_output() {
    let port = http_server();
    let url = format!("http://localhost:{port}/api");
    let verbose = "time_namelookup: %{time_namelookup}\\ntime_connect: %{time_connect}\\n\
time_appconnect: %{time_appconnect}\\ntime_starttransfer: %{time_starttransfer}\\n\
time_total: %{time_total}\\nhttp_code: %{http_code}\\n";
    let mut text = format!("$ curl -s -o /dev/null -w '{verbose}' {url}\n");
    for _ in 0..3 {
        text.push_str(&run(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                &verbose.replace("\\n", "\n"),
                &url,
            ],
        ));
    }
    let obs = parse(&text);
    let h = only(obs.clone(), |o| match o {
        Observation::HttpLatency(h) => Some(h),
        _ => None,
    });
    assert_eq!(h.target, url);
    assert_eq!(h.samples.len(), 3, "{text}");
    assert!(h.samples.iter().all(|s| s.2 == 200 && s.1 >= 0.0));
    let d = kind!(obs, DnsLookups);
    assert_eq!(d.lookups.len(), 3);
    assert_eq!(d.lookups[0].name, "localhost");

    // The one-line `dns=… total=…` style, with a failing request.
    let short =
        "dns=%{time_namelookup} connect=%{time_connect} total=%{time_total} code=%{http_code}\n";
    let fail = format!("http://127.0.0.1:{port}/fail");
    let out = run("curl", &["-s", "-o", "/dev/null", "-w", short, &fail]);
    let h = kind!(
        parse(&format!("$ curl -s -o /dev/null -w '…' {fail}\n{out}")),
        HttpLatency
    );
    assert_eq!(h.samples[0].2, 502, "{out}");

    // Nothing listening: curl prints 000, a transport error.
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let out = run("curl", &["-s", "-o", "/dev/null", "-w", short, &dead]);
    let h = kind!(parse(&out), HttpLatency);
    assert_eq!(h.samples[0].2, 0, "{out}");

    // The checked-in incident: every other lookup waits out a 5 s timeout.
    let obs = parse(&fixture("curl-timing.txt"));
    let d = kind!(obs.clone(), DnsLookups);
    assert_eq!(d.lookups[0].name, "orders.shop");
    assert!(d.lookups[0].elapsed_ms > 5000.0 && d.lookups[1].elapsed_ms < 10.0);
    assert_eq!(kind!(obs, HttpLatency).samples.len(), 4);
}

// ---- conntrack ----

#[test]
fn conntrack_real_output_or_fixture() {
    // This machine's own counters, when the module is loaded.
    let stats = run("conntrack", &["-S"]);
    if stats.starts_with("cpu=") {
        let c = kind!(parse(&stats), Conntrack);
        assert!(c.drops.is_some() && c.insert_failed.is_some());
        let c = kind!(parse(&run("conntrack", &["-C"])), Conntrack);
        assert!(c.count.is_some());
        let c = kind!(parse(&run("sysctl", &["net.netfilter"])), Conntrack);
        assert!(c.max.is_some_and(|m| m > 0) && c.count.is_some());
        assert!(c.timeouts.contains_key("tcp_timeout_established"));
        let max = run("cat", &["/proc/sys/net/netfilter/nf_conntrack_max"]);
        let text = format!("$ cat /proc/sys/net/netfilter/nf_conntrack_max\n{max}");
        let c = kind!(parse(&text), Conntrack);
        assert_eq!(c.max, max.trim().parse().ok());
        let grep = bash("grep . /proc/sys/net/netfilter/nf_conntrack_*");
        let c = kind!(parse(&grep), Conntrack);
        assert!(c.count.is_some() && c.max.is_some() && !c.timeouts.is_empty());
        let list = run("conntrack", &["-L"]);
        assert!(kind!(parse(&list), Conntrack).count.is_some(), "{list}");
    }
    let c = kind!(parse(&fixture("conntrack-S.txt")), Conntrack);
    assert_eq!(c.drops, Some(5873 + 6012 + 5990 + 6107));
    assert_eq!(c.insert_failed, Some(41 + 37 + 44 + 39));
    assert_eq!((c.count, c.max), (None, None));
}

#[test]
fn conntrack_session_merges_and_counts_kernel_lines() {
    let obs = parse(&fixture("conntrack-full-session.txt"));
    assert_eq!(
        obs.iter().map(|o| o.kind()).collect::<Vec<_>>(),
        ["conntrack", "log_matches"]
    );
    let c = kind!(obs.clone(), Conntrack);
    assert_eq!((c.count, c.max), (Some(262141), Some(262144)));
    assert_eq!(c.timeouts["tcp_timeout_established"], 432000);
    assert_eq!(c.timeouts["tcp_timeout_time_wait"], 120);
    assert_eq!(c.timeouts["udp_timeout"], 30);
    assert_eq!(c.drops, Some(5873 + 6012));
    let l = kind!(obs, LogMatches);
    let n = |p: &str| l.patterns.iter().find(|x| x.pattern == p).unwrap().count;
    assert_eq!(n("nf_conntrack: table full, dropping packet"), 3);
}

// ---- fixtures for what this machine cannot produce ----

#[test]
fn kubectl_pods_json() {
    let k = kind!(parse(&fixture("pods.json")), K8sPods);
    assert_eq!(k.pods.len(), 2);
    let p = &k.pods[0];
    assert_eq!(
        (p.namespace.as_str(), p.name.as_str()),
        ("shop", "checkout-6c9d7b8f4-x2x9q")
    );
    assert_eq!((p.restarts, p.dns_ndots), (12, Some(5)));
    assert_eq!(p.last_terminated_reason.as_deref(), Some("OOMKilled"));
    assert!(!p.ready && p.has_readiness_probe && !p.has_pre_stop);
    assert!(k.pods[1].ready && k.pods[1].has_pre_stop);
    // The probe reads the same document the same way.
    let probe = faultline_probe::collect::k8s_pods::parse(&fixture("pods.json")).unwrap();
    assert_eq!(Observation::K8sPods(k), probe);
    // Other JSON is not taken for pods.
    assert!(recognise("{\"kind\": \"ServiceList\", \"items\": []}").is_err());
}

#[test]
fn nginx_error_log() {
    let l = kind!(parse(&fixture("nginx-error.log")), LogMatches);
    let n = |p: &str| l.patterns.iter().find(|x| x.pattern == p).unwrap().count;
    assert_eq!(n("upstream prematurely closed connection"), 3);
    assert_eq!(n("connect() failed (111: Connection refused)"), 2);
    assert_eq!(n("no live upstreams"), 1);
    assert_eq!(n("upstream timed out (110: Connection timed out)"), 1);
    assert!(l.source.contains("nginx"));
}

#[test]
fn dmesg_lines() {
    let l = kind!(parse(&fixture("dmesg.txt")), LogMatches);
    let n = |p: &str| l.patterns.iter().find(|x| x.pattern == p).unwrap().count;
    assert_eq!(n("nf_conntrack: table full, dropping packet"), 4);
    assert!(l.source.contains("kernel"));
}

// ---- truncated and garbled input ----

/// Every fixture and a few real outputs, cut short and garbled: either a
/// valid report or a clear error, never a panic.
#[test]
fn truncated_and_garbled_input_is_a_clear_error_or_valid() {
    let mut samples: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    samples.push(run("ss", &["-tan"]));
    samples.push(run("ss", &["-s"]));
    samples.push(run("ip", &["-d", "link"]));
    samples.push(run("nstat", &["-az"]));
    samples.push(bash(
        "unshare -n sh -c 'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE && iptables-save'",
    ));
    let port = dns_server();
    samples.push(bash(&format!(
        "time dig @127.0.0.1 -p {port} api.shop.example"
    )));
    samples.push(bash(&format!(
        "time nslookup -port={port} nope.shop.example 127.0.0.1"
    )));
    let pki = Pki::new();
    let server = s_server(&[
        "-cert",
        &pki.path("leaf.pem"),
        "-key",
        &pki.path("leaf.key"),
    ]);
    samples.push(s_client(server.1, &["-showcerts"]));
    for s in &samples {
        let chars: Vec<char> = s.chars().collect();
        for cut in (0..chars.len()).step_by(chars.len() / 37 + 1) {
            let text: String = chars[..cut].iter().collect();
            check_clear(&text);
            let garbled: String = text
                .chars()
                .map(|c| if c == ':' || c == '=' { ' ' } else { c })
                .collect();
            check_clear(&garbled);
        }
    }
    // A pods document cut in the middle is not taken for pods.
    let pods = fixture("pods.json");
    let err = recognise(&pods[..pods.len() / 2]).unwrap_err().to_string();
    assert!(err.contains("kubectl get pods -o json"), "{err}");
}

fn check_clear(text: &str) {
    match recognise(text) {
        Ok(obs) => to_report(obs, "t").validate().unwrap(),
        Err(e) => assert!(e.to_string().contains("Faultline recognises")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check_clear(&text);
    }

    #[test]
    fn arbitrary_lines_of_known_shapes_never_panic(
        lines in prop::collection::vec(prop_oneof![
            "[A-Z-]{3,11} [0-9]{1,3} [0-9]{1,3} [0-9.:\\[\\]*%a-z]{1,30} [0-9.:\\[\\]*]{1,30}",
            "TCP: +[0-9]{1,4} \\((estab|closed|timewait|synrecv) [0-9/]{1,5}(, [a-z]+ [0-9]{0,3}){0,4}\\)?",
            "(Tcp|Ip|TcpExt)[A-Za-z]{0,12} +[0-9]{0,20} +[0-9.]{0,5}",
            "cpu=[0-9] +(found|drop|insert_failed)=[0-9-]{0,20}",
            "net\\.netfilter\\.nf_conntrack_[a-z_]{0,20} = [0-9a-z]{0,12}",
            "(nameserver|search|options|domain) [a-z0-9.:]{0,30}",
            ";; (Query time: [0-9]{0,6} msec|->>HEADER<<- opcode: QUERY, status: [A-Z]{0,8}|ANSWER: [0-9]?)",
            "(Server|Address|Name):\\s+[a-z0-9.#]{0,20}",
            "(real|user|sys)\\s+[0-9]{0,2}m[0-9.]{0,6}s",
            " ?[0-9] s:CN ?= ?[a-z]{0,8}|   i:[A-Za-z =]{0,12}|   v:NotBefore: .{0,30}; NotAfter: .{0,30}",
            "(Verify return code: [0-9]{0,3} \\(.{0,20}\\)|CONNECTED\\(0+3\\)|Certificate chain|---|New, TLSv1\\.[23], Cipher is X)",
            "-----(BEGIN|END) CERTIFICATE-----|[A-Za-z0-9+/]{16,64}",
            "(\\*nat|COMMIT|-A POSTROUTING (! )?-s [0-9./]{0,18} -j MASQUERADE|:[A-Z]+ ACCEPT \\[0:0\\])",
            "[0-9]{1,2}: [a-z0-9@]{1,10}: <[A-Z_,]{0,30}> mtu [0-9]{0,6} state (UP|DOWN|UNKNOWN)",
            "    (link/loopback|veth|bridge) .{0,20}",
            "(time_namelookup|time_total|http_code|dns|total|code)[:=] ?[0-9.ms]{0,8}",
            "20[0-9]{2}/[0-9]{2}/[0-9]{2} [0-9:]{8} \\[error\\] [0-9#]{0,6}: .{0,60}",
            "\\[ ?[0-9.]{0,14}\\] nf_conntrack: table full, dropping packet",
            "\\$ (ss -tn state close-wait|dig x|time nslookup y|openssl s_client -connect a:1|conntrack -C|cat /proc/sys/net/netfilter/nf_conntrack_max)",
            "[{}\\[\\]\",: a-z0-9]{0,40}",
            "[0-9]{0,25}",
            "",
        ], 0..40)
    ) {
        check_clear(&lines.join("\n"));
    }
}

// ---- the binary ----

#[test]
fn faultline_parse_binary_on_real_ss_output() {
    let (_l, _held) = close_wait_sockets();
    let ss = run("ss", &["-tan"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["parse", "-", "--collector", "node-5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ss.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = Report::from_json(&out.stdout).unwrap();
    assert_eq!(report.collector.name, "node-5");
    let Observation::TcpStates(t) = &report.observations[0] else {
        panic!("{report:?}")
    };
    assert!(t.counts["CLOSE_WAIT"] >= 3);
    // Pretty-printed JSON.
    assert!(String::from_utf8_lossy(&out.stdout).contains("\n  \"schema\""));

    // From a file too; the collector defaults to this host's name.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ss.txt");
    std::fs::write(&file, &ss).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("parse")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let report = Report::from_json(&out.stdout).unwrap();
    assert!(!report.collector.name.is_empty());
}

#[test]
fn faultline_parse_binary_rejects_unrecognised_text() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["parse", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the pods keep restarting, any idea?\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not recognised") || err.contains("Not recognised"),
        "{err}"
    );
    assert!(
        err.contains("ss -tan") && err.contains("openssl s_client"),
        "{err}"
    );
}

#[test]
fn supported_list_names_every_input() {
    let all = paste::SUPPORTED.join(" ");
    for cmd in [
        "ss -tan",
        "ss -s",
        "nstat",
        "conntrack -S",
        "conntrack -C",
        "resolv.conf",
        "nslookup",
        "dig",
        "openssl s_client",
        "iptables-save",
        "ip link",
        "kubectl get pods",
        "curl -w",
        "nginx",
        "dmesg",
    ] {
        assert!(all.contains(cmd), "{cmd}");
    }
    let r = recognise_all("$ uptime\n 10:00:00 up 3 days\n$ conntrack -C\n12\n");
    assert_eq!(r.unrecognised.len(), 1);
    assert_eq!(r.unrecognised[0].command.as_deref(), Some("uptime"));
    assert_eq!(r.observations.len(), 1);
}
