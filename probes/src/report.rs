//! The probe report, wire format v1: the contract with the server (ARCHITECTURE.md).
//!
//! This module is the contract between the probe and the server: the server
//! deserializes reports with these types. Parsing checks the *shape* (types,
//! required fields) and [`Report::validate`] checks the *meaning* (state
//! names, ranges, signs), so counts are signed on purpose: a negative count
//! parses and is then reported with its JSON path.
//!
//! Unknown fields are ignored everywhere. An observation whose `kind` this
//! version does not know is kept verbatim as [`Observation::Unknown`] and
//! serialized back unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

/// The `schema` value of every v1 report.
pub const SCHEMA_V1: &str = "faultline.report.v1";

/// Kernel TCP state names, as `ss` and `/proc/net/tcp` name them.
pub const TCP_STATES: [&str; 11] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

/// TLS version names used as keys of [`TlsHandshake::versions`].
pub const TLS_VERSIONS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];

/// Fixed values of [`TlsHandshake::verify`]; anything else must start with `other: `.
pub const TLS_VERIFY_RESULTS: [&str; 5] = [
    "ok",
    "unknown_issuer",
    "expired",
    "name_mismatch",
    "handshake_failure",
];

/// One collection run on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA_V1`].
    pub schema: String,
    /// Idempotency key: the server stores a report once whatever the number of sends.
    pub report_id: Uuid,
    /// Who collected it.
    pub collector: Collector,
    /// When collection began (RFC 3339, UTC).
    pub started_at: DateTime<Utc>,
    /// When collection ended (RFC 3339, UTC).
    pub finished_at: DateTime<Utc>,
    /// What was measured.
    pub observations: Vec<Observation>,
    /// Collectors that could not run, with why.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Where the evidence came from when it was not measured by
    /// `faultline-probe`: `prometheus` for series pulled from a Prometheus
    /// server and read as observations (`faultline pull`). Absent: the
    /// probe. Optional; readers that predate it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The collector that produced a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collector {
    /// Collector name as registered on the server.
    pub name: String,
    /// Host name the probe ran on.
    pub host: String,
    /// Free-form labels such as `cluster` or `zone`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A collector that did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Observation kind the collector would have produced.
    pub kind: String,
    /// Human-readable reason (missing permission, module not loaded, tool absent…).
    pub reason: String,
}

/// `tcp_states`: socket counts per kernel TCP state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TcpStates {
    /// Count per state name (see [`TCP_STATES`]).
    pub counts: BTreeMap<String, i64>,
    /// Top remote peers per state.
    #[serde(default)]
    pub by_peer: Vec<PeerCount>,
    /// The states that were counted, when not all were: a filtered listing
    /// (`ss state close-wait`) or a summary (`ss -s`). A state missing from
    /// `counts` is then unknown rather than zero. Absent: every state was
    /// counted (what the probe sends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<Vec<String>>,
    /// The states over the collection window, when it was watched rather
    /// than read once: `counts` is then the last sample. Optional; readers
    /// that predate it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TcpWindow>,
    /// The processes holding the most CLOSE_WAIT sockets (then the most
    /// sockets), each with its own counts per state: a leak in one process
    /// shows whatever the rest of the host does. TIME_WAIT sockets belong
    /// to no process. Optional, as `window`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_process: Vec<ProcessSockets>,
    /// The network namespace these sockets live in, when it is not the
    /// probe's own: on a node, a pod's. A report then has one `tcp_states`
    /// per namespace: the probe's own first (no `netns`), then one for each
    /// other namespace that had TCP sockets, none of them mixed with
    /// another's. Optional; readers that predate it see more `tcp_states`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Box<NetnsLabel>>,
}

/// Which network namespace a `tcp_states` observation was read in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetnsLabel {
    /// The namespace's inode, as `/proc/PID/ns/net` (`net:[INODE]`),
    /// `lsns -t net` and `ls -iL /run/netns/NAME` show it.
    pub inode: u64,
    /// A process in it: the oldest one (in a pod, the sandbox's pause
    /// process). None for a namespace no process is in (kept by a name
    /// under /run/netns alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// That process's command name (`/proc/PID/comm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Its name under /run/netns (`ip netns`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Kubernetes pod's uid, from the cgroup path of a process in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// The pod's name, from its containers' environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// The pod's Kubernetes namespace, from its containers' environment or
    /// service-account mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    /// How the sockets were read: `sock_diag` (netlink, from inside the
    /// namespace) or `proc` (`/proc/PID/net/tcp{,6}`, when the probe could
    /// not enter it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_via: Option<String>,
}

/// Values of [`NetnsLabel::read_via`].
pub const NETNS_READ_VIA: [&str; 2] = ["sock_diag", "proc"];

impl NetnsLabel {
    /// Short words for the namespace: `pod shop/api-7d9f`, `netns blue`,
    /// or `netns 4026532301 (pid 4242 nginx)`.
    pub fn describe(&self) -> String {
        match (&self.pod_namespace, &self.pod_name, &self.pod_uid) {
            (Some(ns), Some(name), _) => return format!("pod {ns}/{name}"),
            (None, Some(name), _) => return format!("pod {name}"),
            (_, None, Some(uid)) => return format!("pod uid {uid}"),
            _ => {}
        }
        if let Some(name) = &self.name {
            return format!("netns {name}");
        }
        match (self.pid, &self.process) {
            (Some(pid), Some(p)) => format!("netns {} (pid {pid} {p})", self.inode),
            (Some(pid), None) => format!("netns {} (pid {pid})", self.inode),
            _ => format!("netns {}", self.inode),
        }
    }
}

/// Socket states sampled over a window (at least once a second).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TcpWindow {
    /// Samples taken.
    pub samples: i64,
    /// Seconds from the first sample to the last.
    pub seconds: f64,
    /// Counts per state in the first sample (the last is `counts`).
    pub first: BTreeMap<String, i64>,
    /// Smallest count per state over the samples.
    pub min: BTreeMap<String, i64>,
    /// Largest count per state over the samples.
    pub max: BTreeMap<String, i64>,
    /// Sockets in a state in every sample, the same sockets each time (by
    /// inode): CLOSE_WAIT sockets nothing closes stay; churn does not.
    #[serde(default)]
    pub persistent: BTreeMap<String, i64>,
}

/// One process's TCP sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSockets {
    /// Process id.
    pub pid: u32,
    /// Command name (`/proc/PID/comm`).
    pub name: String,
    /// Its sockets per state (LISTEN included, TIME_WAIT never).
    pub counts: BTreeMap<String, i64>,
    /// Its busiest CLOSE_WAIT peers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_peer: Vec<PeerCount>,
}

/// Sockets in one state towards one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCount {
    /// Peer IP address (or a redaction token).
    pub peer: String,
    /// Kernel state name.
    pub state: String,
    /// Number of sockets.
    pub count: i64,
}

/// `process_fds`: file descriptors per process.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProcessFds {
    /// Processes with the most open descriptors first.
    pub processes: Vec<ProcessFd>,
}

/// One process's descriptor usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFd {
    /// Process id.
    pub pid: u32,
    /// Command name (`/proc/PID/comm`).
    pub name: String,
    /// Open descriptors.
    pub open_fds: i64,
    /// Soft RLIMIT_NOFILE; null when unlimited or unknown.
    pub fd_limit: Option<i64>,
    /// Descriptors that are sockets.
    pub sockets: i64,
}

/// `conntrack`: the netfilter connection-tracking table.
///
/// Scalars are null when the source does not show them (e.g. `conntrack -S`
/// has no `max`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conntrack {
    /// Entries in the table.
    pub count: Option<i64>,
    /// `nf_conntrack_max`.
    pub max: Option<i64>,
    /// Entries per protocol (`tcp`, `udp`, `icmp`).
    #[serde(default)]
    pub by_proto: BTreeMap<String, i64>,
    /// TCP entries per conntrack TCP state.
    #[serde(default)]
    pub tcp_states: BTreeMap<String, i64>,
    /// Packets dropped because the table was full (sum over CPUs).
    pub drops: Option<i64>,
    /// Failed inserts (sum over CPUs).
    pub insert_failed: Option<i64>,
    /// Timeout sysctls in seconds, by name without the `nf_conntrack_` prefix.
    #[serde(default)]
    pub timeouts: BTreeMap<String, i64>,
}

/// `net_counters`: kernel SNMP/netstat counters as deltas over a window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetCounters {
    /// Window length in seconds.
    pub interval_s: f64,
    /// Delta per nstat name (e.g. `TcpExtListenOverflows`, `TcpRetransSegs`).
    pub deltas: BTreeMap<String, i64>,
}

/// `dns_lookups`: timed lookups through the resolver rules.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DnsLookups {
    /// The resolver configuration the lookups followed. The probe always
    /// sends it; a pasted `dig` or `curl` without resolv.conf has none, and
    /// its settings are then unknown rather than glibc's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<ResolvConf>,
    /// One entry per looked-up name.
    pub lookups: Vec<DnsLookup>,
}

/// The parts of resolv.conf that shape lookups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvConf {
    /// Nameserver addresses in order.
    pub nameservers: Vec<String>,
    /// Search domains in order.
    #[serde(default)]
    pub search: Vec<String>,
    /// `options ndots:N` (glibc caps it at 15).
    pub ndots: i64,
    /// `options timeout:N` per query, seconds.
    pub timeout_s: f64,
    /// `options attempts:N`.
    pub attempts: i64,
}

impl Default for ResolvConf {
    /// glibc defaults.
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout_s: 5.0,
            attempts: 2,
        }
    }
}

/// One timed name resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsLookup {
    /// The name as asked; a trailing dot means absolute (no search list).
    pub name: String,
    /// Wall time of the whole resolution, all queries included.
    pub elapsed_ms: f64,
    /// Whether an address came back.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// Names actually queried, in order (shows the search-list penalty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<String>,
}

/// `tls_handshake`: what a TLS server presents and accepts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TlsHandshake {
    /// `host:port` dialled.
    pub target: String,
    /// Server name sent; null when none was sent.
    pub sni: Option<String>,
    /// Whether each version (see [`TLS_VERSIONS`]) completed a handshake.
    pub versions: BTreeMap<String, bool>,
    /// Certificates in the order the server sent them (leaf first).
    pub chain: Vec<CertInfo>,
    /// Verification outcome (see [`TLS_VERIFY_RESULTS`], or `other: …`).
    pub verify: String,
}

/// One served certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Subject equals issuer.
    pub self_signed: bool,
}

/// `conn_lifetimes`: how long held connections live and how they end.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConnLifetimes {
    /// `host:port` dialled.
    pub target: String,
    /// True when no traffic was sent on the connections.
    pub idle: bool,
    /// One entry per held connection.
    pub connections: Vec<ConnLifetime>,
}

/// One held connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnLifetime {
    /// Seconds from connect to end (or to the end of the watch).
    pub duration_s: f64,
    /// How it ended.
    pub ended_by: EndedBy,
}

/// How a held connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The peer (or a middlebox) sent a reset.
    Rst,
    /// The peer closed cleanly.
    Fin,
    /// Our own read/keepalive timed out.
    Timeout,
    /// Still open when the watch ended.
    Open,
}

/// `http_latency`: raw request samples.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HttpLatency {
    /// URL sampled.
    pub target: String,
    /// `[unix_ms, latency_ms, status]` triples; status 0 means transport error.
    pub samples: Vec<LatencySample>,
    /// Requests sent on purpose after the probe stayed silent a while,
    /// spaced past a backend's idle keep-alive as the probe measured it
    /// (`idle_after_s`): what a proxy's pooled connections see after a
    /// quiet spell, which steady sampling keeps warm and hides. Optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle_samples: Vec<IdleSample>,
    /// The backend idle keep-alive the gaps were set from, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_after_s: Option<f64>,
}

/// One request sent after a deliberate silence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdleSample {
    /// Seconds of silence before it (end of the previous answer to this request).
    pub gap_s: f64,
    /// When it was sent, unix ms.
    pub at: i64,
    /// Latency, ms.
    pub latency_ms: f64,
    /// HTTP status; 0 is a transport error.
    pub status: i64,
}

/// `[unix_ms, latency_ms, status]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySample(pub i64, pub f64, pub i64);

/// `keepalive`: when a server closes an idle keep-alive connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Keepalive {
    /// URL dialled.
    pub target: String,
    /// Seconds of idleness before the server closed; null = not within the wait.
    pub closed_idle_after_s: Option<f64>,
    /// How long the probe waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_s: Option<f64>,
    /// When each of the idle connections the probe held was closed (it
    /// holds several; `closed_idle_after_s` is the first). Optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closes_s: Vec<f64>,
}

/// `pmtu`: DF-set probes of increasing size.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pmtu {
    /// Host probed.
    pub target: String,
    /// MTU of the interface the route leaves through.
    pub iface_mtu: Option<i64>,
    /// One entry per probe size (IP packet size in bytes).
    pub probes: Vec<PmtuProbe>,
}

/// One DF-set probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmtuProbe {
    /// IP packet size in bytes.
    pub size: i64,
    /// Whether an answer came back.
    pub ok: bool,
}

/// `nat_rules`: source NAT as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NatRules {
    /// Source CIDRs of MASQUERADE rules.
    pub masquerade_sources: Vec<String>,
    /// Pod CIDRs when known.
    #[serde(default)]
    pub pod_cidrs: Vec<String>,
}

/// `interfaces`: network interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interfaces {
    /// One entry per interface.
    pub interfaces: Vec<Interface>,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Name, e.g. `eth0`.
    pub name: String,
    /// MTU in bytes.
    pub mtu: i64,
    /// Administratively and operationally up.
    pub up: bool,
    /// Link kind when known (`veth`, `tun`, `wireguard`, `bridge`, `loopback`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `connect_attempts`: repeated connects per target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectAttempts {
    /// One entry per target.
    pub targets: Vec<ConnectTarget>,
}

/// Connect results towards one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectTarget {
    /// `host:port`.
    pub addr: String,
    /// Connects tried.
    pub attempts: i64,
    /// Connects that succeeded.
    pub ok: i64,
    /// Connects refused (RST to SYN).
    pub refused: i64,
    /// Connects that timed out.
    pub timeout: i64,
    /// Wall-clock times (unix ms) of the refusals.
    #[serde(default)]
    pub refused_at: Vec<i64>,
}

/// `log_matches`: known error patterns counted in a log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogMatches {
    /// Log file read.
    pub source: String,
    /// Count per pattern.
    pub patterns: Vec<PatternCount>,
}

/// Occurrences of one pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternCount {
    /// The pattern text.
    pub pattern: String,
    /// Lines that matched.
    pub count: i64,
}

/// `k8s_pods`: pod facts from `kubectl get pods -o json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct K8sPods {
    /// One entry per pod.
    pub pods: Vec<K8sPod>,
}

/// One pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sPod {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Container restarts summed over containers.
    pub restarts: i64,
    /// Last termination reason of any container (e.g. `OOMKilled`, `Error`).
    pub last_terminated_reason: Option<String>,
    /// Pod Ready condition.
    pub ready: bool,
    /// Every container has a readiness probe.
    pub has_readiness_probe: bool,
    /// Every container has a preStop hook.
    pub has_pre_stop: bool,
    /// `dnsConfig` ndots when set.
    pub dns_ndots: Option<i64>,
}

/// `config_facts`: configuration values by dotted name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigFacts {
    /// e.g. `proxy.upstream_keepalive_timeout_s` → 60.
    pub facts: BTreeMap<String, Value>,
    /// Where the facts were read: a file, `nginx -T` output, or `stated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Names of facts an operator stated (`--fact`) rather than the probe
    /// read from configuration. Servers that predate it ignore the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stated: Vec<String>,
}

/// An observation of a kind this version does not know, kept verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownObservation {
    /// Its `kind`.
    pub kind: String,
    /// The whole JSON object, `kind` included.
    pub raw: Value,
}

/// Declares [`Observation`] once: variants, kind names and (de)serialization
/// stay in step.
macro_rules! observations {
    ($( $(#[$doc:meta])* $variant:ident($ty:ident) = $kind:literal, )*) => {
        /// One piece of evidence, tagged by `kind` on the wire.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Observation {
            $( $(#[$doc])* $variant($ty), )*
            /// A kind unknown to this version, kept raw.
            Unknown(UnknownObservation),
        }

        /// Every kind this version knows, in the wire format's order.
        pub const KNOWN_KINDS: &[&str] = &[$($kind),*];

        impl Observation {
            /// The wire `kind`.
            pub fn kind(&self) -> &str {
                match self {
                    $( Observation::$variant(_) => $kind, )*
                    Observation::Unknown(u) => &u.kind,
                }
            }
        }

        impl Serialize for Observation {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Observation::$variant(body) => Tagged { kind: $kind, body }.serialize(s), )*
                    Observation::Unknown(u) => u.raw.serialize(s),
                }
            }
        }

        impl<'de> Deserialize<'de> for Observation {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = Value::deserialize(d)?;
                let kind = match raw.get("kind") {
                    Some(Value::String(k)) => k.clone(),
                    Some(_) => return Err(D::Error::custom("kind: must be a string")),
                    None => return Err(D::Error::missing_field("kind")),
                };
                match kind.as_str() {
                    $( $kind => typed(raw).map(Observation::$variant).map_err(D::Error::custom), )*
                    _ => Ok(Observation::Unknown(UnknownObservation { kind, raw })),
                }
            }
        }

        $(
            impl From<$ty> for Observation {
                fn from(o: $ty) -> Self {
                    Observation::$variant(o)
                }
            }
        )*
    };
}

observations! {
    /// Socket counts per TCP state.
    TcpStates(TcpStates) = "tcp_states",
    /// Descriptors per process.
    ProcessFds(ProcessFds) = "process_fds",
    /// Connection-tracking table.
    Conntrack(Conntrack) = "conntrack",
    /// Counter deltas.
    NetCounters(NetCounters) = "net_counters",
    /// Timed DNS lookups.
    DnsLookups(DnsLookups) = "dns_lookups",
    /// TLS handshake facts.
    TlsHandshake(TlsHandshake) = "tls_handshake",
    /// Held-connection lifetimes.
    ConnLifetimes(ConnLifetimes) = "conn_lifetimes",
    /// HTTP latency samples.
    HttpLatency(HttpLatency) = "http_latency",
    /// Idle keep-alive close time.
    Keepalive(Keepalive) = "keepalive",
    /// Path MTU probes.
    Pmtu(Pmtu) = "pmtu",
    /// Source NAT rules.
    NatRules(NatRules) = "nat_rules",
    /// Network interfaces.
    Interfaces(Interfaces) = "interfaces",
    /// Connect attempts.
    ConnectAttempts(ConnectAttempts) = "connect_attempts",
    /// Log pattern counts.
    LogMatches(LogMatches) = "log_matches",
    /// Kubernetes pod facts.
    K8sPods(K8sPods) = "k8s_pods",
    /// Configuration facts.
    ConfigFacts(ConfigFacts) = "config_facts",
}

/// Serializes a known observation as `{"kind": …, ...fields}`.
#[derive(Serialize)]
struct Tagged<'a, T> {
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Deserializes a known kind's body, naming the inner path on failure.
fn typed<T: serde::de::DeserializeOwned>(raw: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// A report that failed to parse or validate, with the JSON path of the bad field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Dotted JSON path such as `observations[2].counts.ESTABLISHED`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SchemaError {}

impl Report {
    /// A new empty report stamped now, with a fresh `report_id`.
    pub fn new(collector: Collector) -> Self {
        let now = Utc::now();
        Report {
            schema: SCHEMA_V1.to_string(),
            report_id: Uuid::new_v4(),
            collector,
            started_at: now,
            finished_at: now,
            observations: Vec::new(),
            skipped: Vec::new(),
            source: None,
        }
    }

    /// Parses JSON and validates it; every error names its JSON path.
    pub fn from_json(bytes: &[u8]) -> Result<Report, Vec<SchemaError>> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let report: Report = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // The path already says where; drop serde_json's "at line 1 column 175".
            let suffix = format!(" at line {} column {}", inner.line(), inner.column());
            let message = inner.to_string();
            let message = message
                .strip_suffix(&suffix)
                .unwrap_or(&message)
                .to_string();
            let (path, message) = split_inner_path(path, message);
            let path = name_missing_field(path, &message);
            vec![SchemaError { path, message }]
        })?;
        // One report and nothing after it (the fuzzer found `{…} garbage`
        // accepted here while the server's syntax check refused it).
        de.end().map_err(|e| {
            vec![SchemaError {
                path: String::new(),
                message: format!(
                    "unexpected data after the report at line {} column {}",
                    e.line(),
                    e.column()
                ),
            }]
        })?;
        report.validate()?;
        Ok(report)
    }

    /// Checks what the types cannot: schema name, state names, signs, ranges.
    pub fn validate(&self) -> Result<(), Vec<SchemaError>> {
        let mut c = Checker::default();
        if self.schema != SCHEMA_V1 {
            c.err("schema", format!("must be \"{SCHEMA_V1}\""));
        }
        if self.collector.name.trim().is_empty() {
            c.err("collector.name", "must not be empty");
        }
        if self.finished_at < self.started_at {
            c.err("finished_at", "must not be before started_at");
        }
        for (i, o) in self.observations.iter().enumerate() {
            validate_observation(&mut c, &format!("observations[{i}]"), o);
        }
        for (i, s) in self.skipped.iter().enumerate() {
            if s.kind.is_empty() {
                c.err(format!("skipped[{i}].kind"), "must not be empty");
            }
        }
        if c.errors.is_empty() {
            Ok(())
        } else {
            Err(c.errors)
        }
    }
}

/// Joins an outer serde path with the inner one [`typed`] put in the message,
/// so errors read `observations[1].samples[0]: …` rather than two halves.
fn split_inner_path(outer: String, message: String) -> (String, String) {
    let outer = if outer == "." { String::new() } else { outer };
    // serde_path_to_error prefixes inner paths of custom errors with nothing;
    // typed() formats them as "inner.path: message".
    match message.split_once(": ") {
        Some((inner, rest)) if looks_like_path(inner) => {
            let sep = if inner.starts_with('[') { "" } else { "." };
            (format!("{outer}{sep}{inner}"), rest.to_string())
        }
        _ => (outer, message),
    }
}

/// serde reports a missing field at the object that lacks it; the path
/// names the field itself, so a 422's `field` says which one to add.
fn name_missing_field(path: String, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'));
    match missing {
        Some(field) if path.is_empty() => field.to_owned(),
        Some(field) => format!("{path}.{field}"),
        None => path,
    }
}

fn looks_like_path(s: &str) -> bool {
    !s.is_empty()
        && !s.contains(' ')
        && s.chars()
            .all(|c| c.is_alphanumeric() || "._[]-/".contains(c))
}

#[derive(Default)]
struct Checker {
    errors: Vec<SchemaError>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SchemaError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn non_negative(&mut self, path: impl Into<String>, n: i64) {
        if n < 0 {
            self.err(path, "must be >= 0");
        }
    }

    fn non_negative_f(&mut self, path: impl Into<String>, x: f64) {
        if !x.is_finite() || x < 0.0 {
            self.err(path, "must be a finite number >= 0");
        }
    }

    fn http_status(&mut self, path: impl Into<String>, status: i64) {
        if status != 0 && !(100..=599).contains(&status) {
            self.err(path, "status must be 0 or 100..=599");
        }
    }

    fn tcp_state(&mut self, path: impl Into<String>, state: &str) {
        if !TCP_STATES.contains(&state) {
            self.err(
                path,
                format!("unknown TCP state \"{state}\" (expected one of {TCP_STATES:?})"),
            );
        }
    }

    fn cidr(&mut self, path: impl Into<String>, s: &str) {
        if !is_cidr(s) {
            self.err(path, format!("\"{s}\" is not a CIDR such as 10.0.0.0/8"));
        }
    }
}

/// `a.b.c.d/len` or `v6/len`, or a bare address.
pub fn is_cidr(s: &str) -> bool {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    len.is_none_or(|l| l.parse::<u8>().is_ok_and(|n| n <= max))
}

fn validate_observation(c: &mut Checker, p: &str, o: &Observation) {
    match o {
        Observation::TcpStates(t) => validate_tcp_states(c, p, t),
        Observation::ProcessFds(f) => validate_process_fds(c, p, f),
        Observation::Conntrack(t) => validate_conntrack(c, p, t),
        Observation::NetCounters(n) => c.non_negative_f(format!("{p}.interval_s"), n.interval_s),
        Observation::DnsLookups(d) => validate_dns(c, p, d),
        Observation::TlsHandshake(t) => validate_tls(c, p, t),
        Observation::ConnLifetimes(l) => {
            for (i, conn) in l.connections.iter().enumerate() {
                c.non_negative_f(format!("{p}.connections[{i}].duration_s"), conn.duration_s);
            }
        }
        Observation::HttpLatency(h) => validate_latency(c, p, h),
        Observation::Keepalive(k) => {
            if let Some(s) = k.closed_idle_after_s {
                c.non_negative_f(format!("{p}.closed_idle_after_s"), s);
            }
            for (i, s) in k.closes_s.iter().enumerate() {
                c.non_negative_f(format!("{p}.closes_s[{i}]"), *s);
            }
        }
        Observation::Pmtu(m) => validate_pmtu(c, p, m),
        Observation::NatRules(n) => {
            for (i, s) in n.masquerade_sources.iter().enumerate() {
                c.cidr(format!("{p}.masquerade_sources[{i}]"), s);
            }
            for (i, s) in n.pod_cidrs.iter().enumerate() {
                c.cidr(format!("{p}.pod_cidrs[{i}]"), s);
            }
        }
        Observation::Interfaces(f) => {
            for (i, itf) in f.interfaces.iter().enumerate() {
                c.non_negative(format!("{p}.interfaces[{i}].mtu"), itf.mtu);
            }
        }
        Observation::ConnectAttempts(a) => validate_connects(c, p, a),
        Observation::LogMatches(l) => {
            for (i, m) in l.patterns.iter().enumerate() {
                c.non_negative(format!("{p}.patterns[{i}].count"), m.count);
            }
        }
        Observation::K8sPods(k) => validate_pods(c, p, k),
        Observation::ConfigFacts(_) | Observation::Unknown(_) => {}
    }
}

fn validate_tcp_states(c: &mut Checker, p: &str, t: &TcpStates) {
    state_counts(c, &format!("{p}.counts"), &t.counts);
    for (i, peer) in t.by_peer.iter().enumerate() {
        c.tcp_state(format!("{p}.by_peer[{i}].state"), &peer.state);
        c.non_negative(format!("{p}.by_peer[{i}].count"), peer.count);
    }
    for (i, state) in t.counted.iter().flatten().enumerate() {
        c.tcp_state(format!("{p}.counted[{i}]"), state);
    }
    if let Some(w) = &t.window {
        validate_window(c, &format!("{p}.window"), w);
    }
    if let Some(n) = &t.netns {
        if n.inode == 0 {
            c.err(
                format!("{p}.netns.inode"),
                "must be the namespace's inode (> 0)",
            );
        }
        if let Some(via) = &n.read_via
            && !NETNS_READ_VIA.contains(&via.as_str())
        {
            c.err(
                format!("{p}.netns.read_via"),
                format!("must be one of {NETNS_READ_VIA:?}"),
            );
        }
    }
    for (i, proc_) in t.by_process.iter().enumerate() {
        let q = format!("{p}.by_process[{i}]");
        state_counts(c, &format!("{q}.counts"), &proc_.counts);
        for (j, peer) in proc_.by_peer.iter().enumerate() {
            c.tcp_state(format!("{q}.by_peer[{j}].state"), &peer.state);
            c.non_negative(format!("{q}.by_peer[{j}].count"), peer.count);
        }
    }
}

fn validate_window(c: &mut Checker, p: &str, w: &TcpWindow) {
    c.non_negative(format!("{p}.samples"), w.samples);
    c.non_negative_f(format!("{p}.seconds"), w.seconds);
    for (name, map) in [
        ("first", &w.first),
        ("min", &w.min),
        ("max", &w.max),
        ("persistent", &w.persistent),
    ] {
        state_counts(c, &format!("{p}.{name}"), map);
    }
}

/// A map of state name to count: known names, no negative counts.
fn state_counts(c: &mut Checker, p: &str, counts: &BTreeMap<String, i64>) {
    for (state, n) in counts {
        let path = format!("{p}.{state}");
        c.tcp_state(path.clone(), state);
        c.non_negative(path, *n);
    }
}

fn validate_process_fds(c: &mut Checker, p: &str, f: &ProcessFds) {
    for (i, proc_) in f.processes.iter().enumerate() {
        let q = format!("{p}.processes[{i}]");
        c.non_negative(format!("{q}.open_fds"), proc_.open_fds);
        c.non_negative(format!("{q}.sockets"), proc_.sockets);
        if let Some(l) = proc_.fd_limit {
            c.non_negative(format!("{q}.fd_limit"), l);
        }
    }
}

fn validate_conntrack(c: &mut Checker, p: &str, t: &Conntrack) {
    let scalars = [
        ("count", t.count),
        ("max", t.max),
        ("drops", t.drops),
        ("insert_failed", t.insert_failed),
    ];
    for (name, v) in scalars {
        if let Some(n) = v {
            c.non_negative(format!("{p}.{name}"), n);
        }
    }
    for (map, name) in [(&t.by_proto, "by_proto"), (&t.tcp_states, "tcp_states")] {
        for (k, n) in map {
            c.non_negative(format!("{p}.{name}.{k}"), *n);
        }
    }
    for (k, n) in &t.timeouts {
        c.non_negative(format!("{p}.timeouts.{k}"), *n);
    }
}

fn validate_dns(c: &mut Checker, p: &str, d: &DnsLookups) {
    if let Some(r) = &d.resolv_conf {
        validate_resolv_conf(c, p, r);
    }
    for (i, l) in d.lookups.iter().enumerate() {
        if l.name.is_empty() {
            c.err(format!("{p}.lookups[{i}].name"), "must not be empty");
        }
        c.non_negative_f(format!("{p}.lookups[{i}].elapsed_ms"), l.elapsed_ms);
    }
}

fn validate_resolv_conf(c: &mut Checker, p: &str, r: &ResolvConf) {
    if !(0..=15).contains(&r.ndots) {
        c.err(format!("{p}.resolv_conf.ndots"), "must be between 0 and 15");
    }
    if !r.timeout_s.is_finite() || r.timeout_s <= 0.0 {
        c.err(format!("{p}.resolv_conf.timeout_s"), "must be > 0");
    }
    if !(1..=5).contains(&r.attempts) {
        c.err(
            format!("{p}.resolv_conf.attempts"),
            "must be between 1 and 5",
        );
    }
    for (i, ns) in r.nameservers.iter().enumerate() {
        if ns.parse::<IpAddr>().is_err() {
            c.err(
                format!("{p}.resolv_conf.nameservers[{i}]"),
                format!("\"{ns}\" is not an IP address"),
            );
        }
    }
}

fn validate_tls(c: &mut Checker, p: &str, t: &TlsHandshake) {
    for v in t.versions.keys() {
        if !TLS_VERSIONS.contains(&v.as_str()) {
            c.err(
                format!("{p}.versions.{v}"),
                format!("unknown TLS version (expected one of {TLS_VERSIONS:?})"),
            );
        }
    }
    let known = TLS_VERIFY_RESULTS.contains(&t.verify.as_str());
    if !known && !t.verify.starts_with("other: ") {
        c.err(
            format!("{p}.verify"),
            format!("must be one of {TLS_VERIFY_RESULTS:?} or start with \"other: \""),
        );
    }
}

fn validate_latency(c: &mut Checker, p: &str, h: &HttpLatency) {
    for (i, LatencySample(at, ms, status)) in h.samples.iter().enumerate() {
        let q = format!("{p}.samples[{i}]");
        c.non_negative(format!("{q}[0]"), *at);
        c.non_negative_f(format!("{q}[1]"), *ms);
        c.http_status(format!("{q}[2]"), *status);
    }
    for (i, s) in h.idle_samples.iter().enumerate() {
        let q = format!("{p}.idle_samples[{i}]");
        c.non_negative_f(format!("{q}.gap_s"), s.gap_s);
        c.non_negative(format!("{q}.at"), s.at);
        c.non_negative_f(format!("{q}.latency_ms"), s.latency_ms);
        c.http_status(format!("{q}.status"), s.status);
    }
    if let Some(s) = h.idle_after_s {
        c.non_negative_f(format!("{p}.idle_after_s"), s);
    }
}

fn validate_pmtu(c: &mut Checker, p: &str, m: &Pmtu) {
    if let Some(mtu) = m.iface_mtu {
        c.non_negative(format!("{p}.iface_mtu"), mtu);
    }
    for (i, probe) in m.probes.iter().enumerate() {
        if !(28..=65535).contains(&probe.size) {
            c.err(
                format!("{p}.probes[{i}].size"),
                "must be between 28 and 65535",
            );
        }
    }
}

fn validate_connects(c: &mut Checker, p: &str, a: &ConnectAttempts) {
    for (i, t) in a.targets.iter().enumerate() {
        let q = format!("{p}.targets[{i}]");
        for (name, n) in [
            ("attempts", t.attempts),
            ("ok", t.ok),
            ("refused", t.refused),
            ("timeout", t.timeout),
        ] {
            c.non_negative(format!("{q}.{name}"), n);
        }
        if t.ok + t.refused + t.timeout > t.attempts {
            c.err(format!("{q}.attempts"), "must be >= ok + refused + timeout");
        }
    }
}

fn validate_pods(c: &mut Checker, p: &str, k: &K8sPods) {
    for (i, pod) in k.pods.iter().enumerate() {
        c.non_negative(format!("{p}.pods[{i}].restarts"), pod.restarts);
        if let Some(n) = pod.dns_ndots
            && !(0..=15).contains(&n)
        {
            c.err(
                format!("{p}.pods[{i}].dns_ndots"),
                "must be between 0 and 15",
            );
        }
    }
}

#[cfg(test)]
mod tests;
