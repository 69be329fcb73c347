//! dns_lookups against a real UDP DNS server on 127.0.0.x:53 that answers
//! search-suffixed names with a slow NXDOMAIN (the ndots:5 penalty).
#![cfg(feature = "collectors")]

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use faultline_probe::collect::dns_lookups;
use faultline_probe::report::{Observation, ResolvConf};

const SLOW: Duration = Duration::from_millis(300);

/// Answers A queries: names under `search.test.` get NXDOMAIN after SLOW,
/// `missing.example.` gets NXDOMAIN, anything else one A record at once.
struct DnsServer {
    stop: Arc<AtomicBool>,
}

impl DnsServer {
    fn start(ip: &str) -> DnsServer {
        let sock = UdpSocket::bind((ip, 53)).expect("bind 53 on loopback (tests run as root)");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let sock = sock.try_clone().unwrap();
                // Answer from a thread so a slow NXDOMAIN does not hold up others.
                thread::spawn(move || {
                    let name = qname(&query);
                    let reply = if name.ends_with("search.test.") {
                        thread::sleep(SLOW);
                        answer(&query, 3, false)
                    } else if name == "missing.example." {
                        answer(&query, 3, false)
                    } else {
                        answer(&query, 0, true)
                    };
                    let _ = sock.send_to(&reply, from);
                });
            }
        });
        DnsServer { stop }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn qname(q: &[u8]) -> String {
    let mut i = 12;
    let mut out = String::new();
    while i < q.len() && q[i] != 0 {
        let len = q[i] as usize;
        out.push_str(&String::from_utf8_lossy(&q[i + 1..i + 1 + len]));
        out.push('.');
        i += len + 1;
    }
    out
}

fn answer(q: &[u8], rcode: u8, with_a: bool) -> Vec<u8> {
    let qend = q.len(); // the query is header + one question
    let mut r = q[..qend].to_vec();
    r[2] = 0x81; // QR, RD
    r[3] = 0x80 | rcode; // RA
    r[6..8].copy_from_slice(&[0, u8::from(with_a)]);
    if with_a {
        // pointer to the question name, A, IN, TTL 60, 4 bytes, 127.0.0.9 (data only, never dialled)
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9]);
    }
    r
}

fn rc(ns: &str, ndots: i64) -> ResolvConf {
    ResolvConf {
        nameservers: vec![ns.to_string()],
        search: vec!["ns1.search.test".into(), "search.test".into()],
        ndots,
        timeout_s: 1.0,
        attempts: 2,
    }
}

#[test]
fn ndots_search_penalty_versus_trailing_dot() {
    let _server = DnsServer::start("127.0.0.153");
    let r = rc("127.0.0.153", 5);
    let relative = dns_lookups::lookup("api.example.com", &r, 53);
    let absolute = dns_lookups::lookup("api.example.com.", &r, 53);
    assert!(relative.ok && absolute.ok, "{relative:?} {absolute:?}");
    assert_eq!(
        relative.tried,
        [
            "api.example.com.ns1.search.test.",
            "api.example.com.search.test.",
            "api.example.com."
        ]
    );
    assert_eq!(absolute.tried, ["api.example.com."]);
    assert!(
        relative.elapsed_ms >= 2.0 * SLOW.as_millis() as f64,
        "{relative:?}"
    );
    assert!(
        absolute.elapsed_ms < SLOW.as_millis() as f64,
        "{absolute:?}"
    );
}

#[test]
fn enough_dots_go_straight_to_the_name() {
    let _server = DnsServer::start("127.0.0.154");
    let l = dns_lookups::lookup("api.example.com", &rc("127.0.0.154", 1), 53);
    assert!(l.ok);
    assert_eq!(l.tried, ["api.example.com."]);
}

#[test]
fn nxdomain_everywhere_is_reported() {
    let _server = DnsServer::start("127.0.0.155");
    let l = dns_lookups::lookup("missing.example.", &rc("127.0.0.155", 1), 53);
    assert!(!l.ok);
    assert_eq!(l.error.as_deref(), Some("NXDOMAIN"));
}

#[test]
fn silent_server_times_out_after_attempts() {
    // Bound but never answering: every query waits out its timeout.
    let _silent = UdpSocket::bind(("127.0.0.156", 53)).unwrap();
    let mut r = rc("127.0.0.156", 1);
    r.timeout_s = 0.2;
    let l = dns_lookups::lookup("api.example.com.", &r, 53);
    assert!(!l.ok);
    assert!(
        l.error.as_deref().unwrap_or_default().contains("timeout"),
        "{l:?}"
    );
    assert!(l.elapsed_ms >= 400.0, "two attempts of 200 ms: {l:?}");
}

#[test]
fn collect_follows_a_resolv_conf_file() {
    let _server = DnsServer::start("127.0.0.157");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    std::fs::write(
        &path,
        "nameserver 127.0.0.157\nsearch search.test\noptions ndots:3 timeout:1\n",
    )
    .unwrap();
    let conf = faultline_probe::collect::resolv::read(&path).unwrap();
    let Observation::DnsLookups(d) = dns_lookups::collect(&["a.b".into()], &conf) else {
        panic!()
    };
    assert_eq!(d.resolv_conf.as_ref().expect("resolv.conf sent").ndots, 3);
    assert_eq!(d.lookups.len(), 2, "the absolute form is added");
    assert_eq!(d.lookups[0].tried, ["a.b.search.test.", "a.b."]);
    assert_eq!(d.lookups[1].tried, ["a.b."]);
}
