//! One function per observation kind, each turning it into signals.

use std::collections::BTreeMap;
use std::net::IpAddr;

use faultline_probe::report::{
    ConfigFacts, ConnLifetimes, ConnectAttempts, Conntrack, DnsLookups, EndedBy, HttpLatency,
    Interfaces, K8sPods, Keepalive, LogMatches, NatRules, NetCounters, NetnsLabel, Observation,
    Pmtu, ProcessFds, ProcessSockets, Report, TcpStates, TcpWindow, TlsHandshake,
};
use serde_json::Value;

use super::catalogue::name_part;
use super::stats::{alignment, bursts, dominant_cluster, period_s, quantile, ratio};
use super::{SignalValue, Signals};
use crate::core::timers;

pub(super) fn observation(out: &mut Signals, o: &Observation) {
    match o {
        Observation::TcpStates(t) => tcp_states(out, t),
        Observation::ProcessFds(f) => process_fds(out, f),
        Observation::Conntrack(c) => conntrack(out, c),
        Observation::NetCounters(n) => net_counters(out, n),
        Observation::DnsLookups(d) => dns(out, d),
        Observation::TlsHandshake(t) => tls(out, t),
        Observation::ConnLifetimes(l) => lifetimes(out, l),
        Observation::HttpLatency(h) => http(out, h),
        Observation::Keepalive(k) => keepalive(out, k),
        Observation::Pmtu(p) => pmtu(out, p),
        Observation::NatRules(n) => nat(out, n),
        Observation::Interfaces(i) => interfaces(out, i),
        Observation::ConnectAttempts(a) => connects(out, a),
        Observation::LogMatches(l) => logs(out, l),
        Observation::K8sPods(k) => pods(out, k),
        Observation::ConfigFacts(c) => config(out, c),
        Observation::Unknown(_) => {}
    }
}

/// Signals that combine two observations (client config against server facts).
pub(super) fn cross(out: &mut Signals) {
    keepalive_against_proxy(out);
    tls_common_version(out);
}

/// Signals that join observations by more than a signal value: the
/// descriptors of the very process holding the CLOSE_WAIT sockets (another
/// process near its limit says nothing about the leak), and whether the
/// host shows any sign of Kubernetes.
///
/// The holder is sought in the table the CLOSE_WAIT signals came from:
/// `focus`, the network namespace [`namespaces`] chose, or else the
/// probe's own.
pub(super) fn joined(out: &mut Signals, r: &Report, focus: Option<u64>) {
    let holder = r.observations.iter().find_map(|o| match o {
        Observation::TcpStates(t) if t.netns.as_ref().map(|n| n.inode) == focus => {
            close_wait_holder(t).map(|p| p.pid)
        }
        _ => None,
    });
    let fds = holder.and_then(|pid| {
        r.observations.iter().find_map(|o| match o {
            Observation::ProcessFds(f) => f.processes.iter().find(|p| p.pid == pid),
            _ => None,
        })
    });
    if let Some(p) = fds {
        let limit = p.fd_limit.map(|l| l as f64);
        out.num(
            "fds.close_wait_holder_share_of_limit",
            limit.and_then(|l| ratio(p.open_fds as f64, l)),
        );
    }
    kubernetes(out, r);
}

/// Socket-state signals taken whole from one network namespace: the one
/// with the most sockets in that state (the probe's own on a tie), so a
/// share and a count in one clause describe the same sockets.
const STATE_FAMILIES: [(&str, &str); 3] = [
    ("tcp.close_wait", "tcp.close_wait_count"),
    ("tcp.syn_recv", "tcp.syn_recv_count"),
    ("tcp.time_wait", "tcp.time_wait_count"),
];

/// Joins the signals of each other network namespace's sockets (`spaces`,
/// each reduced on its own) with the probe's own (`out`). Each state's
/// family comes whole from the namespace with the most sockets in that
/// state: a pod's leak is judged on the pod's sockets, and a lone
/// CLOSE_WAIT in an idle pod (a share of 1) cannot pair with the node's
/// count. Other socket signals keep the more alarming value, as for two
/// targets. `tcp.close_wait_where` names where the CLOSE_WAIT sockets
/// are. Returns the namespace the CLOSE_WAIT family came from, when it
/// was not the probe's own.
pub(super) fn namespaces(out: &mut Signals, spaces: Vec<(&NetnsLabel, Signals)>) -> Option<u64> {
    if spaces.is_empty() {
        return None;
    }
    let mut focus = None;
    for (family, key) in STATE_FAMILIES {
        let count = |s: &Signals| match s.get(key) {
            Some(SignalValue::Number(n)) => Some(*n),
            _ => None,
        };
        let mut best: Option<usize> = None;
        let mut most = count(out);
        for (i, (_, s)) in spaces.iter().enumerate() {
            if let Some(n) = count(s)
                && most.is_none_or(|m| n > m)
            {
                (best, most) = (Some(i), Some(n));
            }
        }
        if let Some(i) = best {
            out.remove_prefix(family);
            for (name, v) in spaces[i].1.iter().filter(|(k, _)| k.starts_with(family)) {
                out.replace(name, v.clone());
            }
        }
        if family == "tcp.close_wait" {
            focus = best.map(|i| spaces[i].0.inode);
            if most.is_some_and(|n| n > 0.0) {
                let place = best.map_or_else(|| "host".to_owned(), |i| spaces[i].0.describe());
                out.text("tcp.close_wait_where", place);
            }
        }
    }
    for (_, s) in &spaces {
        for (name, v) in s.iter() {
            if !STATE_FAMILIES.iter().any(|(f, _)| name.starts_with(f)) {
                out.set(name, v.clone());
            }
        }
    }
    focus
}

/// Interface names CNI plugins and kube-proxy create.
const KUBERNETES_LINKS: [&str; 8] = [
    "cni",
    "flannel",
    "cali",
    "cilium",
    "weave",
    "kube-",
    "vxlan.calico",
    "tunl0",
];

/// `host.kubernetes`: a pod list, pod CIDRs, a cluster search domain in
/// resolv.conf, a CNI interface or a pod's network namespace. False when interfaces or resolv.conf
/// were seen and show none of it; absent when nothing was looked at.
fn kubernetes(out: &mut Signals, r: &Report) {
    let mut seen = false;
    let mut found = false;
    for o in &r.observations {
        match o {
            Observation::K8sPods(k) => {
                seen = true;
                found |= !k.pods.is_empty();
            }
            Observation::NatRules(n) => {
                seen = true;
                found |= !n.pod_cidrs.is_empty();
            }
            Observation::DnsLookups(d) => {
                let Some(rc) = &d.resolv_conf else { continue };
                seen = true;
                found |= rc
                    .search
                    .iter()
                    .any(|s| s.contains(".svc.") || s.ends_with("cluster.local"));
            }
            Observation::Interfaces(i) => {
                seen = true;
                found |= i
                    .interfaces
                    .iter()
                    .any(|x| KUBERNETES_LINKS.iter().any(|k| x.name.starts_with(k)));
            }
            // A pod's network namespace, read by a probe on the node.
            Observation::TcpStates(t) if t.netns.as_ref().is_some_and(|n| n.pod_uid.is_some()) => {
                seen = true;
                found = true;
            }
            _ => {}
        }
    }
    if seen {
        out.flag("host.kubernetes", found);
    }
}

fn count(map: &BTreeMap<String, i64>, key: &str) -> f64 {
    map.get(key).copied().unwrap_or(0) as f64
}

/// Socket-state signals. A partial count (`counted`: a filtered listing or
/// `ss -s`) gives the counts of the states it saw and no totals or shares:
/// a state it did not count is unknown, not zero.
///
/// Shares of all sockets dilute on a busy host, so there are also shares
/// that leave TIME_WAIT aside (churn that belongs to no process), the
/// process holding the most CLOSE_WAIT sockets, and, over the probe's
/// window, how many of them stayed put.
fn tcp_states(out: &mut Signals, t: &TcpStates) {
    tcp_totals(out, t);
    if t.counted.is_none() {
        tcp_open_shares(out, &t.counts);
    }
    if let Some(w) = &t.window {
        tcp_window(out, t, w);
    }
    if let Some(p) = close_wait_holder(t) {
        let held = count(&p.counts, "CLOSE_WAIT");
        let busy: f64 = p
            .counts
            .iter()
            .filter(|(k, _)| k.as_str() != "LISTEN")
            .map(|(_, n)| *n as f64)
            .sum();
        out.num("tcp.close_wait_top_process_count", Some(held));
        out.num("tcp.close_wait_top_process_share", ratio(held, busy));
    }
}

/// The process holding the most CLOSE_WAIT sockets, when one holds any.
fn close_wait_holder(t: &TcpStates) -> Option<&ProcessSockets> {
    t.by_process
        .iter()
        .max_by_key(|p| p.counts.get("CLOSE_WAIT").copied().unwrap_or(0))
        .filter(|p| p.counts.get("CLOSE_WAIT").is_some_and(|n| *n > 0))
}

/// Shares of the sockets in use: neither listening nor in TIME_WAIT.
fn tcp_open_shares(out: &mut Signals, c: &BTreeMap<String, i64>) {
    let open: f64 = c
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "LISTEN" | "TIME_WAIT"))
        .map(|(_, n)| *n as f64)
        .sum();
    for (state, name) in [
        ("CLOSE_WAIT", "tcp.close_wait_share_of_open"),
        ("SYN_RECV", "tcp.syn_recv_share_of_open"),
    ] {
        out.num(name, Some(ratio(count(c, state), open).unwrap_or(0.0)));
    }
}

/// What the samples over the window add: sockets that stayed in
/// CLOSE_WAIT from the first sample to the last, and the growth.
fn tcp_window(out: &mut Signals, t: &TcpStates, w: &TcpWindow) {
    out.num("tcp.window_s", Some(w.seconds));
    let first = count(&w.first, "CLOSE_WAIT");
    if let Some(held) = w.persistent.get("CLOSE_WAIT").map(|n| *n as f64) {
        out.num("tcp.close_wait_persistent", Some(held));
        out.num("tcp.close_wait_persistent_share", ratio(held, first));
    }
    out.num(
        "tcp.close_wait_growth",
        Some(count(&t.counts, "CLOSE_WAIT") - first),
    );
}

fn tcp_totals(out: &mut Signals, t: &TcpStates) {
    let c = &t.counts;
    let known = |state: &str| {
        t.counted
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == state))
    };
    let total: f64 = c
        .iter()
        .filter(|(k, _)| k.as_str() != "LISTEN")
        .map(|(_, n)| *n as f64)
        .sum();
    let total = t.counted.is_none().then_some(total);
    out.num("tcp.sockets", total);
    for (state, name) in [
        ("ESTABLISHED", "established"),
        ("CLOSE_WAIT", "close_wait"),
        ("TIME_WAIT", "time_wait"),
        ("SYN_RECV", "syn_recv"),
    ] {
        if !known(state) {
            continue;
        }
        if name != "established" {
            let share = total.map(|total| ratio(count(c, state), total).unwrap_or(0.0));
            out.num(&format!("tcp.{name}_share"), share);
        }
        out.num(&format!("tcp.{name}_count"), Some(count(c, state)));
    }
    // No peers listed at all (a source that counts states only, such as
    // Prometheus's tcpstat): which peer holds them is unknown, not zero.
    if !known("CLOSE_WAIT") || t.by_peer.is_empty() {
        return;
    }
    let close_wait = count(c, "CLOSE_WAIT");
    let top = t
        .by_peer
        .iter()
        .filter(|p| p.state == "CLOSE_WAIT")
        .map(|p| p.count as f64)
        .fold(0.0, f64::max);
    out.num("tcp.close_wait_top_peer_share", ratio(top, close_wait));
}

fn process_fds(out: &mut Signals, f: &ProcessFds) {
    let worst = f
        .processes
        .iter()
        .filter_map(|p| Some((ratio(p.open_fds as f64, p.fd_limit? as f64)?, p)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((share, p)) = worst {
        out.num("fds.max_share_of_limit", Some(share));
        out.num(
            "fds.socket_share",
            ratio(p.sockets as f64, p.open_fds as f64),
        );
    }
    let most = f.processes.iter().map(|p| p.open_fds).max();
    out.num("fds.max_open", most.map(|n| n as f64));
}

fn conntrack(out: &mut Signals, c: &Conntrack) {
    let (entries, max) = (c.count.map(|n| n as f64), c.max.map(|n| n as f64));
    out.num("conntrack.count", entries);
    out.num("conntrack.max", max);
    out.num(
        "conntrack.fill",
        entries.zip(max).and_then(|(a, b)| ratio(a, b)),
    );
    out.num("conntrack.drops", c.drops.map(|n| n as f64));
    out.num("conntrack.insert_failed", c.insert_failed.map(|n| n as f64));
    let tcp: f64 = c.tcp_states.values().map(|n| *n as f64).sum();
    out.num(
        "conntrack.time_wait_share",
        ratio(count(&c.tcp_states, "TIME_WAIT"), tcp),
    );
    let established = c.timeouts.get("tcp_timeout_established").map(|n| *n as f64);
    out.num("conntrack.established_timeout_s", established);
}

fn net_counters(out: &mut Signals, n: &NetCounters) {
    let d = |k: &str| n.deltas.get(k).map(|v| *v as f64);
    out.num("counters.listen_overflows", d("TcpExtListenOverflows"));
    out.num("counters.listen_drops", d("TcpExtListenDrops"));
    out.num("counters.syncookies_sent", d("TcpExtSyncookiesSent"));
    let retrans = d("TcpRetransSegs").zip(d("TcpOutSegs"));
    out.num(
        "counters.retrans_share",
        retrans.and_then(|(r, o)| ratio(r, o)),
    );
}

fn dns(out: &mut Signals, d: &DnsLookups) {
    if let Some(r) = &d.resolv_conf {
        out.num("dns.ndots", Some(r.ndots as f64));
        out.num("dns.search_domains", Some(r.search.len() as f64));
    }
    let times: Vec<f64> = d.lookups.iter().map(|l| l.elapsed_ms).collect();
    out.num("dns.max_lookup_ms", quantile(&times, 1.0));
    let failed = d.lookups.iter().filter(|l| !l.ok).count() as f64;
    out.num("dns.failed_share", ratio(failed, d.lookups.len() as f64));
    out.num("dns.search_penalty_ms", search_penalty_ms(d));
}

/// Slowest unqualified lookup minus its trailing-dot twin: what the search
/// list costs. Absent when no name was looked up both ways.
fn search_penalty_ms(d: &DnsLookups) -> Option<f64> {
    d.lookups
        .iter()
        .filter(|l| !l.name.ends_with('.'))
        .filter_map(|rel| {
            let twin = format!("{}.", rel.name);
            let abs = d.lookups.iter().find(|l| l.name == twin)?;
            Some(rel.elapsed_ms - abs.elapsed_ms)
        })
        .max_by(f64::total_cmp)
}

fn tls(out: &mut Signals, t: &TlsHandshake) {
    out.num("tls.chain_length", Some(t.chain.len() as f64));
    out.text("tls.verify", t.verify.clone());
    if let Some(leaf) = t.chain.first() {
        out.flag("tls.leaf_self_signed", leaf.self_signed);
    }
    for (version, name) in [
        ("TLSv1.2", "tls.supports_tls12"),
        ("TLSv1.3", "tls.supports_tls13"),
    ] {
        if let Some(ok) = t.versions.get(version) {
            out.flag(name, *ok);
        }
    }
}

fn tls_common_version(out: &mut Signals) {
    let Some(SignalValue::Text(client)) = out.get("tls.client_versions").cloned() else {
        return;
    };
    let served = |v: &str| match v.trim() {
        "TLSv1.2" => out.get("tls.supports_tls12").cloned(),
        "TLSv1.3" => out.get("tls.supports_tls13").cloned(),
        _ => Some(SignalValue::Bool(false)),
    };
    let answers: Vec<_> = client.split(',').map(served).collect();
    if answers.iter().any(Option::is_none) {
        return; // the server side was not measured for every version
    }
    let common = answers.contains(&Some(SignalValue::Bool(true)));
    out.flag("tls.no_common_version", !common);
}

fn lifetimes(out: &mut Signals, l: &ConnLifetimes) {
    let ended: Vec<_> = l
        .connections
        .iter()
        .filter(|c| c.ended_by != EndedBy::Open)
        .collect();
    out.num("conn.ended", Some(ended.len() as f64));
    out.flag("conn.idle", l.idle);
    if ended.is_empty() {
        return;
    }
    let durations: Vec<f64> = ended.iter().map(|c| c.duration_s).collect();
    let rst = ended.iter().filter(|c| c.ended_by == EndedBy::Rst).count() as f64;
    out.num("conn.rst_share", ratio(rst, ended.len() as f64));
    let spread = quantile(&durations, 0.75).zip(quantile(&durations, 0.25));
    out.num("conn.lifetime_spread_s", spread.map(|(hi, lo)| hi - lo));
    // Endings closer than the timer tolerance belong to one cluster.
    if let Some((mode, size)) = dominant_cluster(&durations, |d| timers::tolerance_s(d) / 2.0) {
        out.num("conn.lifetime_mode_s", Some(mode));
        out.num(
            "conn.lifetime_cluster_share",
            ratio(size as f64, ended.len() as f64),
        );
        let hits = timers::matching(mode);
        out.num("conn.timer_matches", Some(hits.len() as f64));
        // Named only when some timer matches: a hand-set timer has no name.
        let names: Vec<_> = hits.iter().map(|t| t.name).collect();
        if !names.is_empty() {
            out.text("conn.matched_timers", names.join(", "));
        }
    }
}

/// A request at least this many times slower than the median counts as slow.
const SLOW_FACTOR: f64 = 5.0;
/// Slow requests closer than this belong to one burst.
const BURST_GAP_MS: i64 = 2_000;

/// Requests after a silence that got a 502 or no answer at all, against
/// their number: what a proxy's stale pooled connections do.
fn http_idle(out: &mut Signals, h: &HttpLatency) {
    if h.idle_samples.is_empty() {
        return;
    }
    let n = h.idle_samples.len() as f64;
    let failed = h
        .idle_samples
        .iter()
        .filter(|s| s.status == 0 || s.status == 502)
        .count() as f64;
    out.num("http.idle_samples", Some(n));
    out.num("http.idle_failed_share", ratio(failed, n));
}

fn http(out: &mut Signals, h: &HttpLatency) {
    http_idle(out, h);
    let n = h.samples.len() as f64;
    out.num("http.samples", Some(n));
    let lat: Vec<f64> = h.samples.iter().map(|s| s.1).collect();
    let (p50, p99) = (quantile(&lat, 0.5), quantile(&lat, 0.99));
    out.num("http.p50_ms", p50);
    out.num("http.p99_ms", p99);
    out.num(
        "http.p99_over_p50",
        p50.zip(p99).and_then(|(a, b)| ratio(b, a)),
    );
    let errors = h.samples.iter().filter(|s| s.2 == 0 || s.2 >= 500).count() as f64;
    out.num("http.error_share", ratio(errors, n));
    let bad_gateway = h.samples.iter().filter(|s| s.2 == 502).count() as f64;
    out.num("http.status_502_share", ratio(bad_gateway, n));
    let Some(p50) = p50.filter(|p| *p > 0.0) else {
        return;
    };
    let slow: Vec<i64> = h
        .samples
        .iter()
        .filter(|s| s.1 >= p50 * SLOW_FACTOR)
        .map(|s| s.0)
        .collect();
    out.num("http.slow_share", ratio(slow.len() as f64, n));
    slow_rhythm(out, &slow);
}

/// Periodicity and second-of-minute alignment of slow requests: a cron job or
/// a backup saturating a link hits at the same seconds every time.
fn slow_rhythm(out: &mut Signals, slow_ms: &[i64]) {
    let starts: Vec<i64> = bursts(slow_ms, BURST_GAP_MS).iter().map(|b| b.0).collect();
    let period = period_s(&starts);
    out.num("http.slow_period_s", period);
    let modulus = period.filter(|p| *p <= 60.0).unwrap_or(60.0);
    if starts.len() >= 3
        && let Some((second, share)) = alignment(&starts, modulus)
    {
        out.num("http.slow_second_of_minute", Some(second));
        out.num("http.slow_alignment", Some(share));
    }
}

fn keepalive(out: &mut Signals, k: &Keepalive) {
    out.num("keepalive.backend_idle_close_s", k.closed_idle_after_s);
    if k.closed_idle_after_s.is_none() {
        // Not closed within the wait: it lasts at least that long.
        out.num("keepalive.backend_outlasted_s", k.waited_s);
    }
}

fn keepalive_against_proxy(out: &mut Signals) {
    let get = |n: &str| match out.get(n) {
        Some(SignalValue::Number(v)) => Some(*v),
        _ => None,
    };
    let Some(proxy) = get("config.proxy_upstream_keepalive_timeout_s") else {
        return;
    };
    if let Some(backend) = get("keepalive.backend_idle_close_s") {
        out.num("keepalive.margin_s", Some(backend - proxy));
        out.flag("keepalive.backend_shorter_than_proxy", backend < proxy);
    } else if let Some(waited) = get("keepalive.backend_outlasted_s").filter(|w| *w >= proxy) {
        out.num("keepalive.margin_s", Some(waited - proxy));
        out.flag("keepalive.backend_shorter_than_proxy", false);
    }
}

fn pmtu(out: &mut Signals, p: &Pmtu) {
    let mtu = p.iface_mtu.map(|m| m as f64);
    out.num("pmtu.iface_mtu", mtu);
    let max_ok = p.probes.iter().filter(|x| x.ok).map(|x| x.size).max();
    out.num("pmtu.max_ok_size", max_ok.map(|m| m as f64));
    out.num(
        "pmtu.shortfall_bytes",
        mtu.zip(max_ok).map(|(m, ok)| m - ok as f64),
    );
    if let (Some(mtu), Some(ok)) = (p.iface_mtu, max_ok) {
        let lost_within_mtu = p
            .probes
            .iter()
            .any(|x| !x.ok && x.size > ok && x.size <= mtu);
        out.flag("pmtu.blackhole", lost_within_mtu);
    }
}

const TUNNEL_KINDS: [&str; 6] = ["tun", "wireguard", "vxlan", "gre", "ipip", "ip6tnl"];

fn interfaces(out: &mut Signals, i: &Interfaces) {
    let up: Vec<_> = i
        .interfaces
        .iter()
        .filter(|x| x.up && x.kind.as_deref() != Some("loopback") && x.name != "lo")
        .collect();
    out.num(
        "iface.min_mtu",
        up.iter().map(|x| x.mtu as f64).min_by(f64::total_cmp),
    );
    let tunnels = up
        .iter()
        .filter(|x| x.kind.as_deref().is_some_and(|k| TUNNEL_KINDS.contains(&k)))
        .count();
    out.num("iface.tunnels", Some(tunnels as f64));
}

fn nat(out: &mut Signals, n: &NatRules) {
    out.num(
        "nat.masquerade_rules",
        Some(n.masquerade_sources.len() as f64),
    );
    if n.pod_cidrs.is_empty() {
        return;
    }
    out.num("nat.pod_cidrs", Some(n.pod_cidrs.len() as f64));
    let uncovered = n
        .pod_cidrs
        .iter()
        .filter(|pod| !n.masquerade_sources.iter().any(|m| cidr_covers(m, pod)))
        .count();
    out.num("nat.pod_cidrs_unmasqueraded", Some(uncovered as f64));
}

/// Parses `addr/len` (a bare address is a host route).
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = addr.parse().ok()?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() {
        full
    } else {
        len.parse().ok()?
    };
    (len <= full).then_some((ip, len))
}

/// Whether range `outer` contains range `inner`.
fn cidr_covers(outer: &str, inner: &str) -> bool {
    let (Some((o, ol)), Some((i, il))) = (parse_cidr(outer), parse_cidr(inner)) else {
        return false;
    };
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
        IpAddr::V6(v) => u128::from(v),
    };
    if o.is_ipv4() != i.is_ipv4() || il < ol {
        return false;
    }
    // v4 addresses sit in the top 32 bits, so one mask works for both.
    let mask = if ol == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(ol))
    };
    bits(o) & mask == bits(i) & mask
}

fn connects(out: &mut Signals, a: &ConnectAttempts) {
    let sum = |f: fn(&faultline_probe::report::ConnectTarget) -> i64| {
        a.targets.iter().map(f).sum::<i64>() as f64
    };
    let attempts = sum(|t| t.attempts);
    out.num("connect.attempts", Some(attempts));
    out.num("connect.refused_share", ratio(sum(|t| t.refused), attempts));
    out.num("connect.timeout_share", ratio(sum(|t| t.timeout), attempts));
    let times: Vec<i64> = a
        .targets
        .iter()
        .flat_map(|t| t.refused_at.clone())
        .collect();
    // Bursty: refusals arrive several at a time, a pod dying then coming
    // back. Fewer than three refusals make no burst.
    let groups = bursts(&times, BURST_GAP_MS).len().max(1);
    let mean = times.len() as f64 / groups as f64;
    out.flag("connect.refused_burst", times.len() >= 3 && mean >= 3.0);
}

fn logs(out: &mut Signals, l: &LogMatches) {
    for p in &l.patterns {
        let name = format!("logs.{}", name_part(&p.pattern));
        out.num(&name, Some(p.count as f64));
    }
}

fn pods(out: &mut Signals, k: &K8sPods) {
    let n = |f: &dyn Fn(&faultline_probe::report::K8sPod) -> bool| {
        Some(k.pods.iter().filter(|p| f(p)).count() as f64)
    };
    out.num("k8s.pods", Some(k.pods.len() as f64));
    out.num(
        "k8s.max_restarts",
        Some(k.pods.iter().map(|p| p.restarts).max().unwrap_or(0) as f64),
    );
    out.num(
        "k8s.oomkilled_pods",
        n(&|p| p.last_terminated_reason.as_deref() == Some("OOMKilled")),
    );
    out.num("k8s.not_ready_pods", n(&|p| !p.ready));
    out.num("k8s.pods_without_readiness", n(&|p| !p.has_readiness_probe));
    out.num("k8s.pods_without_prestop", n(&|p| !p.has_pre_stop));
}

fn config(out: &mut Signals, c: &ConfigFacts) {
    for (key, value) in &c.facts {
        let name = format!("config.{}", name_part(key));
        match value {
            Value::Number(n) => out.num(&name, n.as_f64()),
            Value::Bool(b) => out.flag(&name, *b),
            Value::String(s) => out.text(&name, s.clone()),
            Value::Array(items) => out.text(&name, join(items)),
            _ => {}
        }
    }
    if let Some(v) = c.facts.get("client.tls_versions") {
        let text = match v {
            Value::Array(items) => join(items),
            Value::String(s) => s.replace(' ', ""),
            _ => return,
        };
        out.text("tls.client_versions", text);
    }
}

fn join(items: &[Value]) -> String {
    items
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
