//! `faultline healthcheck`: asks the server this configuration describes for
//! `/healthz`. A container's HEALTHCHECK runs it (the image has no curl);
//! exit status 0 only for a 200 within the timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The whole check, connect to status line; below Docker's default
/// HEALTHCHECK timeout (30 s) and the image's (5 s).
const TIMEOUT: Duration = Duration::from_secs(3);

/// A status line longer than this is not an HTTP server answering.
const MAX_HEAD: usize = 1024;

/// Checks `/healthz` of a server listening on `listen`.
pub async fn run(listen: SocketAddr) -> Result<()> {
    let addr = reachable(listen);
    let url = format!("http://{addr}/healthz");
    let status = tokio::time::timeout(TIMEOUT, status_of(addr))
        .await
        .with_context(|| format!("{url} did not answer within {} s", TIMEOUT.as_secs()))?
        .with_context(|| format!("{url} failed"))?;
    if status != 200 {
        bail!("{url} answered {status}");
    }
    Ok(())
}

/// Where this host reaches a server listening on `listen`: a wildcard
/// address (a container's 0.0.0.0) is reached on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The status code of `GET /healthz` on one fresh connection.
async fn status_of(addr: SocketAddr) -> Result<u16> {
    let mut conn = TcpStream::connect(addr).await?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < MAX_HEAD {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head)
}

/// `HTTP/1.1 200 OK` -> 200.
fn parse_status(head: &[u8]) -> Result<u16> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/") => Ok(code),
        _ => bail!("not an HTTP answer: {:?}", line.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        let cases = [
            ("0.0.0.0:8740", "127.0.0.1:8740"),
            ("[::]:9000", "[::1]:9000"),
            ("10.1.2.3:80", "10.1.2.3:80"),
            ("127.0.0.1:1", "127.0.0.1:1"),
        ];
        for (listen, want) in cases {
            assert_eq!(reachable(listen.parse().unwrap()).to_string(), want);
        }
    }

    #[test]
    fn status_lines_parse_and_others_are_refused() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\nx: y\r\n").unwrap(), 200);
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\n").unwrap(),
            503
        );
        for junk in [&b""[..], b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 OK\r\n"] {
            let err = parse_status(junk).unwrap_err().to_string();
            assert!(err.contains("not an HTTP answer"), "{err}");
        }
    }
}
