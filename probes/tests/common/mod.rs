//! A tiny HTTP/1.1 report sink for shipping tests: scripted failures first,
//! then 200; dedupes on report_id like the real server.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer this status (with an optional Retry-After).
    Status(u16, Option<u64>),
    /// Read the request, then hang up without answering.
    Hangup,
    /// Wait, then answer 200 (to kill the client mid-send).
    Slow(Duration),
}

#[derive(Debug, Default)]
pub struct Log {
    /// report_id of every request, in arrival order, with arrival time.
    pub received: Vec<(String, Instant)>,
    /// Distinct report_ids acknowledged with 2xx.
    pub stored: BTreeSet<String>,
    /// Requests with a wrong Authorization header.
    pub bad_auth: usize,
}

pub struct Sink {
    pub url: String,
    pub log: Arc<Mutex<Log>>,
}

/// Starts a sink on `addr` (e.g. "127.0.0.1:0") answering `script` first, then 200.
pub fn sink(addr: &str, token: &str, script: Vec<Reply>) -> Sink {
    start(addr, token, script, None)
}

/// The same sink behind TLS with the given certificate chain and key.
pub fn https_sink(
    token: &str,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Sink {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    start("127.0.0.1:0", token, vec![], Some(Arc::new(cfg)))
}

fn start(
    addr: &str,
    token: &str,
    script: Vec<Reply>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Sink {
    let listener = TcpListener::bind(addr).unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Log::default()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let (l, token) = (log.clone(), format!("Bearer {token}"));
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let (l, script, token, tls) = (l.clone(), script.clone(), token.clone(), tls.clone());
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            thread::spawn(move || match tls {
                Some(cfg) => {
                    let conn = rustls::ServerConnection::new(cfg).unwrap();
                    handle(rustls::StreamOwned::new(conn, s), &l, &script, &token)
                }
                None => handle(s, &l, &script, &token),
            });
        }
    });
    Sink { url, log }
}

fn handle(
    mut s: impl Read + Write,
    log: &Mutex<Log>,
    script: &Mutex<std::vec::IntoIter<Reply>>,
    token: &str,
) {
    while let Some((head, body)) = read_request(&mut s) {
        let id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["report_id"].as_str().map(str::to_string))
            .unwrap_or_default();
        let auth_ok = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("authorization:") && l[14..].trim() == token
        });
        let reply = if auth_ok {
            script
                .lock()
                .unwrap()
                .next()
                .unwrap_or(Reply::Status(200, None))
        } else {
            Reply::Status(401, None)
        };
        {
            let mut g = log.lock().unwrap();
            g.received.push((id.clone(), Instant::now()));
            if !auth_ok {
                g.bad_auth += 1;
            }
        }
        let (code, retry_after) = match reply {
            Reply::Hangup => return,
            Reply::Slow(d) => {
                thread::sleep(d);
                (200, None)
            }
            Reply::Status(code, retry_after) => (code, retry_after),
        };
        if code == 200 {
            log.lock().unwrap().stored.insert(id);
        }
        let extra = retry_after
            .map(|r| format!("Retry-After: {r}\r\n"))
            .unwrap_or_default();
        let _ = write!(
            s,
            "HTTP/1.1 {code} X\r\n{extra}Content-Length: 2\r\n\r\n{{}}"
        );
        let _ = s.flush();
    }
}

fn read_request(s: &mut impl Read) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while data.len() < end + len {
        let n = s.read(&mut buf).ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    Some((head, data[end..end + len].to_vec()))
}

/// A port with nothing listening (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
