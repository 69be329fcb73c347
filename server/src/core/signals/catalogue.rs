//! Every signal the server derives, with its unit, meaning and how to collect
//! it. The signals page, clause validation and "evidence to collect" all read
//! this one table.

use serde::Serialize;

/// The documentation of one signal (or of a family such as `logs.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignalDef {
    /// Dotted name; a family ends in `.*`.
    pub name: &'static str,
    pub unit: &'static str,
    /// What it means, in one line.
    pub meaning: &'static str,
    /// The probe flag or command that produces it.
    pub collect: &'static str,
}

const fn s(
    name: &'static str,
    unit: &'static str,
    meaning: &'static str,
    collect: &'static str,
) -> SignalDef {
    SignalDef {
        name,
        unit,
        meaning,
        collect,
    }
}

const SS: &str = "faultline-probe collect, or paste `ss -tan`";
const SS_WINDOW: &str = "faultline-probe collect --for 10 (socket states sampled every second)";
const SS_OWNERS: &str = "faultline-probe collect (as root, to see every process's sockets)";
const SS_NETNS: &str = "faultline-probe collect as root on the node (a DaemonSet with hostPID): every pod's network namespace";
const FDS: &str = "faultline-probe collect, or `ls /proc/PID/fd | wc -l` and /proc/PID/limits";
const CT: &str = "faultline-probe collect, or `conntrack -S` and /proc/sys/net/netfilter/nf_conntrack_{count,max}";
const NSTAT: &str = "faultline-probe collect --for 30, or paste `nstat -az`";
const DNS: &str =
    "faultline-probe collect --dns NAME --dns NAME. (with and without the trailing dot)";
const TLS: &str = "faultline-probe collect --tls HOST:PORT [--sni NAME]";
const LIFE: &str = "faultline-probe collect --lifetime HOST:PORT --for 400";
const HTTP: &str = "faultline-probe collect --http URL --for 180";
const HTTP_IDLE: &str = "faultline-probe collect --http PROXY_URL --keepalive BACKEND_URL --for 30";
const HOST: &str = "faultline-probe collect (host): interfaces, resolv.conf, NAT rules";
const KA: &str = "faultline-probe collect --keepalive URL --for 120";
const KA_VS_PROXY: &str = "faultline-probe collect --keepalive BACKEND_URL --nginx-conf /etc/nginx/nginx.conf (or --fact proxy.upstream_keepalive_timeout_s=N)";
const PMTU: &str = "faultline-probe collect --pmtu HOST";
const NAT: &str = "faultline-probe collect (host), or paste `iptables-save -t nat`";
const IFACES: &str = "faultline-probe collect (host), or paste `ip -d link`";
const CONNECT: &str = "faultline-probe collect --connect HOST:PORT --for 60";
const K8S: &str = "kubectl get pods -o json | faultline-probe collect --k8s-pods -";
const LOGS: &str = "faultline-probe collect --log PATH";
const CONFIG: &str = "nginx -T | faultline-probe collect --nginx-conf -, or state it: faultline-probe collect --fact NAME=VALUE";
const TLS_CLIENT: &str = "faultline-probe collect --openssl-conf /etc/ssl/openssl.cnf, or state it: --fact client.tls_versions=TLSv1.3";

/// The catalogue, grouped by the observation kind each signal comes from.
pub const SIGNALS: &[SignalDef] = &[
    // tcp_states
    s(
        "tcp.sockets",
        "sockets",
        "TCP sockets in any state except LISTEN",
        SS,
    ),
    s(
        "tcp.established_count",
        "sockets",
        "sockets in ESTABLISHED",
        SS,
    ),
    s(
        "tcp.close_wait_count",
        "sockets",
        "sockets whose peer closed but we have not (CLOSE_WAIT)",
        SS,
    ),
    s(
        "tcp.close_wait_share",
        "ratio 0-1",
        "CLOSE_WAIT sockets as a share of all non-listening sockets",
        SS,
    ),
    s(
        "tcp.close_wait_top_peer_share",
        "ratio 0-1",
        "share of CLOSE_WAIT sockets that go to the single most common peer",
        SS,
    ),
    s(
        "tcp.close_wait_share_of_open",
        "ratio 0-1",
        "CLOSE_WAIT sockets as a share of the sockets in use: neither listening nor in TIME_WAIT (churn that belongs to no process)",
        SS,
    ),
    s(
        "tcp.close_wait_top_process_count",
        "sockets",
        "CLOSE_WAIT sockets held by the process holding the most",
        SS_OWNERS,
    ),
    s(
        "tcp.close_wait_top_process_share",
        "ratio 0-1",
        "those sockets as a share of that process's own non-listening sockets",
        SS_OWNERS,
    ),
    s(
        "tcp.close_wait_persistent",
        "sockets",
        "CLOSE_WAIT sockets present in every sample over the window, the same sockets each time: nothing closes them",
        SS_WINDOW,
    ),
    s(
        "tcp.close_wait_persistent_share",
        "ratio 0-1",
        "those sockets as a share of the CLOSE_WAIT sockets at the first sample",
        SS_WINDOW,
    ),
    s(
        "tcp.close_wait_growth",
        "sockets",
        "CLOSE_WAIT sockets at the last sample minus at the first",
        SS_WINDOW,
    ),
    s(
        "tcp.close_wait_where",
        "text",
        "where the CLOSE_WAIT sockets the other tcp.close_wait_* signals describe are: `host` (the probe's own network namespace) or the pod or network namespace with the most of them",
        SS_NETNS,
    ),
    s(
        "tcp.window_s",
        "seconds",
        "how long socket states were sampled",
        SS_WINDOW,
    ),
    s(
        "tcp.time_wait_count",
        "sockets",
        "sockets in TIME_WAIT (normal after active closes)",
        SS,
    ),
    s(
        "tcp.time_wait_share",
        "ratio 0-1",
        "TIME_WAIT sockets as a share of all non-listening sockets",
        SS,
    ),
    s(
        "tcp.syn_recv_count",
        "sockets",
        "half-open inbound connections waiting for the final ACK (SYN_RECV)",
        SS,
    ),
    s(
        "tcp.syn_recv_share",
        "ratio 0-1",
        "SYN_RECV sockets as a share of all non-listening sockets",
        SS,
    ),
    s(
        "tcp.syn_recv_share_of_open",
        "ratio 0-1",
        "SYN_RECV sockets as a share of the sockets in use (TIME_WAIT left out)",
        SS,
    ),
    // process_fds
    s(
        "fds.max_share_of_limit",
        "ratio 0-1",
        "highest open-descriptor count of any process divided by its soft limit",
        FDS,
    ),
    s(
        "fds.max_open",
        "descriptors",
        "open descriptors of the process with the most",
        FDS,
    ),
    s(
        "fds.socket_share",
        "ratio 0-1",
        "share of that process's descriptors that are sockets",
        FDS,
    ),
    s(
        "fds.close_wait_holder_share_of_limit",
        "ratio 0-1",
        "open descriptors of the process holding the most CLOSE_WAIT sockets divided by its soft limit",
        SS_OWNERS,
    ),
    // conntrack
    s(
        "conntrack.fill",
        "ratio 0-1",
        "connection-tracking entries divided by nf_conntrack_max",
        CT,
    ),
    s(
        "conntrack.count",
        "entries",
        "entries in the connection-tracking table",
        CT,
    ),
    s(
        "conntrack.max",
        "entries",
        "nf_conntrack_max, the table size",
        CT,
    ),
    s(
        "conntrack.drops",
        "packets",
        "packets dropped because the table was full (sum over CPUs)",
        CT,
    ),
    s(
        "conntrack.insert_failed",
        "events",
        "failed inserts into the table (sum over CPUs)",
        CT,
    ),
    s(
        "conntrack.time_wait_share",
        "ratio 0-1",
        "share of tracked TCP entries in TIME_WAIT",
        CT,
    ),
    s(
        "conntrack.established_timeout_s",
        "seconds",
        "nf_conntrack_tcp_timeout_established",
        CT,
    ),
    // net_counters
    s(
        "counters.listen_overflows",
        "events",
        "accept-queue overflows in the window (TcpExtListenOverflows)",
        NSTAT,
    ),
    s(
        "counters.listen_drops",
        "events",
        "SYNs dropped at a listener in the window (TcpExtListenDrops)",
        NSTAT,
    ),
    s(
        "counters.syncookies_sent",
        "events",
        "SYN cookies sent in the window: the SYN queue was full (TcpExtSyncookiesSent)",
        NSTAT,
    ),
    s(
        "counters.retrans_share",
        "ratio 0-1",
        "retransmitted segments divided by segments sent (TcpRetransSegs / TcpOutSegs)",
        NSTAT,
    ),
    // dns_lookups
    s(
        "dns.ndots",
        "dots",
        "resolv.conf ndots: names with fewer dots try the search list first",
        DNS,
    ),
    s(
        "dns.search_domains",
        "domains",
        "number of search domains in resolv.conf",
        DNS,
    ),
    s(
        "dns.search_penalty_ms",
        "ms",
        "slowest lookup of an unqualified name minus the lookup of its trailing-dot twin",
        DNS,
    ),
    s("dns.max_lookup_ms", "ms", "slowest lookup measured", DNS),
    s(
        "dns.failed_share",
        "ratio 0-1",
        "share of lookups that returned no address",
        DNS,
    ),
    // tls_handshake
    s(
        "tls.chain_length",
        "certificates",
        "certificates the server sent, leaf included (fewest over targets)",
        TLS,
    ),
    s(
        "tls.verify",
        "text",
        "verification result: ok, unknown_issuer, expired, name_mismatch, handshake_failure, other: …",
        TLS,
    ),
    s(
        "tls.leaf_self_signed",
        "bool",
        "the leaf certificate is self-signed",
        TLS,
    ),
    s(
        "tls.supports_tls12",
        "bool",
        "the server completed a TLS 1.2 handshake",
        TLS,
    ),
    s(
        "tls.supports_tls13",
        "bool",
        "the server completed a TLS 1.3 handshake",
        TLS,
    ),
    s(
        "tls.client_versions",
        "text",
        "TLS versions the client is configured to offer (config fact client.tls_versions), comma-separated",
        TLS_CLIENT,
    ),
    s(
        "tls.no_common_version",
        "bool",
        "none of the client's versions is one the server completes",
        TLS,
    ),
    // conn_lifetimes
    s(
        "conn.ended",
        "connections",
        "held connections that ended during the watch",
        LIFE,
    ),
    s(
        "conn.idle",
        "bool",
        "no traffic was sent on the held connections",
        LIFE,
    ),
    s(
        "conn.lifetime_mode_s",
        "seconds",
        "centre (median) of the largest cluster of connection endings",
        LIFE,
    ),
    s(
        "conn.lifetime_cluster_share",
        "ratio 0-1",
        "share of ended connections inside that cluster",
        LIFE,
    ),
    s(
        "conn.lifetime_spread_s",
        "seconds",
        "interquartile range of all ending times: small means an exact-time cut",
        LIFE,
    ),
    s(
        "conn.rst_share",
        "ratio 0-1",
        "share of ended connections ended by a reset",
        LIFE,
    ),
    s(
        "conn.timer_matches",
        "timers",
        "known default timers within tolerance of the lifetime mode",
        LIFE,
    ),
    s(
        "conn.matched_timers",
        "text",
        "names of those timers, closest first",
        LIFE,
    ),
    // http_latency
    s("http.samples", "requests", "requests sampled", HTTP),
    s("http.p50_ms", "ms", "median latency", HTTP),
    s("http.p99_ms", "ms", "99th percentile latency", HTTP),
    s(
        "http.p99_over_p50",
        "ratio",
        "p99 divided by p50: a heavy tail when large",
        HTTP,
    ),
    s(
        "http.error_share",
        "ratio 0-1",
        "share of requests that failed (transport error or 5xx)",
        HTTP,
    ),
    s(
        "http.status_502_share",
        "ratio 0-1",
        "share of requests answered 502 Bad Gateway",
        HTTP,
    ),
    s(
        "http.idle_samples",
        "requests",
        "requests sent after a silence about as long as the backend's idle keep-alive (measured by --keepalive)",
        HTTP_IDLE,
    ),
    s(
        "http.idle_failed_share",
        "ratio 0-1",
        "share of those answered 502 or not at all: a pooled connection reused as the backend closed it",
        HTTP_IDLE,
    ),
    s(
        "http.slow_share",
        "ratio 0-1",
        "share of requests slower than five times the median",
        HTTP,
    ),
    s(
        "http.slow_period_s",
        "seconds",
        "regular interval between bursts of slow requests (absent when irregular)",
        HTTP,
    ),
    s(
        "http.slow_second_of_minute",
        "second",
        "where in the minute (modulo the period) slow bursts start",
        HTTP,
    ),
    s(
        "http.slow_alignment",
        "ratio 0-1",
        "share of slow bursts within 2 s of that second",
        HTTP,
    ),
    // keepalive
    s(
        "keepalive.backend_idle_close_s",
        "seconds",
        "idle time after which the backend closed a keep-alive connection",
        KA,
    ),
    s(
        "keepalive.backend_outlasted_s",
        "seconds",
        "the backend had not closed an idle connection after this long (the probe's wait)",
        KA,
    ),
    s(
        "keepalive.backend_shorter_than_proxy",
        "bool",
        "the backend closes idle connections before the proxy stops reusing them",
        KA_VS_PROXY,
    ),
    s(
        "keepalive.margin_s",
        "seconds",
        "backend idle close minus the proxy's upstream keep-alive timeout (negative is a race)",
        KA_VS_PROXY,
    ),
    s(
        "config.proxy_upstream_keepalive_timeout_s",
        "seconds",
        "how long the proxy keeps idle upstream connections for reuse (config fact)",
        CONFIG,
    ),
    // pmtu
    s(
        "pmtu.iface_mtu",
        "bytes",
        "MTU of the interface the route leaves through",
        PMTU,
    ),
    s(
        "pmtu.max_ok_size",
        "bytes",
        "largest DF-set packet that got an answer",
        PMTU,
    ),
    s(
        "pmtu.shortfall_bytes",
        "bytes",
        "interface MTU minus the largest packet that got through",
        PMTU,
    ),
    s(
        "pmtu.blackhole",
        "bool",
        "packets within the interface MTU vanish silently while smaller ones pass",
        PMTU,
    ),
    // interfaces
    s(
        "iface.min_mtu",
        "bytes",
        "smallest MTU of an interface that is up (loopback excluded)",
        IFACES,
    ),
    s(
        "iface.tunnels",
        "interfaces",
        "tunnel interfaces up (tun, wireguard, vxlan, gre, ipip)",
        IFACES,
    ),
    // nat_rules
    s(
        "nat.masquerade_rules",
        "rules",
        "MASQUERADE source ranges configured",
        NAT,
    ),
    s(
        "nat.pod_cidrs",
        "ranges",
        "pod CIDRs known on the host",
        NAT,
    ),
    s(
        "nat.pod_cidrs_unmasqueraded",
        "ranges",
        "pod CIDRs that no MASQUERADE rule covers",
        NAT,
    ),
    // connect_attempts
    s(
        "connect.attempts",
        "connects",
        "connects tried over all targets",
        CONNECT,
    ),
    s(
        "connect.refused_share",
        "ratio 0-1",
        "share of connects refused (RST to SYN)",
        CONNECT,
    ),
    s(
        "connect.timeout_share",
        "ratio 0-1",
        "share of connects that timed out",
        CONNECT,
    ),
    s(
        "connect.refused_burst",
        "bool",
        "refusals come in bursts close together in time rather than spread out",
        CONNECT,
    ),
    // k8s_pods
    s("k8s.pods", "pods", "pods described", K8S),
    s(
        "k8s.max_restarts",
        "restarts",
        "most container restarts of any pod",
        K8S,
    ),
    s(
        "k8s.oomkilled_pods",
        "pods",
        "pods whose last termination was OOMKilled",
        K8S,
    ),
    s("k8s.not_ready_pods", "pods", "pods not Ready", K8S),
    s(
        "k8s.pods_without_readiness",
        "pods",
        "pods with a container lacking a readiness probe",
        K8S,
    ),
    s(
        "k8s.pods_without_prestop",
        "pods",
        "pods with a container lacking a preStop hook",
        K8S,
    ),
    // host
    s(
        "host.kubernetes",
        "bool",
        "the host shows Kubernetes: pods, pod CIDRs, a cluster search domain in resolv.conf or a CNI interface",
        HOST,
    ),
    // families
    s(
        "logs.*",
        "lines",
        "lines matching a log pattern, named by the pattern in lowercase with `_` for other characters (e.g. logs.upstream_prematurely_closed_connection)",
        LOGS,
    ),
    s(
        "config.*",
        "as given",
        "a configuration fact, its dots turned into `_` (e.g. proxy.upstream_keepalive_timeout_s → config.proxy_upstream_keepalive_timeout_s)",
        CONFIG,
    ),
];

/// The observation kinds a signal is derived from, by its group (the part
/// of its name before the first dot): where a page finds the evidence a
/// clause over it used.
pub fn kinds_of(name: &str) -> &'static [&'static str] {
    match name.split('.').next().unwrap_or_default() {
        "tcp" => &["tcp_states"],
        "fds" => &["process_fds", "tcp_states"],
        "conntrack" => &["conntrack"],
        "counters" => &["net_counters"],
        "dns" => &["dns_lookups"],
        "tls" => &["tls_handshake", "config_facts"],
        "conn" => &["conn_lifetimes"],
        "http" => &["http_latency"],
        "keepalive" => &["keepalive", "config_facts"],
        "pmtu" => &["pmtu", "interfaces"],
        "iface" => &["interfaces"],
        "nat" => &["nat_rules"],
        "connect" => &["connect_attempts"],
        "k8s" => &["k8s_pods"],
        "host" => &["k8s_pods", "nat_rules", "dns_lookups", "interfaces"],
        "logs" => &["log_matches"],
        "config" => &["config_facts"],
        _ => &[],
    }
}

/// The definition of `name`: an exact entry or the family it belongs to.
pub fn lookup(name: &str) -> Option<&'static SignalDef> {
    SIGNALS.iter().find(|d| d.name == name).or_else(|| {
        let (group, rest) = name.split_once('.')?;
        let family = SIGNALS
            .iter()
            .find(|d| d.name.strip_suffix(".*") == Some(group))?;
        is_ident(rest).then_some(family)
    })
}

/// Signals that only a Kubernetes node or pod has: collecting them
/// elsewhere settles nothing.
pub fn kubernetes_only(name: &str) -> bool {
    name.starts_with("k8s.") || name.starts_with("nat.pod_cidrs")
}

/// Top-level groups (`tcp`, `dns`, …): the variables a clause can name.
pub fn groups() -> Vec<&'static str> {
    let mut g: Vec<&str> = SIGNALS
        .iter()
        .filter_map(|d| d.name.split_once('.').map(|(g, _)| g))
        .collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// A name part an expression can spell: letters, digits, `_`, not starting with a digit.
pub fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Turns free text (a log pattern, a config key) into a name part:
/// "upstream prematurely closed" → "upstream_prematurely_closed".
pub fn name_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_documented_and_expressible() {
        let mut names: Vec<_> = SIGNALS.iter().map(|d| d.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate signal names");
        for d in SIGNALS {
            let (group, rest) = d.name.split_once('.').expect("grouped name");
            assert!(is_ident(group), "{}", d.name);
            assert!(rest == "*" || is_ident(rest), "{}", d.name);
            assert!(!d.meaning.is_empty() && !d.unit.is_empty() && !d.collect.is_empty());
        }
    }

    #[test]
    fn every_signal_comes_from_a_known_observation_kind() {
        for d in SIGNALS {
            assert!(!kinds_of(d.name).is_empty(), "{} has no kind", d.name);
        }
        assert_eq!(kinds_of("tcp.close_wait_count"), ["tcp_states"]);
        assert!(kinds_of("nonsense.x").is_empty());
    }

    #[test]
    fn lookup_finds_exact_names_and_family_members_only() {
        assert_eq!(lookup("conntrack.fill").unwrap().unit, "ratio 0-1");
        assert_eq!(lookup("logs.too_many_open_files").unwrap().name, "logs.*");
        assert!(lookup("conntrack.fullness").is_none());
        assert!(lookup("logs.bad name").is_none());
        assert!(lookup("nope.x").is_none());
    }

    #[test]
    fn free_text_becomes_a_name_part() {
        assert_eq!(
            name_part("upstream prematurely closed connection"),
            "upstream_prematurely_closed_connection"
        );
        assert_eq!(
            name_part("nf_conntrack: table full"),
            "nf_conntrack_table_full"
        );
        assert_eq!(name_part("502 Bad Gateway"), "_502_bad_gateway");
        assert!(is_ident(&name_part("a.b-c")));
    }
}
