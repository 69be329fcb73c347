//! TCP-level collectors against real loopback servers: held-connection
//! lifetimes, keep-alive timeout, HTTP latency, connect attempts, socket states.
#![cfg(feature = "collectors")]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use faultline_probe::collect::{
    conn_lifetimes, connect_attempts, http_latency, keepalive, tcp_states,
};
use faultline_probe::report::EndedBy;
use socket2::{Domain, Socket, Type};

/// Accepts connections and ends each one `after` with RST (linger 0) or FIN; None = never.
fn closing_server(after: Option<Duration>, rst: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            thread::spawn(move || {
                let Some(after) = after else {
                    // Hold it forever (the test process ends it).
                    thread::sleep(Duration::from_secs(3600));
                    drop(s);
                    return;
                };
                thread::sleep(after);
                let sock = Socket::from(s);
                if rst {
                    sock.set_linger(Some(Duration::ZERO)).unwrap();
                } else {
                    let _ = sock.shutdown(Shutdown::Write);
                    thread::sleep(Duration::from_millis(200));
                }
                drop(sock);
            });
        }
    });
    addr
}

#[test]
fn idle_connections_reset_after_one_second() {
    let addr = closing_server(Some(Duration::from_secs(1)), true);
    let l = conn_lifetimes::collect(&addr, 3, Duration::from_secs(5)).unwrap();
    assert!(l.idle);
    assert_eq!(l.connections.len(), 3);
    for c in &l.connections {
        assert_eq!(c.ended_by, EndedBy::Rst, "{l:?}");
        assert!((0.9..2.0).contains(&c.duration_s), "{c:?}");
    }
}

#[test]
fn fin_and_open_are_told_apart() {
    let fin = closing_server(Some(Duration::from_millis(500)), false);
    let l = conn_lifetimes::collect(&fin, 1, Duration::from_secs(3)).unwrap();
    assert_eq!(l.connections[0].ended_by, EndedBy::Fin, "{l:?}");
    let never = closing_server(None, false);
    let l = conn_lifetimes::collect(&never, 2, Duration::from_millis(800)).unwrap();
    assert!(
        l.connections
            .iter()
            .all(|c| c.ended_by == EndedBy::Open && c.duration_s >= 0.7),
        "{l:?}"
    );
}

/// A tiny HTTP/1.1 server: answers `status` to each request and closes an
/// idle keep-alive connection after `idle`.
fn http_server(idle: Duration, status: u16, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    s.set_read_timeout(Some(idle)).unwrap();
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return, // idle timeout or client gone: close (FIN)
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        thread::sleep(delay);
                        let body = "ok\n";
                        // Redirects point back here: a client that follows them loops.
                        let location = if (300..400).contains(&status) {
                            "Location: /again\r\n"
                        } else {
                            ""
                        };
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\n{location}Content-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// No keepalive collector ran: the HTTP sampler keeps its steady pace.
fn no_hint() -> keepalive::IdleHint {
    keepalive::IdleHint::new(0)
}

#[test]
fn keepalive_timeout_is_measured() {
    let addr = http_server(Duration::from_millis(1500), 200, Duration::ZERO);
    let k = keepalive::collect(&format!("http://{addr}/"), Duration::from_secs(5)).unwrap();
    let s = k
        .closed_idle_after_s
        .expect("server closed within the wait");
    assert!((1.3..2.5).contains(&s), "{k:?}");
    assert_eq!(k.closes_s.len(), keepalive::CONNECTIONS, "{k:?}");
    assert_eq!(k.closes_s[0], s, "the first close is the timer");
}

#[test]
fn http_sampling_leaves_the_measured_idle_between_requests() {
    let addr = http_server(Duration::from_secs(30), 200, Duration::ZERO);
    let hint = keepalive::IdleHint::new(1);
    hint.report(Some(0.6));
    let h =
        http_latency::collect(&format!("http://{addr}/"), Duration::from_secs(4), &hint).unwrap();
    assert_eq!(h.idle_after_s, Some(0.6), "{h:?}");
    assert!(h.samples.len() <= 2, "steady sampling stops: {h:?}");
    let bursts = h.idle_samples.chunks(http_latency::IDLE_BURST);
    assert!(bursts.len() >= 4, "{h:?}");
    for (burst, factor) in bursts.zip(http_latency::IDLE_GAPS.iter().cycle()) {
        assert_eq!(burst.len(), http_latency::IDLE_BURST, "{h:?}");
        for s in burst {
            assert_eq!(s.status, 200);
            let want = 0.6 * factor;
            assert!(
                (want..want + 0.15).contains(&s.gap_s),
                "{s:?} wanted {want}"
            );
        }
    }
    // Nothing measured: steady sampling for the whole window.
    let h = http_latency::collect(
        &format!("http://{addr}/"),
        Duration::from_secs(1),
        &no_hint(),
    )
    .unwrap();
    assert!(h.idle_samples.is_empty() && h.idle_after_s.is_none());
    assert!(h.samples.len() >= 4, "{h:?}");
}

#[test]
fn keepalive_longer_than_the_wait_is_null() {
    let addr = http_server(Duration::from_secs(30), 200, Duration::ZERO);
    let k = keepalive::collect(&format!("http://{addr}/"), Duration::from_millis(700)).unwrap();
    assert_eq!(k.closed_idle_after_s, None);
    assert_eq!(k.waited_s, Some(0.7));
}

#[test]
fn http_latency_keeps_raw_samples_with_status() {
    let addr = http_server(Duration::from_secs(5), 503, Duration::from_millis(50));
    let started_ms = chrono::Utc::now().timestamp_millis();
    let h = http_latency::collect(
        &format!("http://{addr}/health"),
        Duration::from_secs(1),
        &no_hint(),
    )
    .unwrap();
    assert!(h.samples.len() >= 3, "{h:?}");
    for s in &h.samples {
        assert_eq!(s.2, 503);
        assert!(s.1 >= 50.0, "latency includes the server's delay: {s:?}");
        assert!(s.0 >= started_ms);
    }
}

#[test]
fn http_latency_transport_error_is_status_zero() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = http_latency::collect(
        &format!("http://127.0.0.1:{port}/"),
        Duration::ZERO,
        &no_hint(),
    )
    .unwrap();
    assert_eq!(h.samples.len(), 1);
    assert_eq!(h.samples[0].2, 0);
}

#[test]
fn refused_connects_are_counted_with_times() {
    // Bind then drop: nothing listens on the port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let plan = connect_attempts::Plan {
        attempts: 4,
        spacing: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
    };
    let t = connect_attempts::probe(&format!("127.0.0.1:{port}"), plan).unwrap();
    assert_eq!((t.attempts, t.ok, t.refused, t.timeout), (4, 0, 4, 0));
    assert_eq!(t.refused_at.len(), 4);
    assert!(t.refused_at.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn listener_that_never_accepts_times_out() {
    // Backlog 0 and no accept(): once the queue is full, SYNs are dropped.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap().to_string();
    let plan = connect_attempts::Plan {
        attempts: 4,
        spacing: Duration::ZERO,
        timeout: Duration::from_millis(500),
    };
    let started = Instant::now();
    let t = connect_attempts::probe(&addr, plan).unwrap();
    assert!(t.timeout >= 2, "{t:?}");
    assert_eq!(t.refused, 0);
    assert!(started.elapsed() >= Duration::from_millis(1000));
}

#[test]
fn close_wait_sockets_are_counted_by_peer_via_netlink_and_proc() {
    // The server side closes at once; our client sockets sit in CLOSE_WAIT.
    let listener = TcpListener::bind("127.0.0.77:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // 600 sockets span several netlink datagrams (about 32 KiB each).
    const N: usize = 600;
    let clients: Vec<TcpStream> = (0..N)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            drop(listener.accept().unwrap());
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let (nl, source) = tcp_states::sockets().unwrap();
    assert_eq!(
        source,
        tcp_states::Source::Netlink,
        "netlink sock_diag must work here"
    );
    let proc_ = tcp_states::read_proc().unwrap();
    let peer: std::net::IpAddr = "127.0.0.77".parse().unwrap();
    let count =
        |s: &[tcp_states::SockEntry]| s.iter().filter(|(st, p)| *st == 8 && *p == peer).count();
    assert_eq!(count(&nl), N);
    assert_eq!(count(&proc_), N);
    let t = tcp_states::summarize(&nl);
    assert!(t.counts["CLOSE_WAIT"] >= N as i64);
    assert!(
        t.by_peer
            .iter()
            .any(|p| p.peer == "127.0.0.77" && p.state == "CLOSE_WAIT" && p.count == N as i64),
        "{:?}",
        t.by_peer
    );
    drop(clients);
}

#[test]
fn http_latency_records_redirects_without_following() {
    let addr = http_server(Duration::from_secs(5), 302, Duration::ZERO);
    let h = http_latency::collect(&format!("http://{addr}/"), Duration::ZERO, &no_hint()).unwrap();
    assert_eq!(h.samples[0].2, 302, "{h:?}");
}

/// Runs `faultline-probe collect --out - ARGS…` (host collectors on).
fn probe_collect(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_faultline-probe"))
        .args(["collect", "--out", "-"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn report_of(child: std::process::Child) -> faultline_probe::report::Report {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    faultline_probe::report::Report::from_json(&out.stdout).expect("valid v1 report")
}

#[test]
fn a_listen_queue_overflow_late_in_the_window_is_counted() {
    // A listener with a backlog of 1 that never accepts: once its queue is
    // full, the handshakes that complete overflow it.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.79:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(1).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let started = Instant::now();
    let probe = probe_collect(&["--for", "4"]);
    // Two seconds in: a burst of connects, long after a one-second window.
    thread::sleep(Duration::from_secs(2));
    let clients: Vec<Socket> = (0..20)
        .map(|_| {
            let c = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            c.set_nonblocking(true).unwrap();
            let _ = c.connect(&addr.into());
            c
        })
        .collect();
    let r = report_of(probe);
    assert!(started.elapsed() >= Duration::from_secs(4));
    let n = r
        .observations
        .iter()
        .find_map(|o| match o {
            faultline_probe::report::Observation::NetCounters(n) => Some(n.clone()),
            _ => None,
        })
        .expect("net_counters");
    assert!(
        n.interval_s >= 3.9,
        "counters cover the whole window: {n:?}"
    );
    assert!(
        n.deltas["TcpExtListenOverflows"] >= 1,
        "the burst 2 s in shows: {:?}",
        n.deltas
    );
    drop(clients);
}

#[test]
fn close_waits_are_tied_to_the_process_that_holds_them_and_stay_put() {
    // This process accepts N connections and never closes them; the
    // clients (from their own loopback address) close theirs at once.
    const N: usize = 120;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client_ip: std::net::SocketAddr = "127.0.0.78:0".parse().unwrap();
    let held: Vec<TcpStream> = (0..N)
        .map(|_| {
            let c = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            c.bind(&client_ip.into()).unwrap();
            c.connect(&addr.into()).unwrap();
            let (s, _) = listener.accept().unwrap();
            drop(c);
            s
        })
        .collect();
    let r = report_of(probe_collect(&["--for", "2"]));
    let t = r
        .observations
        .iter()
        .find_map(|o| match o {
            faultline_probe::report::Observation::TcpStates(t) => Some(t.clone()),
            _ => None,
        })
        .expect("tcp_states");
    let w = t.window.as_ref().expect("a window");
    assert!(w.samples >= 3, "sampled every second over 2 s: {w:?}");
    assert!(w.persistent["CLOSE_WAIT"] >= N as i64, "{w:?}");
    let me = t
        .by_process
        .iter()
        .find(|p| p.pid == std::process::id())
        .unwrap_or_else(|| panic!("this process is listed: {:?}", t.by_process));
    assert!(me.counts["CLOSE_WAIT"] >= N as i64, "{me:?}");
    assert!(
        me.by_peer
            .iter()
            .any(|p| p.peer == "127.0.0.78" && p.state == "CLOSE_WAIT" && p.count == N as i64),
        "{me:?}"
    );
    drop(held);
}
