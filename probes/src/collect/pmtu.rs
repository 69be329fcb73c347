//! `pmtu`: ICMP echo probes with DF set, of increasing size, plus the MTU of
//! the interface the route leaves through. A size that the interface allows
//! but gets no answer points at a black hole on the path.

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustix::net::sockopt::{Ipv4PathMtuDiscovery, set_ip_mtu_discover};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::report::{Pmtu, PmtuProbe};

/// Probe sizes (whole IP packets); the interface MTU is added when missing.
const SIZES: &[i64] = &[
    576, 1000, 1200, 1280, 1400, 1420, 1450, 1472, 1480, 1492, 1500, 9000,
];

/// IPv4 + ICMP headers.
const HEADERS: usize = 28;

/// Probes `host` (IPv4) and reads the route's interface MTU.
pub fn collect(host: &str, timeout: Duration) -> Result<Pmtu> {
    let ip = resolve_v4(host)?;
    let iface_mtu = route_mtu(ip);
    let sock = icmp_socket()?;
    // An IPv4 packet cannot exceed 65535 bytes, whatever lo's MTU says.
    let limit = iface_mtu.unwrap_or(1500).min(65535);
    let mut sizes: Vec<i64> = SIZES.iter().copied().filter(|s| *s <= limit).collect();
    if !sizes.contains(&limit) {
        sizes.push(limit);
    }
    let id: u16 = rand::random();
    let probes = sizes
        .iter()
        .enumerate()
        .map(|(seq, &size)| {
            Ok(PmtuProbe {
                size,
                ok: echo(&sock, ip, id, seq as u16, size, timeout)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Pmtu {
        target: host.to_string(),
        iface_mtu,
        probes,
    })
}

fn resolve_v4(host: &str) -> Result<Ipv4Addr> {
    (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .with_context(|| format!("{host} has no IPv4 address (pmtu probes IPv4 only)"))
}

/// A raw ICMP socket that sets DF on everything it sends.
fn icmp_socket() -> Result<Socket> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .context("opening a raw ICMP socket (needs root or CAP_NET_RAW)")?;
    set_ip_mtu_discover(&sock, Ipv4PathMtuDiscovery::DO).context("setting IP_MTU_DISCOVER=DO")?;
    Ok(sock)
}

/// Sends one echo request of `size` bytes; true when the reply comes back.
fn echo(
    sock: &Socket,
    ip: Ipv4Addr,
    id: u16,
    seq: u16,
    size: i64,
    timeout: Duration,
) -> Result<bool> {
    let payload = usize::try_from(size).unwrap_or(0).saturating_sub(HEADERS);
    let packet = echo_request(id, seq, payload);
    let to = SockAddr::from(SocketAddr::new(IpAddr::V4(ip), 0));
    match sock.send_to(&packet, &to) {
        Ok(_) => {}
        // The kernel already knows a smaller path MTU: the probe cannot leave.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MSGSIZE.raw_os_error()) => {
            return Ok(false);
        }
        Err(e) => return Err(e).with_context(|| format!("sending a {size}-byte probe to {ip}")),
    }
    wait_reply(sock, ip, id, seq, timeout)
}

fn wait_reply(sock: &Socket, ip: Ipv4Addr, id: u16, seq: u16, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 65536];
    let mut reader = sock;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        sock.set_read_timeout(Some(left))?;
        match reader.read(&mut buf) {
            Ok(n) if is_reply(&buf[..n], ip, id, seq) => return Ok(true),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e).context("reading ICMP replies"),
        }
    }
}

/// An ICMP echo request with a patterned payload.
pub fn echo_request(id: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((0..payload).map(|i| (i % 251) as u8));
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// Raw IPv4 sockets receive the IP header too.
fn is_reply(pkt: &[u8], ip: Ipv4Addr, id: u16, seq: u16) -> bool {
    let Some(ihl) = pkt.first().map(|b| usize::from(b & 0x0f) * 4) else {
        return false;
    };
    let Some(icmp) = pkt.get(ihl..ihl + 8) else {
        return false;
    };
    pkt.get(12..16) == Some(&ip.octets()[..])
        && icmp[0] == 0
        && icmp[4..6] == id.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes()
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// MTU of the interface `ip route get` picks for the destination.
fn route_mtu(ip: Ipv4Addr) -> Option<i64> {
    let out = Command::new("ip")
        .args(["-o", "route", "get", &ip.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    // A route may carry its own mtu ("... mtu 1400 ...").
    if let Some(w) = words.windows(2).find(|w| w[0] == "mtu") {
        return w[1].parse().ok();
    }
    let dev = words.windows(2).find(|w| w[0] == "dev")?[1];
    std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_echo_request_verifies() {
        let p = echo_request(0x1234, 7, 100);
        assert_eq!(p.len(), 108);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
    }

    #[test]
    fn loopback_accepts_large_probes() {
        let p = collect("127.0.0.1", Duration::from_millis(500)).unwrap();
        assert_eq!(p.iface_mtu, Some(65536));
        assert!(p.probes.iter().all(|x| x.ok), "{p:?}");
        assert!(p.probes.iter().any(|x| x.size == 65535), "{p:?}");
    }
}
