//! `tcp_states`: TCP sockets per state, with the top peers per state.
//!
//! Reads the kernel's socket table through netlink sock_diag, as `ss` does:
//! one dump per address family instead of formatting and parsing text for
//! every socket. Falls back to /proc/net/tcp{,6} when netlink is unavailable.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result, bail};
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

use crate::report::{Observation, PeerCount, TCP_STATES, TcpStates};

/// Peers listed per state.
const TOP_PEERS: usize = 5;

/// One socket: kernel state number and remote address.
pub type SockEntry = (u8, IpAddr);

/// One socket with its inode: what ties it to the process holding it
/// (`/proc/PID/fd/N -> socket:[INODE]`) and to itself across samples.
/// Sockets no process holds (TIME_WAIT, orphans) have inode 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sock {
    /// Kernel state number.
    pub state: u8,
    /// Remote address.
    pub peer: IpAddr,
    /// Socket inode; 0 when no process holds it.
    pub inode: u32,
}

impl Sock {
    /// The state and peer alone.
    pub fn entry(&self) -> SockEntry {
        (self.state, self.peer)
    }
}

/// Where the socket list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// netlink sock_diag.
    Netlink,
    /// /proc/net/tcp{,6}.
    Proc,
}

/// Collects the observation, preferring netlink.
pub fn collect() -> Result<Observation> {
    let (sockets, _) = sockets()?;
    Ok(summarize(&sockets).into())
}

/// All TCP sockets (v4 and v6), and where they were read from.
pub fn sockets() -> Result<(Vec<SockEntry>, Source)> {
    let (socks, source) = socks()?;
    Ok((socks.iter().map(Sock::entry).collect(), source))
}

/// All TCP sockets with their inodes, preferring netlink.
pub fn socks() -> Result<(Vec<Sock>, Source)> {
    match dump_socks() {
        Ok(s) => Ok((s, Source::Netlink)),
        Err(nl) => {
            let s = read_proc_socks()
                .with_context(|| format!("netlink failed ({nl:#}), and so did /proc"))?;
            Ok((s, Source::Proc))
        }
    }
}

/// Kernel state number to name; NEW_SYN_RECV (12) is a SYN_RECV request sock.
pub fn state_name(state: u8) -> Option<&'static str> {
    match state {
        1..=11 => Some(TCP_STATES[usize::from(state) - 1]),
        12 => Some("SYN_RECV"),
        _ => None,
    }
}

/// Counts per state and the busiest peers of each state except LISTEN.
///
/// Counts go into a per-state array first: building map keys per socket
/// would cost more than the kernel's dump at tens of thousands of sockets.
pub fn summarize(sockets: &[SockEntry]) -> TcpStates {
    let mut per_state = Tally::default();
    let mut peers: HashMap<(u8, IpAddr), i64> = HashMap::new();
    for &(state, peer) in sockets {
        let Some(state) = per_state.add(state) else {
            continue;
        };
        // Dual-stack sockets show IPv4 peers as ::ffff:a.b.c.d; count them as IPv4.
        let peer = peer.to_canonical();
        if state != LISTEN && !peer.is_unspecified() {
            *peers.entry((state, peer)).or_default() += 1;
        }
    }
    TcpStates {
        counts: per_state.counts(),
        by_peer: top_peers(peers, TOP_PEERS),
        ..TcpStates::default()
    }
}

/// Sockets per kernel state number (1..=11), NEW_SYN_RECV folded into SYN_RECV.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally(pub [i64; 12]);

impl Tally {
    /// Counts one socket; its state number as counted, None when unknown.
    pub fn add(&mut self, state: u8) -> Option<u8> {
        // NEW_SYN_RECV request socks count as SYN_RECV.
        let state = if state == 12 { 3 } else { state };
        (1..=11).contains(&state).then(|| {
            self.0[usize::from(state)] += 1;
            state
        })
    }

    /// The count of one state number.
    pub fn get(&self, state: u8) -> i64 {
        self.0.get(usize::from(state)).copied().unwrap_or(0)
    }

    /// By state name, states with no socket left out.
    pub fn counts(&self) -> BTreeMap<String, i64> {
        (1..=11u8)
            .filter(|s| self.get(*s) > 0)
            .filter_map(|s| Some((state_name(s)?.to_string(), self.get(s))))
            .collect()
    }
}

/// Kernel number of the LISTEN state.
pub const LISTEN: u8 = 10;
/// Kernel number of the CLOSE_WAIT state.
pub const CLOSE_WAIT: u8 = 8;
/// Kernel number of the TIME_WAIT state.
pub const TIME_WAIT: u8 = 6;

/// The `limit` busiest peers of each state, busiest first.
pub fn top_peers(peers: HashMap<(u8, IpAddr), i64>, limit: usize) -> Vec<PeerCount> {
    let mut by_state: BTreeMap<&str, Vec<(IpAddr, i64)>> = BTreeMap::new();
    for ((state, peer), n) in peers {
        let Some(name) = state_name(state) else {
            continue;
        };
        by_state.entry(name).or_default().push((peer, n));
    }
    let mut out = Vec::new();
    for (state, mut list) in by_state {
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.extend(list.into_iter().take(limit).map(|(peer, count)| PeerCount {
            peer: peer.to_string(),
            state: state.to_string(),
            count,
        }));
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.state.cmp(&b.state)));
    out
}

/// Dumps every TCP socket of both families through sock_diag.
pub fn dump_netlink() -> Result<Vec<SockEntry>> {
    Ok(dump_socks()?.iter().map(Sock::entry).collect())
}

/// [`dump_netlink`] with inodes.
pub fn dump_socks() -> Result<Vec<Sock>> {
    SockDiag::open()?.dump()
}

/// A sock_diag netlink socket. It answers for the network namespace it was
/// opened in, whichever thread uses it later: opened by a thread that
/// entered another namespace, it dumps that namespace's sockets from
/// anywhere.
pub struct SockDiag(Socket);

impl SockDiag {
    /// Opens one in the calling thread's network namespace.
    pub fn open() -> Result<SockDiag> {
        let mut socket =
            Socket::new(NETLINK_SOCK_DIAG).context("opening a sock_diag netlink socket")?;
        socket.bind_auto().context("binding the netlink socket")?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .context("connecting the netlink socket")?;
        Ok(SockDiag(socket))
    }

    /// Every TCP socket of both families in its namespace. After an error
    /// the socket may hold the rest of a dump: open another.
    pub fn dump(&self) -> Result<Vec<Sock>> {
        let mut out = Vec::new();
        for family in [AF_INET, AF_INET6] {
            dump_family(&self.0, family, &mut out)?;
        }
        Ok(out)
    }
}

fn dump_family(socket: &Socket, family: u8, out: &mut Vec<Sock>) -> Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let request = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::all(),
        socket_id,
    });
    let mut packet = NetlinkMessage::new(header, request.into());
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket
        .send(&buf, 0)
        .context("sending the sock_diag request")?;
    // The kernel fills each datagram up to about 32 KiB; a larger buffer
    // avoids truncation and halves the number of recv calls.
    let mut rx = vec![0u8; 64 * 1024];
    loop {
        let size = socket
            .recv(&mut &mut rx[..], 0)
            .context("reading the sock_diag dump")?;
        if parse_datagram(&rx[..size], out)? {
            return Ok(());
        }
    }
}

// Netlink framing (linux/netlink.h) and struct inet_diag_msg (linux/inet_diag.h).
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// family, state, timer, retrans, then inet_diag_sockid: sport, dport, src[16], dst[16].
const DIAG_DST: usize = 4 + 2 + 2 + 16;
/// After the sockid (interface, cookie): expires, rqueue, wqueue, uid, then inode.
const DIAG_INODE: usize = DIAG_DST + 16 + 4 + 8 + 4 * 4;

/// Parses one datagram of the dump; true when the dump is complete.
///
/// Reads the two fields we need straight from the bytes: decoding every
/// message into the crate's structs costs more than the kernel's dump itself
/// at tens of thousands of sockets.
fn parse_datagram(mut bytes: &[u8], out: &mut Vec<Sock>) -> Result<bool> {
    while bytes.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        if len < NLMSG_HDRLEN || len > bytes.len() {
            bail!("malformed sock_diag message (length {len})");
        }
        let body = &bytes[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                bail!("sock_diag dump failed: errno {}", errno.map_or(0, |e| -e));
            }
            SOCK_DIAG_BY_FAMILY => out.push(parse_diag_msg(body)?),
            _ => {}
        }
        // Messages are 4-byte aligned.
        let advance = (len + 3) & !3;
        bytes = bytes.get(advance..).unwrap_or_default();
    }
    Ok(false)
}

/// State, remote address and inode of one inet_diag_msg.
fn parse_diag_msg(body: &[u8]) -> Result<Sock> {
    let dst = body
        .get(DIAG_DST..DIAG_DST + 16)
        .context("short inet_diag_msg")?;
    let peer = match body[0] {
        AF_INET => IpAddr::V4(Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3])),
        _ => {
            let mut b = [0u8; 16];
            b.copy_from_slice(dst);
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    let inode = body
        .get(DIAG_INODE..DIAG_INODE + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    Ok(Sock {
        state: body[1],
        peer,
        inode,
    })
}

/// Reads /proc/net/tcp and /proc/net/tcp6 (the v6 file may be absent).
pub fn read_proc() -> Result<Vec<SockEntry>> {
    Ok(read_proc_socks()?.iter().map(Sock::entry).collect())
}

/// [`read_proc`] with inodes.
pub fn read_proc_socks() -> Result<Vec<Sock>> {
    read_proc_socks_in(std::path::Path::new("/proc/net"))
}

/// `tcp` and `tcp6` of a /proc `net` directory: `/proc/net` is the calling
/// thread's namespace, `/proc/PID/net` the namespace of process PID.
pub fn read_proc_socks_in(net: &std::path::Path) -> Result<Vec<Sock>> {
    let v4 = net.join("tcp");
    let v4 = std::fs::read_to_string(&v4).with_context(|| format!("reading {}", v4.display()))?;
    let mut out = parse_proc_socks(&v4);
    if let Ok(v6) = std::fs::read_to_string(net.join("tcp6")) {
        out.extend(parse_proc_socks(&v6));
    }
    Ok(out)
}

/// Parses the text of /proc/net/tcp{,6}; malformed lines are skipped.
pub fn parse_proc_tcp(text: &str) -> Vec<SockEntry> {
    parse_proc_socks(text).iter().map(Sock::entry).collect()
}

/// [`parse_proc_tcp`] with inodes (the tenth column).
pub fn parse_proc_socks(text: &str) -> Vec<Sock> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (addr, _port) = cols.get(2)?.split_once(':')?;
            let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
            let inode = cols.get(9).and_then(|i| i.parse().ok()).unwrap_or(0);
            Some(Sock {
                state,
                peer: parse_proc_addr(addr)?,
                inode,
            })
        })
        .collect()
}

/// /proc prints addresses as native-endian (little-endian here) 32-bit words in hex.
fn parse_proc_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok();
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?.to_ne_bytes()))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_ne_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_parse() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0200007F:D431 08 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        let s = parse_proc_tcp(text);
        assert_eq!(
            s,
            vec![
                (10, "0.0.0.0".parse().unwrap()),
                (8, "127.0.0.2".parse().unwrap())
            ]
        );
        let v6 = "h\n 0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01 0:0 0:0 0 0 0 1\n";
        assert_eq!(parse_proc_tcp(v6), vec![(1, "::1".parse().unwrap())]);
    }

    #[test]
    fn summary_counts_and_ranks_peers() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut s = vec![(10, "0.0.0.0".parse().unwrap()); 2];
        s.extend([(8, a); 3]);
        s.extend([(8, b); 1]);
        s.push((12, b));
        s.push((8, "::ffff:10.0.0.1".parse().unwrap()));
        let t = summarize(&s);
        assert_eq!(t.counts["LISTEN"], 2);
        assert_eq!(t.counts["CLOSE_WAIT"], 5);
        assert_eq!(t.counts["SYN_RECV"], 1);
        assert_eq!(
            t.by_peer[0],
            PeerCount {
                peer: "10.0.0.1".into(),
                state: "CLOSE_WAIT".into(),
                count: 4
            }
        );
        assert!(t.by_peer.iter().all(|p| p.state != "LISTEN"));
    }
}
