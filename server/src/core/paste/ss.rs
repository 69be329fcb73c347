//! `ss -tan` (also `-tanp`, `-tn state STATE`, with or without the header,
//! and `netstat -tan` rows) and `ss -s`.
//!
//! Socket rows become the probe's socket list, so the counts and the top
//! peers per state come from the same summary the probe's collector uses,
//! and with `-p` the processes named on each row give `by_process`, ranked
//! as the probe ranks them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use faultline_probe::collect::socket_window::rank_processes;
use faultline_probe::collect::tcp_states::{SockEntry, summarize};
use faultline_probe::report::{Observation, ProcessSockets, TcpStates};

use super::{Block, Claim, Found, count};

/// `ss` state names and kernel state numbers (ss prints TCP_CLOSE as UNCONN).
const SS_STATES: &[(&str, u8)] = &[
    ("ESTAB", 1),
    ("SYN-SENT", 2),
    ("SYN-RECV", 3),
    ("FIN-WAIT-1", 4),
    ("FIN-WAIT-2", 5),
    ("TIME-WAIT", 6),
    ("UNCONN", 7),
    ("CLOSE-WAIT", 8),
    ("LAST-ACK", 9),
    ("LISTEN", 10),
    ("CLOSING", 11),
    ("CLOSED", 7),
];

/// Names `ss state NAME` takes, for output that has no State column.
const FILTERS: &[(&str, u8)] = &[
    ("established", 1),
    ("syn-sent", 2),
    ("syn-recv", 3),
    ("fin-wait-1", 4),
    ("fin-wait-2", 5),
    ("time-wait", 6),
    ("closed", 7),
    ("close-wait", 8),
    ("last-ack", 9),
    ("listening", 10),
    ("listen", 10),
    ("closing", 11),
];

/// A state word as `ss` (or netstat, with kernel names) prints it.
fn state_number(word: &str) -> Option<u8> {
    if let Some((_, n)) = SS_STATES.iter().find(|(s, _)| *s == word) {
        return Some(*n);
    }
    faultline_probe::report::TCP_STATES
        .iter()
        .position(|s| *s == word)
        .and_then(|i| u8::try_from(i + 1).ok())
}

/// The single state of `ss … state NAME`, when the command names one.
fn filter_state(block: &Block) -> Option<u8> {
    let words = block.words();
    if block.program() != Some("ss") {
        return None;
    }
    let i = words
        .iter()
        .position(|w| *w == "state" || *w == "sport" || *w == "dport")?;
    if words[i] != "state" || words[i + 1..].iter().filter(|w| **w == "state").count() > 0 {
        return None;
    }
    let name = words.get(i + 1)?.trim_matches(['\'', '"']);
    FILTERS.iter().find(|(f, _)| *f == name).map(|(_, n)| *n)
}

/// `addr:port`, `[v6]:port`, `v6%iface:port`, `*:*` → the address
/// (unspecified for `*` and for names, which `ss` prints without `-n`).
fn endpoint(s: &str) -> Option<IpAddr> {
    let host = if let Some(rest) = s.strip_prefix('[') {
        let (h, port) = rest.split_once("]:")?;
        if port.is_empty() {
            return None;
        }
        h
    } else {
        let (h, port) = s.rsplit_once(':')?;
        if h.is_empty() || port.is_empty() {
            return None;
        }
        h
    };
    let host = host.split('%').next().unwrap_or_default();
    if host == "*" {
        return Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        // `ss -ta` resolves names; still a socket, but not a peer we can rank.
        Err(_)
            if host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)) =>
        {
            Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        }
        Err(_) => None,
    }
}

/// A non-TCP row of `ss -an` (`udp UNCONN 0 0 …`, `u_str ESTAB …`).
fn is_other_netid(line: &str) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    const NETIDS: &[&str] = &[
        "udp", "raw", "u_str", "u_dgr", "u_seq", "nl", "p_raw", "p_dgr", "mptcp", "sctp", "v_str",
        "v_dgr", "xdp", "icmp6",
    ];
    w.len() >= 6 && NETIDS.contains(&w[0]) && count(w[2]).is_some()
}

fn is_header(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with("Active Internet connections") {
        return true;
    }
    (t.starts_with("State")
        || t.starts_with("Recv-Q")
        || t.starts_with("Netid")
        || t.starts_with("Proto"))
        && t.contains("Recv-Q")
        && t.contains("Send-Q")
}

/// One socket row: `[tcp] STATE recvq sendq local peer [process…]`, or with a
/// `state` filter `recvq sendq local peer [process…]`.
fn row(line: &str, filter: Option<u8>) -> Option<SockEntry> {
    let mut w: Vec<&str> = line.split_whitespace().collect();
    // netstat -tan[p]: `tcp 0 0 local peer STATE [PID/name]`.
    if matches!(w.first(), Some(&("tcp" | "tcp6")))
        && let [_, recvq, sendq, local, peer, state, ..] = w.as_slice()
        && let Some(state) = state_number(state)
        && count(recvq).is_some()
        && count(sendq).is_some()
    {
        endpoint(local)?;
        return Some((state, endpoint(peer)?));
    }
    if w.first() == Some(&"tcp") {
        w.remove(0);
    }
    let (state, rest) = match w.first().and_then(|s| state_number(s)) {
        Some(n) => (n, &w[1..]),
        None => (filter?, &w[..]),
    };
    let [recvq, sendq, local, peer, ..] = rest else {
        return None;
    };
    count(recvq)?;
    count(sendq)?;
    endpoint(local)?;
    Some((state, endpoint(peer)?))
}

/// The processes a row names: `ss -p`'s `users:(("nginx",pid=1234,fd=12),…)`
/// (several when processes share the socket) or netstat `-p`'s
/// `1234/nginx` after the state. Each pid once.
fn processes(line: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    if let Some(i) = line.find("users:(") {
        let mut rest = &line[i + "users:(".len()..];
        while let Some(start) = rest.find("(\"") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find("\",pid=") else {
                break;
            };
            let name = &rest[..end];
            rest = &rest[end + "\",pid=".len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(pid) = rest[..digits].parse::<u32>()
                && !out.iter().any(|(p, _)| *p == pid)
            {
                out.push((pid, name.to_owned()));
            }
        }
        return out;
    }
    let w: Vec<&str> = line.split_whitespace().collect();
    if matches!(w.first(), Some(&("tcp" | "tcp6")))
        && let Some((pid, name)) = w.get(6).and_then(|p| p.split_once('/'))
        && let Ok(pid) = pid.parse::<u32>()
    {
        // `812/sshd: root@pts/0`: the program's first word.
        let name = name.trim_end_matches(':');
        out.push((pid, name.to_owned()));
    }
    out
}

/// `ss -tan` and its variants: counts per state and the busiest peers,
/// and with `-p` (or netstat's) the processes holding the sockets.
pub fn parse_sockets(block: &Block) -> Option<Claim> {
    let filter = filter_state(block);
    let mut lines = Vec::new();
    let mut sockets = Vec::new();
    // The processes named for each socket, beside `sockets`.
    let mut owners: Vec<Vec<(u32, String)>> = Vec::new();
    let mut header = false;
    let mut netid_header = false;
    for (i, line) in block.lines.iter().enumerate() {
        if is_header(line) {
            if line.trim_start().starts_with("Recv-Q") && filter.is_none() {
                return Some(Claim {
                    lines: Vec::new(),
                    found: Vec::new(),
                    problem: Some(
                        "ss output without a State column, and no `$ ss … state NAME` line \
                         to say which state: paste it with its command line"
                            .to_string(),
                    ),
                });
            }
            header = true;
            netid_header |= line.trim_start().starts_with("Netid");
            lines.push(i);
        } else if netid_header && is_other_netid(line) {
            // `ss -an`: UDP and unix sockets are not TCP states; known, skipped.
            lines.push(i);
        } else if let Some(s) = row(line, filter) {
            sockets.push(s);
            owners.push(processes(line));
            lines.push(i);
        } else if i > 0
            && !sockets.is_empty()
            && lines.last() == Some(&(i - 1))
            && line.starts_with([' ', '\t'])
            && !line.trim().is_empty()
        {
            // `-i`/`-e`/`-m` details, or a `-p` process column wrapped by a
            // narrow terminal, on the line under their socket.
            if let Some(last) = owners.last_mut()
                && last.is_empty()
            {
                *last = processes(line);
            }
            lines.push(i);
        }
    }
    if sockets.is_empty() && !header {
        return None;
    }
    let mut states = summarize(&sockets);
    states.by_process = by_process(&sockets, &owners);
    // `ss state close-wait` lists one state: the others were not counted.
    states.counted = filter
        .and_then(|n| faultline_probe::report::TCP_STATES.get(usize::from(n).checked_sub(1)?))
        .map(|name| vec![name.to_string()]);
    let obs: Observation = states.into();
    Some(Claim::new(
        lines,
        vec![Found {
            obs,
            format: "ss -tan",
        }],
    ))
}

/// Each named process's sockets, ranked as the probe ranks them. TIME_WAIT
/// sockets name no process; a socket several processes share counts for
/// each.
fn by_process(sockets: &[SockEntry], owners: &[Vec<(u32, String)>]) -> Vec<ProcessSockets> {
    let mut held: BTreeMap<u32, (&str, Vec<SockEntry>)> = BTreeMap::new();
    for (s, named) in sockets.iter().zip(owners) {
        for (pid, name) in named {
            held.entry(*pid).or_insert((name, Vec::new())).1.push(*s);
        }
    }
    rank_processes(
        held.into_iter()
            .map(|(pid, (name, socks))| (pid, name, socks)),
    )
}

/// `ss -s`: the TCP summary line.
pub fn parse_summary(block: &Block) -> Option<Claim> {
    let mut lines = Vec::new();
    let mut tcp = None;
    for (i, line) in block.lines.iter().enumerate() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("TCP:")
            && let Some(counts) = tcp_summary(rest)
        {
            tcp = Some(counts);
            lines.push(i);
        } else if summary_noise(t) {
            lines.push(i);
        }
    }
    let counts = tcp?;
    Some(Claim::new(
        lines,
        vec![Found {
            obs: TcpStates {
                counted: Some(counts.keys().cloned().collect()),
                counts,
                ..TcpStates::default()
            }
            .into(),
            format: "ss -s",
        }],
    ))
}

/// `84 (estab 2, closed 71, orphaned 0, timewait 70)`; older versions add
/// `synrecv N` and print timewait as `N/M`, then `, ports N`.
fn tcp_summary(rest: &str) -> Option<BTreeMap<String, i64>> {
    let (total, rest) = rest.trim().split_once('(')?;
    count(total)?;
    let (inner, _) = rest.split_once(')')?;
    let mut raw = BTreeMap::new();
    for part in inner.split(',') {
        let (name, value) = part.trim().split_once(' ')?;
        let value = value.split('/').next()?.trim();
        raw.insert(name, count(value)?);
    }
    let estab = *raw.get("estab")?;
    let timewait = raw.get("timewait").copied().unwrap_or(0);
    let mut counts = BTreeMap::from([
        ("ESTABLISHED".to_string(), estab),
        ("TIME_WAIT".to_string(), timewait),
    ]);
    // ss counts time-wait sockets among the closed ones.
    if let Some(closed) = raw.get("closed") {
        counts.insert("CLOSE".to_string(), (closed - timewait).max(0));
    }
    if let Some(synrecv) = raw.get("synrecv") {
        counts.insert("SYN_RECV".to_string(), *synrecv);
    }
    Some(counts)
}

/// The other lines of `ss -s`: `Total: N`, the transport table.
fn summary_noise(t: &str) -> bool {
    if let Some(rest) = t.strip_prefix("Total:") {
        return rest.split_whitespace().next().and_then(count).is_some();
    }
    if t.starts_with("Transport") && t.contains("Total") {
        return true;
    }
    let w: Vec<&str> = t.split_whitespace().collect();
    matches!(
        w.first(),
        Some(&("*" | "RAW" | "UDP" | "TCP" | "INET" | "FRAG"))
    ) && w.len() == 4
        && w[1..].iter().all(|x| count(x).is_some() || *x == "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("10.0.0.2:5555"), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(endpoint("[::1]:443"), Some("::1".parse().unwrap()));
        assert_eq!(
            endpoint("[::ffff:10.0.0.1]:80"),
            Some("::ffff:10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            endpoint("127.0.0.53%lo:53"),
            Some("127.0.0.53".parse().unwrap())
        );
        assert_eq!(endpoint("*:*"), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(
            endpoint("fe80::1%eth0:22"),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(endpoint("nonsense"), None);
        assert_eq!(endpoint(":"), None);
    }

    #[test]
    fn old_summary_with_synrecv_and_ports() {
        let c = tcp_summary(
            " 1234 (estab 100, closed 50, orphaned 2, synrecv 3, timewait 40/0), ports 0",
        )
        .unwrap();
        assert_eq!(c["ESTABLISHED"], 100);
        assert_eq!(c["TIME_WAIT"], 40);
        assert_eq!(c["CLOSE"], 10);
        assert_eq!(c["SYN_RECV"], 3);
    }

    #[test]
    fn process_columns_of_ss_and_netstat() {
        assert_eq!(
            processes(
                "ESTAB 0 0 10.0.0.1:22 10.0.0.9:5000 users:((\"sshd\",pid=812,fd=3),(\"sshd\",pid=901,fd=3),(\"sshd\",pid=812,fd=4))"
            ),
            [(812, "sshd".to_string()), (901, "sshd".to_string())]
        );
        assert_eq!(
            processes("tcp 0 0 10.0.0.1:22 10.0.0.9:5000 ESTABLISHED 812/sshd: root@pts/0"),
            [(812, "sshd".to_string())]
        );
        assert!(processes("tcp 0 0 10.0.0.1:22 10.0.0.9:5000 TIME_WAIT -").is_empty());
        assert!(processes("ESTAB 0 0 10.0.0.1:22 10.0.0.9:5000").is_empty());
    }
}
