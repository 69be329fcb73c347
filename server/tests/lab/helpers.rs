//! The small servers and clients the scenarios run, each a role of the lab
//! binary itself (`lab helper ROLE ARGS…`) so it can be started inside a
//! namespace with `ip netns exec`. Every role runs until it is killed;
//! none of them closes what the scenario needs left open.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef, Socket, Type};

pub fn main(args: &[String]) -> ExitCode {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<u64>().unwrap_or(0);
    let result = match arg(0).as_str() {
        "leaky" => leaky(&arg(1), &arg(2)),
        "dns" => dns(&arg(1), num(2), &arg(3)),
        "sink" => sink(&arg(1)),
        "relay" => relay(&arg(1), &arg(2), num(3)),
        "http" => http(&arg(1), Http::parse(&args[2..])),
        "backlog" => backlog(&arg(1), num(2) as i32, num(3)),
        "storm" => storm(&arg(1), num(2) as usize, num(3), num(4)),
        "bulk" => bulk(&arg(1), num(2), num(3), num(4)),
        "exporter" => exporter(&arg(1), &arg(2), args.get(3..).unwrap_or_default()),
        other => Err(format!("unknown helper role {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper {}: {e}", arg(0));
            ExitCode::FAILURE
        }
    }
}

type R = Result<(), String>;

fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))
}

fn log_line(path: &str, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// A service that accepts connections and never closes them, not even when
/// the other side has closed: its sockets sit in CLOSE_WAIT until its
/// descriptors run out, and then `accept` fails with EMFILE, logged.
fn leaky(addr: &str, log: &str) -> R {
    let listener = bind(addr)?;
    let mut held = Vec::new();
    loop {
        match listener.accept() {
            Ok((s, _)) => held.push(s),
            Err(e) => {
                log_line(log, &format!("accept() failed: {e}"));
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A DNS server: the absolute name `answer` gets an A record at once; any
/// other name (the search-list expansions) gets NXDOMAIN after `delay_ms`,
/// as an overloaded or far-away resolver answers.
fn dns(addr: &str, delay_ms: u64, answer: &str) -> R {
    let sock = Arc::new(UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?);
    let answer = answer.trim_end_matches('.').to_ascii_lowercase();
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let q = buf[..n].to_vec();
        let (sock, answer) = (sock.clone(), answer.clone());
        thread::spawn(move || {
            let Some((name, end)) = qname(&q) else {
                return;
            };
            let hit = name == answer;
            if !hit {
                thread::sleep(Duration::from_millis(delay_ms));
            }
            let mut r = q[..end + 4].to_vec(); // header + question
            r[2] = 0x81; // response, recursion desired
            r[3] = if hit { 0x80 } else { 0x83 }; // RA; NOERROR or NXDOMAIN
            r[6..8].copy_from_slice(&[0, u8::from(hit)]); // ANCOUNT
            r[8..12].copy_from_slice(&[0, 0, 0, 0]);
            if hit {
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 10]);
            }
            let _ = sock.send_to(&r, peer);
        });
    }
}

/// The question name of a DNS query, lowercase without the trailing dot,
/// and the offset just past it.
fn qname(q: &[u8]) -> Option<(String, usize)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    (q.len() >= i + 5).then(|| (labels.join("."), i + 1))
}

/// node_exporter reading namespace `ns`'s kernel (its /proc/net counters,
/// its conntrack table, its sockets) while it listens on `addr` in the
/// namespace this helper started in, so a Prometheus outside can scrape
/// it. The helper binds the socket, hands it over as systemd socket
/// activation does (descriptor 3, `LISTEN_FDS`, `LISTEN_PID`) and becomes
/// `ip netns exec NS prometheus-node-exporter --web.systemd-socket ARGS…`,
/// which `exec`s in place: the same process, so the same pid.
fn exporter(ns: &str, addr: &str, args: &[String]) -> R {
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::process::CommandExt;

    let listener = bind(addr)?;
    let moved = if listener.as_raw_fd() == 3 {
        None
    } else {
        let fd = rustix::io::fcntl_dupfd_cloexec(&listener, 3).map_err(|e| format!("dup: {e}"))?;
        if fd.as_raw_fd() != 3 {
            return Err(format!("descriptor 3 is taken (got {})", fd.as_raw_fd()));
        }
        Some(fd)
    };
    let three = moved.as_ref().map_or(listener.as_fd(), |fd| fd.as_fd());
    rustix::io::fcntl_setfd(three, rustix::io::FdFlags::empty())
        .map_err(|e| format!("keeping descriptor 3 across exec: {e}"))?;
    let err = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "prometheus-node-exporter",
            "--web.systemd-socket",
        ])
        .args(args)
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", std::process::id().to_string())
        .exec();
    Err(format!(
        "exec ip netns exec {ns} prometheus-node-exporter: {err}"
    ))
}

/// Accepts connections and reads everything sent, closing when the peer does.
fn sink(addr: &str) -> R {
    let listener = bind(addr)?;
    for s in listener.incoming().flatten() {
        thread::spawn(move || {
            let mut s = s;
            let mut buf = vec![0u8; 65536];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        });
    }
    Ok(())
}

/// A TCP relay, like a load balancer or NAT, that resets a connection on
/// both sides once no byte has crossed it for `idle_ms`.
fn relay(listen: &str, upstream: &str, idle_ms: u64) -> R {
    let listener = bind(listen)?;
    let upstream: SocketAddr = upstream.parse().map_err(|e| format!("{upstream}: {e}"))?;
    for client in listener.incoming().flatten() {
        thread::spawn(move || {
            let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
                return;
            };
            let idle = Duration::from_millis(idle_ms);
            let _ = client.set_nonblocking(true);
            let _ = server.set_nonblocking(true);
            let mut last = Instant::now();
            let mut buf = vec![0u8; 16384];
            loop {
                let mut moved = false;
                for (from, to) in [(&client, &server), (&server, &client)] {
                    match (&*from).read(&mut buf) {
                        Ok(0) => return, // an orderly close ends the relay
                        Ok(n) => {
                            let _ = to.set_nonblocking(false);
                            if (&*to).write_all(&buf[..n]).is_err() {
                                return;
                            }
                            let _ = to.set_nonblocking(true);
                            moved = true;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
                if moved {
                    last = Instant::now();
                } else if last.elapsed() >= idle {
                    // Idle too long: forget the flow and reset both ends.
                    for s in [&client, &server] {
                        let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
                    }
                    return;
                } else {
                    thread::sleep(Duration::from_millis(10));
                }
            }
        });
    }
    Ok(())
}

/// Options of the `http` role.
#[derive(Default, Clone)]
struct Http {
    /// Close a keep-alive connection idle this long (0: never).
    idle_ms: u64,
    /// Share of waits during which the event loop is busy for `busy_ms`
    /// more, so the idle timer fires late.
    busy_share: f64,
    busy_ms: u64,
    /// Crash (abort) this long after starting (0: never).
    crash_ms: u64,
    /// Stop listening at once on SIGTERM (no drain).
    stop_on_term: bool,
    /// Leak this many MiB per second (until the memory limit kills it).
    leak_mb_s: u64,
}

impl Http {
    fn parse(args: &[String]) -> Http {
        let mut h = Http::default();
        for a in args {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            match k {
                "idle_ms" => h.idle_ms = v.parse().unwrap_or(0),
                "busy_share" => h.busy_share = v.parse().unwrap_or(0.0),
                "busy_ms" => h.busy_ms = v.parse().unwrap_or(0),
                "crash_ms" => h.crash_ms = v.parse().unwrap_or(0),
                "stop_on_term" => h.stop_on_term = true,
                "leak_mb_s" => h.leak_mb_s = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        h
    }
}

/// A keep-alive HTTP/1.1 server answering `200 ok`.
///
/// With `idle_ms` it behaves as Node.js does with `keepAliveTimeout`: an
/// idle connection is closed when its timer fires, and when the timer and a
/// new request fall due in the same turn of a busy event loop, the timer
/// runs first and the request is lost on a closing connection.
fn http(addr: &str, opts: Http) -> R {
    let listener = bind(addr)?;
    if opts.crash_ms > 0 {
        let after = Duration::from_millis(opts.crash_ms);
        thread::spawn(move || {
            thread::sleep(after);
            std::process::abort();
        });
    }
    if opts.leak_mb_s > 0 {
        let step = (opts.leak_mb_s << 20) / 20;
        thread::spawn(move || {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            loop {
                // Filled, so the pages are really used.
                kept.push(vec![1u8; step as usize]);
                thread::sleep(Duration::from_millis(50));
            }
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    if opts.stop_on_term {
        let stop = stop.clone();
        thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                term.recv().await;
            });
            stop.store(true, Ordering::SeqCst);
        });
    }
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                let opts = opts.clone();
                thread::spawn(move || serve_conn(s, &opts));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(5)),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    // SIGTERM: the listener closes here, so new connections are refused,
    // while the process (and any open connection) lives on until killed.
    drop(listener);
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn serve_conn(mut s: TcpStream, o: &Http) {
    let _ = s.set_nonblocking(false);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let idle_since = Instant::now();
        let wait = if o.idle_ms == 0 {
            None
        } else if rand::random::<f64>() < o.busy_share {
            Some(Duration::from_millis(o.idle_ms + o.busy_ms))
        } else {
            Some(Duration::from_millis(o.idle_ms))
        };
        let _ = s.set_read_timeout(wait);
        // Read one request head.
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {
                    // The idle timer fired: close our side.
                    let _ = s.shutdown(Shutdown::Write);
                    thread::sleep(Duration::from_millis(200));
                    return;
                }
            }
        }
        if o.idle_ms > 0 && idle_since.elapsed() >= Duration::from_millis(o.idle_ms) {
            // The timer was already due when this request was seen: it runs
            // first and ends the connection without an answer.
            let _ = s.shutdown(Shutdown::Write);
            thread::sleep(Duration::from_millis(200));
            return;
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let close = head.contains("connection: close");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n{}\r\nok\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        if s.write_all(reply.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// A listener with a small backlog that accepts one connection every
/// `accept_ms` (never when 0) and turns it away at once with a reset: what
/// a database looks like to its clients the moment it comes back after a
/// restart, busy and out of connection slots.
fn backlog(addr: &str, backlog: i32, accept_ms: u64) -> R {
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| e.to_string())?;
    s.set_reuse_address(true).map_err(|e| e.to_string())?;
    s.bind(&addr.into()).map_err(|e| e.to_string())?;
    s.listen(backlog).map_err(|e| e.to_string())?;
    loop {
        if accept_ms == 0 {
            thread::sleep(Duration::from_secs(3600));
            continue;
        }
        thread::sleep(Duration::from_millis(accept_ms));
        if let Ok((c, _)) = s.accept() {
            let _ = c.set_linger(Some(Duration::ZERO));
        }
    }
}

/// `clients` connections opened at once, held `hold_ms`, dropped, and opened
/// again, `waves` times: clients reconnecting all together with no backoff.
fn storm(addr: &str, clients: usize, waves: u64, hold_ms: u64) -> R {
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
    for _ in 0..waves.max(1) {
        let mut held = Vec::new();
        for _ in 0..clients {
            let Ok(s) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
                continue;
            };
            let _ = s.set_nonblocking(true);
            let _ = s.connect(&addr.into());
            held.push(s);
        }
        thread::sleep(Duration::from_millis(hold_ms));
        drop(held);
    }
    Ok(())
}

/// Sends bulk data to `addr` for `on_ms` every `period_ms`, `rounds` times
/// (a backup or cron job). One round of `on_ms` when `period_ms` is 0.
fn bulk(addr: &str, on_ms: u64, period_ms: u64, rounds: u64) -> R {
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
    let block = vec![0x5au8; 65536];
    let started = Instant::now();
    let mut conns: HashMap<u64, TcpStream> = HashMap::new();
    for round in 0..rounds.max(1) {
        let begin = started + Duration::from_millis(round * period_ms);
        if let Some(wait) = begin.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        // A modest send buffer, as a job that streams rather than dumps:
        // when the job stops, the link drains in a fraction of a second.
        let Ok(sock) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
            continue;
        };
        let _ = sock.set_send_buffer_size(64 * 1024);
        if sock
            .connect_timeout(&addr.into(), Duration::from_secs(3))
            .is_err()
        {
            continue;
        }
        let s: TcpStream = sock.into();
        let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
        let stop = Instant::now() + Duration::from_millis(on_ms);
        while Instant::now() < stop {
            if (&s).write(&block).is_err() {
                thread::sleep(Duration::from_millis(5));
            }
        }
        conns.insert(round, s);
        // The job ends: its connection closes, the link drains.
        conns.remove(&round);
    }
    Ok(())
}
