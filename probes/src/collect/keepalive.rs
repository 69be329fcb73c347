//! `keepalive`: after how long a server closes an idle keep-alive connection.
//!
//! One request over a plain HTTP/1.1 connection, then silence: the time from
//! the end of the response to the server's FIN or RST is its idle timeout.
//! Several connections at once, since a busy server's timer can fire late
//! on one of them: the first close is the timer.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::collect::connect_attempts::resolve;
use crate::collect::http_latency::parse_url;
use crate::report::Keepalive;

/// Idle connections held per target.
pub const CONNECTIONS: usize = 6;

/// Makes one request on each of [`CONNECTIONS`] connections and waits at
/// most `wait` for the server to hang up on them.
pub fn collect(url: &str, wait: Duration) -> Result<Keepalive> {
    let closes = thread::scope(|s| {
        let handles: Vec<_> = (0..CONNECTIONS)
            .map(|_| s.spawn(|| one(url, wait)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("keepalive watcher panicked"))
            })
            .collect::<Vec<_>>()
    });
    let mut measured = Vec::new();
    let mut first_error = None;
    for c in closes {
        match c {
            Ok(Some(d)) => measured.push(d.as_secs_f64()),
            Ok(None) => {}
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    // Every connection failed: that is the answer (refused, no keep-alive, …).
    if let Some(e) = first_error
        && measured.is_empty()
    {
        return Err(e);
    }
    measured.sort_by(f64::total_cmp);
    Ok(Keepalive {
        target: url.to_string(),
        closed_idle_after_s: measured.first().copied(),
        waited_s: Some(wait.as_secs_f64()),
        closes_s: measured,
    })
}

/// One connection: a request, then the time until the server closes it.
fn one(url: &str, wait: Duration) -> Result<Option<Duration>> {
    let u = parse_url(url)?;
    if u.tls {
        bail!("{url}: keepalive measures plain http:// only");
    }
    let host = if u.host.contains(':') {
        format!("[{}]", u.host)
    } else {
        u.host.clone()
    };
    let addr = resolve(&format!("{host}:{}", u.port))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\nUser-Agent: faultline-probe\r\n\r\n",
        u.path
    );
    stream
        .write_all(request.as_bytes())
        .context("sending the request")?;
    read_response(&mut stream).context("reading the response")?;
    wait_for_close(&mut stream, wait)
}

/// The shortest backend idle keep-alive the keepalive collectors measured,
/// handed to the HTTP samplers so they can leave the same silence between
/// requests (`http_latency`'s idle phase).
pub struct IdleHint {
    /// Collectors yet to report, and the shortest close reported so far.
    state: Mutex<(usize, Option<f64>)>,
}

impl IdleHint {
    /// A hint `expected` keepalive collectors will report to.
    pub fn new(expected: usize) -> IdleHint {
        IdleHint {
            state: Mutex::new((expected, None)),
        }
    }

    /// One collector's measurement (None: it measured nothing).
    pub fn report(&self, closed_idle_after_s: Option<f64>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = s.0.saturating_sub(1);
        s.1 = match (s.1, closed_idle_after_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// None while some collector is still watching; then the shortest
    /// idle close, or `Some(None)` when none measured one.
    pub fn ready(&self) -> Option<Option<f64>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.0 == 0).then_some(s.1)
    }
}

/// Reads one response: headers, then a Content-Length or chunked body.
fn read_response(stream: &mut TcpStream) -> Result<()> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = find(&data, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            bail!("server closed before sending headers");
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_ascii_lowercase();
    if head
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"))
    {
        bail!("server answered Connection: close (no keep-alive)");
    }
    let done = |d: &[u8]| -> bool {
        let body = &d[header_end..];
        match content_length(&head) {
            Some(len) => body.len() >= len,
            None if head.contains("transfer-encoding: chunked") => {
                find(body, b"0\r\n\r\n").is_some()
            }
            None => true,
        }
    };
    while !done(&data) {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            bail!("server closed mid-body");
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Time until FIN/RST, or None if the connection outlived `wait`.
fn wait_for_close(stream: &mut TcpStream, wait: Duration) -> Result<Option<Duration>> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(Some(started.elapsed())),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Ok(Some(started.elapsed())),
        }
    }
}
