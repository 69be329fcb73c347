//! `dns_lookups`: timed lookups that follow resolv.conf the way glibc does
//! (search list, ndots, timeout, attempts), over UDP to the listed servers.
//!
//! Messages are built and read by hand: an A query and the header of the
//! answer are all the probe needs, and it keeps the binary small.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::report::{DnsLookup, DnsLookups, Observation, ResolvConf};

/// What one query got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR with this many answer records.
    Records(u16),
    /// NXDOMAIN.
    NxDomain,
    /// Another RCODE (SERVFAIL, REFUSED…).
    Rcode(u8),
}

/// Looks up every name, each relative name also in its absolute form (with
/// a trailing dot), so the report shows what the search list costs.
pub fn collect(names: &[String], rc: &ResolvConf) -> Observation {
    let lookups = with_absolute(names)
        .iter()
        .map(|n| lookup(n, rc, 53))
        .collect();
    DnsLookups {
        resolv_conf: Some(rc.clone()),
        lookups,
    }
    .into()
}

/// `a.b` → `a.b`, `a.b.`; names already absolute stay as they are; no duplicates.
pub fn with_absolute(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let forms = if n.ends_with('.') {
            vec![n.clone()]
        } else {
            vec![n.clone(), format!("{n}.")]
        };
        for f in forms {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// The absolute names glibc would query, in order.
pub fn candidates(name: &str, rc: &ResolvConf) -> Vec<String> {
    if let Some(abs) = name.strip_suffix('.') {
        return vec![format!("{abs}.")];
    }
    let as_is = format!("{name}.");
    let searched = rc.search.iter().map(|s| format!("{name}.{s}."));
    let dots = name.matches('.').count() as i64;
    if dots >= rc.ndots {
        std::iter::once(as_is).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(as_is)).collect()
    }
}

/// Resolves one name through the candidates, timing the whole walk.
pub fn lookup(name: &str, rc: &ResolvConf, port: u16) -> DnsLookup {
    let started = Instant::now();
    let mut tried = Vec::new();
    let mut error = Some("no nameserver in resolv.conf".to_string());
    for candidate in candidates(name, rc) {
        tried.push(candidate.clone());
        match query_servers(&candidate, rc, port) {
            Ok(Answer::Records(n)) if n > 0 => {
                error = None;
                break;
            }
            // NXDOMAIN and NODATA move on to the next candidate, as glibc does.
            Ok(Answer::Records(_)) => error = Some("NODATA".into()),
            Ok(Answer::NxDomain) => error = Some("NXDOMAIN".into()),
            Ok(Answer::Rcode(code)) => error = Some(rcode_name(code)),
            Err(e) => {
                error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    DnsLookup {
        name: name.to_string(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        ok: error.is_none(),
        error,
        tried,
    }
}

/// Tries each server in order, `attempts` rounds; a server that fails
/// (timeout, SERVFAIL, REFUSED) hands over to the next one.
fn query_servers(qname: &str, rc: &ResolvConf, port: u16) -> Result<Answer> {
    let timeout = Duration::from_secs_f64(rc.timeout_s.max(0.001));
    let mut last: Option<Result<Answer>> = None;
    for _ in 0..rc.attempts.max(1) {
        for ns in &rc.nameservers {
            let ip: IpAddr = ns.parse().with_context(|| format!("bad nameserver {ns}"))?;
            match query(SocketAddr::new(ip, port), qname, timeout) {
                Ok(a @ (Answer::Records(_) | Answer::NxDomain)) => return Ok(a),
                other => last = Some(other),
            }
        }
    }
    last.unwrap_or_else(|| bail!("no nameserver in resolv.conf"))
}

/// Sends one A query and waits for the matching answer.
pub fn query(server: SocketAddr, qname: &str, timeout: Duration) -> Result<Answer> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()?;
    let sock = UdpSocket::bind(bind).context("binding a UDP socket")?;
    sock.connect(server)
        .with_context(|| format!("connecting to {server}"))?;
    let id: u16 = rand::random();
    sock.send(&encode_query(id, qname)?)
        .with_context(|| format!("sending to {server}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "timeout after {:.1}s waiting for {server}",
                timeout.as_secs_f64()
            );
        }
        sock.set_read_timeout(Some(left))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                // Ignore stray or spoofed datagrams: only our id counts.
                if let Some(a) = decode_answer(&buf[..n], id) {
                    return Ok(a);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        // SIGCHLD from the host collectors' child processes.
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e).with_context(|| format!("no answer from {server}")),
        }
    }
}

/// Builds a recursive A query for an absolute name.
pub fn encode_query(id: u16, qname: &str) -> Result<Vec<u8>> {
    let mut msg = Vec::with_capacity(512);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; QDCOUNT=1
    for label in qname
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            bail!("label longer than 63 bytes in {qname}");
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]); // root, QTYPE=A, QCLASS=IN
    Ok(msg)
}

/// Reads the header of a response with the given id.
pub fn decode_answer(msg: &[u8], id: u16) -> Option<Answer> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return None;
    }
    let rcode = msg[3] & 0x0f;
    let ancount = u16::from_be_bytes([msg[6], msg[7]]);
    Some(match rcode {
        0 => Answer::Records(ancount),
        3 => Answer::NxDomain,
        other => Answer::Rcode(other),
    })
}

fn rcode_name(code: u8) -> String {
    match code {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(search: &[&str], ndots: i64) -> ResolvConf {
        ResolvConf {
            search: search.iter().map(|s| s.to_string()).collect(),
            ndots,
            ..ResolvConf::default()
        }
    }

    #[test]
    fn few_dots_search_first() {
        let c = candidates("api.example.com", &rc(&["ns.svc.local", "svc.local"], 5));
        assert_eq!(
            c,
            [
                "api.example.com.ns.svc.local.",
                "api.example.com.svc.local.",
                "api.example.com."
            ]
        );
    }

    #[test]
    fn enough_dots_as_is_first_and_trailing_dot_is_absolute() {
        let r = rc(&["svc.local"], 1);
        assert_eq!(
            candidates("api.example.com", &r),
            ["api.example.com.", "api.example.com.svc.local."]
        );
        assert_eq!(candidates("api.example.com.", &r), ["api.example.com."]);
    }

    #[test]
    fn relative_names_are_also_tried_absolute() {
        let names = ["a.b".to_string(), "c.d.".to_string(), "a.b.".to_string()];
        assert_eq!(with_absolute(&names), ["a.b", "a.b.", "c.d."]);
    }

    #[test]
    fn query_encoding_and_answer_header() {
        let q = encode_query(0xabcd, "a.bc.").unwrap();
        assert_eq!(&q[12..], &[1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1]);
        let mut resp = q.clone();
        resp[2] |= 0x80;
        resp[3] = 3;
        assert_eq!(decode_answer(&resp, 0xabcd), Some(Answer::NxDomain));
        assert_eq!(decode_answer(&resp, 0x1111), None);
    }
}
