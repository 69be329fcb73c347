//! Evidence from the Prometheus a team already runs: the series
//! node_exporter exports, read as the observations `faultline-probe` makes
//! (DESIGN §3), so the same signals, playbooks, charts and next steps apply.
//! Pure: building the query, reading Prometheus's answer and mapping series
//! to a v1 report. The HTTP side is `crate::prometheus`.
//!
//! [`MAPPINGS`] is the one table of what each metric becomes (the README's
//! table is checked against it); [`NOT_MAPPED`] says why the rest is left
//! out. A metric that is absent leaves its observation field, and so its
//! signals, unknown: never zero.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use faultline_probe::report::{
    Collector, Conntrack, NetCounters, Observation, Report, Skipped, TCP_STATES, TcpStates,
    TcpWindow,
};
use serde::Deserialize;

/// The `source` of a report pulled from Prometheus, and the collector name
/// its reports are stored under.
pub const SOURCE: &str = "prometheus";

/// How a metric's series over the window is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A gauge, read at one instant of the window: the instant named in
    /// [`Mapping::read_note`] (the observation's worst moment).
    Peak,
    /// A counter: its increase from the first sample in the window to the
    /// last, a reset counted as Prometheus's `increase()` counts it. One
    /// sample is no increase: unknown.
    Increase,
}

/// One metric and what it becomes.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The metric, as node_exporter names it.
    pub metric: &'static str,
    /// The observation field it fills (`kind.field`).
    pub becomes: &'static str,
    pub read: Read,
    /// Which instant or how, in words.
    pub read_note: &'static str,
    /// The signals it feeds.
    pub signals: &'static str,
}

const CONNTRACK_PEAK: &str = "at the instant the table was fullest (entries / limit)";
const TCP_PEAK: &str = "at the instant with the most CLOSE_WAIT and SYN_RECV sockets";
const OVER_WINDOW: &str = "over the window";

/// What each metric becomes: the one mapping table.
pub const MAPPINGS: &[Mapping] = &[
    Mapping {
        metric: "node_nf_conntrack_entries",
        becomes: "conntrack.count",
        read: Read::Peak,
        read_note: CONNTRACK_PEAK,
        signals: "conntrack.count, conntrack.fill",
    },
    Mapping {
        metric: "node_nf_conntrack_entries_limit",
        becomes: "conntrack.max",
        read: Read::Peak,
        read_note: CONNTRACK_PEAK,
        signals: "conntrack.max, conntrack.fill",
    },
    Mapping {
        metric: "node_nf_conntrack_stat_drop",
        becomes: "conntrack.drops",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "conntrack.drops",
    },
    Mapping {
        metric: "node_nf_conntrack_stat_insert_failed",
        becomes: "conntrack.insert_failed",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "conntrack.insert_failed",
    },
    Mapping {
        metric: "node_netstat_TcpExt_ListenOverflows",
        becomes: "net_counters.deltas.TcpExtListenOverflows",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "counters.listen_overflows",
    },
    Mapping {
        metric: "node_netstat_TcpExt_ListenDrops",
        becomes: "net_counters.deltas.TcpExtListenDrops",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "counters.listen_drops",
    },
    Mapping {
        metric: "node_netstat_TcpExt_SyncookiesSent",
        becomes: "net_counters.deltas.TcpExtSyncookiesSent",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "counters.syncookies_sent",
    },
    Mapping {
        metric: "node_netstat_Tcp_RetransSegs",
        becomes: "net_counters.deltas.TcpRetransSegs",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "counters.retrans_share",
    },
    Mapping {
        metric: "node_netstat_Tcp_OutSegs",
        becomes: "net_counters.deltas.TcpOutSegs",
        read: Read::Increase,
        read_note: OVER_WINDOW,
        signals: "counters.retrans_share",
    },
    Mapping {
        metric: "node_tcp_connection_states",
        becomes: "tcp_states.counts (label `state`, upper-cased)",
        read: Read::Peak,
        read_note: TCP_PEAK,
        signals: "tcp.*_count, tcp.*_share, tcp.syn_recv_share_of_open, tcp.close_wait_share_of_open, tcp.close_wait_growth",
    },
    Mapping {
        metric: "node_sockstat_TCP_tw",
        becomes: "tcp_states.counts.TIME_WAIT (only without node_tcp_connection_states; the other states stay unknown)",
        read: Read::Peak,
        read_note: "at its highest",
        signals: "tcp.time_wait_count",
    },
];

/// Series a team often has that are deliberately not read, with why: each
/// would stand for a measurement it is not, and a made-up zero rules
/// playbooks out.
pub const NOT_MAPPED: &[(&str, &str)] = &[
    (
        "process_open_fds, process_max_fds",
        "the probe's process_fds also counts how many descriptors are sockets, which these do \
         not say; a zero there would argue against a CLOSE_WAIT leak nobody measured",
    ),
    (
        "node_network_mtu_bytes, node_network_up",
        "the probe's interfaces also name each link's kind (tunnel or not), which node_exporter \
         does not export; iface.tunnels would read 0",
    ),
    (
        "probe_dns_lookup_time_seconds, probe_tls_version_info, probe_ssl_last_chain_info \
         (blackbox_exporter)",
        "one lookup time per probe and the version that was agreed: the dns and tls signals \
         (search-list penalty, versions refused, chain length) need what blackbox does not record",
    ),
    (
        "HTTP latency histograms",
        "quantiles of buckets, not requests: http_latency holds request samples and its signals \
         (the rhythm of slow requests) need them",
    ),
];

/// States `node_tcp_connection_states` reports besides socket states.
const TCPSTAT_EXTRA: [&str; 2] = ["rx_queued_bytes", "tx_queued_bytes"];

/// Points a series may have: the step is chosen to stay under it.
pub const MAX_POINTS: i64 = 240;
/// Series an answer may hold; more are left out (and said so).
pub const MAX_SERIES: usize = 500;

// ---- The target ----------------------------------------------------------------------

/// Whose series to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One exporter: an exact `instance` label (`host:9100`).
    Instance(String),
    /// Every exporter on a host: `instance` is `HOST` or `HOST:PORT`.
    Host(String),
    /// A Kubernetes pod's series (`pod`, and `namespace` when known).
    Pod {
        namespace: Option<String>,
        name: String,
    },
}

/// `host:port` → `host` (`[::1]:9100` → `[::1]`); anything else unchanged.
pub fn host_of(instance: &str) -> &str {
    if let Some(rest) = instance.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        return &instance[..end + 2];
    }
    match instance.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains(':')
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => instance,
    }
}

impl Target {
    /// The target an alert's or incident's labels name: the host of its
    /// `instance` (so node_exporter's series are read whatever exporter
    /// the alert came from), else `host`, else `node`, else `pod` (with
    /// `namespace`). `None` when they name none.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<Target> {
        let get = |k: &str| labels.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(i) = get("instance") {
            return Some(Target::Host(host_of(i).to_owned()));
        }
        if let Some(h) = get("host").or_else(|| get("node")) {
            return Some(Target::Host(h.to_owned()));
        }
        get("pod").map(|p| Target::Pod {
            namespace: get("namespace").map(str::to_owned),
            name: p.to_owned(),
        })
    }

    /// The PromQL label matchers (without braces).
    pub fn matchers(&self) -> String {
        match self {
            Target::Instance(i) => format!("instance={}", quote(i)),
            Target::Host(h) => format!(
                "instance=~{}",
                quote(&format!("{}(:[0-9]+)?", regex_escape(h)))
            ),
            Target::Pod { namespace, name } => {
                let mut m = format!("pod={}", quote(name));
                if let Some(ns) = namespace {
                    m += &format!(",namespace={}", quote(ns));
                }
                m
            }
        }
    }

    /// The host the report is about.
    pub fn host(&self) -> String {
        match self {
            Target::Instance(i) => host_of(i).to_owned(),
            Target::Host(h) => h.clone(),
            Target::Pod { name, .. } => name.clone(),
        }
    }

    /// For messages: `instance="node-1:9100"`.
    pub fn describe(&self) -> String {
        self.matchers()
    }
}

/// A PromQL string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` matched literally in an RE2 regular expression.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The one range query a pull sends: every mapped metric of the target.
pub fn query(target: &Target) -> String {
    let names: BTreeSet<&str> = MAPPINGS.iter().map(|m| m.metric).collect();
    let names: Vec<&str> = names.into_iter().collect();
    format!(
        "{{__name__=~{},{}}}",
        quote(&names.join("|")),
        target.matchers()
    )
}

// ---- The window ----------------------------------------------------------------------

/// The time range a pull reads, and its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Seconds between points: at most [`MAX_POINTS`] per series, at least 1.
    pub step_s: i64,
}

impl Window {
    /// `before` seconds before `at` to `after` seconds after it, but not
    /// past `now` (an alert that just fired has no after yet).
    pub fn around(
        at: DateTime<Utc>,
        before_s: i64,
        after_s: i64,
        now: DateTime<Utc>,
    ) -> Result<Window, String> {
        if before_s < 0 || after_s < 0 {
            return Err("the window cannot be negative".into());
        }
        let start = at - chrono::Duration::seconds(before_s);
        let end = (at + chrono::Duration::seconds(after_s)).min(now);
        if end <= start {
            return Err(format!(
                "the window {} to {} is empty or in the future",
                start.to_rfc3339(),
                end.to_rfc3339()
            ));
        }
        let span = (end - start).num_seconds().max(1);
        let step_s = ((span + MAX_POINTS - 1) / MAX_POINTS).max(1);
        Ok(Window { start, end, step_s })
    }

    pub fn seconds(&self) -> f64 {
        (self.end - self.start).num_milliseconds() as f64 / 1000.0
    }
}

/// Reads `15m`, `90s`, `2h`, `1d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 15m, 90s or 2h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: use s, m, h or d")),
    };
    n.checked_mul(factor)
        .filter(|v| *v <= 7 * 86_400)
        .ok_or_else(|| format!("{s:?} is longer than 7 days"))
}

/// Reads an RFC 3339 time, a unix time in seconds, or `now`.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && let Some(t) = Utc.timestamp_millis_opt((secs * 1000.0) as i64).single()
    {
        return Ok(t);
    }
    Err(format!(
        "{s:?} is not a time: give RFC 3339 (2026-11-23T10:00:00Z), unix seconds or now"
    ))
}

// ---- Prometheus's answer ---------------------------------------------------------------

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// (unix ms, value), finite values only, oldest first.
    pub points: Vec<(i64, f64)>,
}

impl Series {
    pub fn name(&self) -> &str {
        self.labels.get("__name__").map_or("", String::as_str)
    }

    fn label(&self, k: &str) -> &str {
        self.labels.get(k).map_or("", String::as_str)
    }
}

/// A range query's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    pub series: Vec<Series>,
    /// Series past [`MAX_SERIES`], left out.
    pub dropped_series: usize,
    /// Prometheus's own warnings.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct RawSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Reads the body of `/api/v1/query_range` (any status code: Prometheus
/// sends its errors in the same envelope). The error completes "Prometheus
/// at URL …" in words an operator can act on.
pub fn parse_matrix(body: &[u8]) -> Result<Matrix, String> {
    let env: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("answered something that is not Prometheus's JSON API ({e})"))?;
    if env.status != "success" {
        return Err(format!(
            "answered an error: {}{}",
            env.error_type.map(|t| format!("{t}: ")).unwrap_or_default(),
            env.error.unwrap_or_else(|| "no message".into())
        ));
    }
    let data = env.data.ok_or("answered success but no data")?;
    if data.result_type != "matrix" {
        return Err(format!(
            "answered resultType {:?}, not a range query's matrix",
            data.result_type
        ));
    }
    let raw: Vec<RawSeries> = serde_json::from_value(data.result)
        .map_err(|e| format!("answered a matrix not in Prometheus's shape ({e})"))?;
    let dropped_series = raw.len().saturating_sub(MAX_SERIES);
    let series = raw
        .into_iter()
        .take(MAX_SERIES)
        .map(|r| Series {
            labels: r.metric,
            points: r
                .values
                .into_iter()
                .take(MAX_POINTS as usize * 2)
                .filter_map(|(t, v)| {
                    let v: f64 = v.parse().ok()?;
                    (v.is_finite() && t.is_finite()).then_some(((t * 1000.0).round() as i64, v))
                })
                .collect(),
        })
        .collect();
    Ok(Matrix {
        series,
        dropped_series,
        warnings: env.warnings,
    })
}

// ---- Series → report -----------------------------------------------------------------

/// What a pull read, as a v1 report with `source = "prometheus"`: the
/// observations the mapped series make, and each kind that could not be
/// made listed under `skipped` with why. `labels` are added to the
/// collector's (the alert's or incident's, for routing).
pub fn to_report(
    matrix: &Matrix,
    target: &Target,
    window: &Window,
    labels: &BTreeMap<String, String>,
) -> Report {
    let instance = chosen_instance(&matrix.series);
    let series: Vec<&Series> = matrix
        .series
        .iter()
        .filter(|s| instance.as_deref().is_none_or(|i| s.label("instance") == i))
        .collect();
    let mut collector_labels = labels.clone();
    collector_labels.insert("source".into(), SOURCE.into());
    if let Some(i) = &instance {
        collector_labels.insert("instance".into(), i.clone());
    }
    let mut report = Report::new(Collector {
        name: SOURCE.into(),
        host: target.host(),
        labels: collector_labels,
    });
    report.source = Some(SOURCE.into());
    report.started_at = window.start;
    report.finished_at = window.end;
    let where_ = format!(
        "{} from {} to {}",
        target.describe(),
        window.start.to_rfc3339(),
        window.end.to_rfc3339()
    );
    let mut skip = |kind: &str, reason: String| {
        report.skipped.push(Skipped {
            kind: kind.into(),
            reason,
        })
    };
    let mut observations = Vec::new();
    match tcp_states(&series) {
        Some(t) => observations.push(Observation::TcpStates(t)),
        None => skip(
            "tcp_states",
            format!(
                "no node_tcp_connection_states (node_exporter --collector.tcpstat) or node_sockstat_TCP_tw series for {where_}"
            ),
        ),
    }
    match conntrack(&series) {
        Some(c) => observations.push(Observation::Conntrack(c)),
        None => skip(
            "conntrack",
            format!(
                "no node_nf_conntrack_* series with two samples for {where_} (conntrack collector off, or no conntrack on the host)"
            ),
        ),
    }
    match net_counters(&series, window) {
        Some(n) => observations.push(Observation::NetCounters(n)),
        None => skip(
            "net_counters",
            format!("no node_netstat_* counter with two samples for {where_}"),
        ),
    }
    if let Some(i) = &instance {
        let others: BTreeSet<&str> = matrix
            .series
            .iter()
            .map(|s| s.label("instance"))
            .filter(|o| o != i)
            .collect();
        if !others.is_empty() {
            skip(
                SOURCE,
                format!(
                    "series of {} left out: {i} was read (it has the most)",
                    others.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    if matrix.dropped_series > 0 {
        skip(
            SOURCE,
            format!(
                "{} series past the cap of {MAX_SERIES} left out",
                matrix.dropped_series
            ),
        );
    }
    for w in &matrix.warnings {
        skip(SOURCE, format!("Prometheus warned: {w}"));
    }
    report.observations = observations;
    report
}

/// The exporter whose series are read: the instance with the most series
/// (node_exporter, when the target matched several exporters of a host).
fn chosen_instance(series: &[Series]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in series {
        *counts.entry(s.label("instance")).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(i, n)| (*n, std::cmp::Reverse(*i)))
        .map(|(i, _)| i.to_owned())
}

fn named<'a>(series: &[&'a Series], name: &str) -> Option<&'a Series> {
    series.iter().copied().find(|s| s.name() == name)
}

/// A counter's increase over its samples; `None` with fewer than two.
pub fn increase(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    Some(
        points
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0].1, w[1].1);
                if b >= a { b - a } else { b }
            })
            .sum(),
    )
}

fn counter(series: &[&Series], name: &str) -> Option<i64> {
    named(series, name)
        .and_then(|s| increase(&s.points))
        .map(|v| v.round() as i64)
}

fn conntrack(series: &[&Series]) -> Option<Conntrack> {
    let entries = named(series, "node_nf_conntrack_entries");
    let limit: BTreeMap<i64, f64> = named(series, "node_nf_conntrack_entries_limit")
        .map(|s| s.points.iter().copied().collect())
        .unwrap_or_default();
    // The fullest instant; with no limit known, the most entries.
    let peak = entries.and_then(|e| {
        e.points
            .iter()
            .map(|(t, n)| {
                let max = limit.get(t).copied().filter(|m| *m > 0.0);
                let key = max.map_or(*n, |m| n / m);
                (key, *t, *n, max)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
    });
    let drops = counter(series, "node_nf_conntrack_stat_drop");
    let insert_failed = counter(series, "node_nf_conntrack_stat_insert_failed");
    if peak.is_none() && drops.is_none() && insert_failed.is_none() {
        return None;
    }
    let max = peak
        .and_then(|p| p.3)
        .or_else(|| limit.values().last().copied());
    Some(Conntrack {
        count: peak.map(|p| p.2.round() as i64),
        max: max.map(|m| m.round() as i64),
        drops,
        insert_failed,
        ..Conntrack::default()
    })
}

/// The nstat name each counter becomes.
const NSTAT: [(&str, &str); 5] = [
    (
        "node_netstat_TcpExt_ListenOverflows",
        "TcpExtListenOverflows",
    ),
    ("node_netstat_TcpExt_ListenDrops", "TcpExtListenDrops"),
    ("node_netstat_TcpExt_SyncookiesSent", "TcpExtSyncookiesSent"),
    ("node_netstat_Tcp_RetransSegs", "TcpRetransSegs"),
    ("node_netstat_Tcp_OutSegs", "TcpOutSegs"),
];

fn net_counters(series: &[&Series], window: &Window) -> Option<NetCounters> {
    let deltas: BTreeMap<String, i64> = NSTAT
        .iter()
        .filter_map(|(metric, nstat)| Some(((*nstat).to_owned(), counter(series, metric)?)))
        .collect();
    (!deltas.is_empty()).then(|| NetCounters {
        interval_s: window.seconds(),
        deltas,
    })
}

/// Socket states per instant from node_exporter's tcpstat collector, which
/// lists only the states that have sockets: at an instant it was scraped
/// (any of its series has a point), a state it did not list had none.
fn tcp_states(series: &[&Series]) -> Option<TcpStates> {
    let stat: Vec<&Series> = series
        .iter()
        .copied()
        .filter(|s| s.name() == "node_tcp_connection_states")
        .collect();
    if stat.is_empty() {
        return time_wait_only(series);
    }
    let mut at: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for s in &stat {
        let state = s.label("state");
        let upper = state.to_ascii_uppercase();
        for (t, v) in &s.points {
            let counts = at
                .entry(*t)
                .or_insert_with(|| TCP_STATES.iter().map(|k| ((*k).to_owned(), 0)).collect());
            if !TCPSTAT_EXTRA.contains(&state) && TCP_STATES.contains(&upper.as_str()) {
                counts.insert(upper.clone(), v.round() as i64);
            }
        }
    }
    let troubled = |c: &BTreeMap<String, i64>| c["CLOSE_WAIT"] + c["SYN_RECV"];
    let (_, peak) = at
        .iter()
        .max_by(|a, b| troubled(a.1).cmp(&troubled(b.1)).then(a.0.cmp(b.0)))?;
    let (first_t, first) = at.iter().next()?;
    let last_t = *at.keys().last()?;
    let fold = |pick: fn(i64, i64) -> i64| -> BTreeMap<String, i64> {
        TCP_STATES
            .iter()
            .map(|k| {
                let v = at.values().map(|c| c[*k]).reduce(pick).unwrap_or(0);
                ((*k).to_owned(), v)
            })
            .collect()
    };
    Some(TcpStates {
        counts: peak.clone(),
        window: Some(TcpWindow {
            samples: at.len() as i64,
            seconds: (last_t - first_t) as f64 / 1000.0,
            first: first.clone(),
            min: fold(i64::min),
            max: fold(i64::max),
            persistent: BTreeMap::new(),
        }),
        ..TcpStates::default()
    })
}

/// Without tcpstat, sockstat's TIME_WAIT count alone: the other states unknown.
fn time_wait_only(series: &[&Series]) -> Option<TcpStates> {
    let tw = named(series, "node_sockstat_TCP_tw")?;
    let most = tw.points.iter().map(|p| p.1).max_by(f64::total_cmp)?;
    Some(TcpStates {
        counts: BTreeMap::from([("TIME_WAIT".to_owned(), most.round() as i64)]),
        counted: Some(vec!["TIME_WAIT".to_owned()]),
        ..TcpStates::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, extra: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
        let mut labels = BTreeMap::from([
            ("__name__".to_owned(), name.to_owned()),
            ("instance".to_owned(), "node-1:9100".to_owned()),
        ]);
        for (k, v) in extra {
            labels.insert((*k).into(), (*v).into());
        }
        Series {
            labels,
            points: points.iter().map(|(t, v)| (t * 1000, *v)).collect(),
        }
    }

    fn window() -> Window {
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        Window::around(at, 600, 600, at).unwrap()
    }

    fn signals(m: Vec<Series>) -> crate::core::signals::Signals {
        let matrix = Matrix {
            series: m,
            ..Matrix::default()
        };
        let r = to_report(
            &matrix,
            &Target::Instance("node-1:9100".into()),
            &window(),
            &BTreeMap::new(),
        );
        crate::core::signals::derive(&r)
    }

    #[test]
    fn host_of_strips_the_port_only() {
        assert_eq!(host_of("node-1:9100"), "node-1");
        assert_eq!(host_of("10.0.0.5:9100"), "10.0.0.5");
        assert_eq!(host_of("[::1]:9100"), "[::1]");
        assert_eq!(host_of("node-1"), "node-1");
        assert_eq!(host_of("fe80::1"), "fe80::1");
        assert_eq!(host_of("http://x/"), "http://x/");
    }

    #[test]
    fn selectors_quote_and_escape_what_labels_hold() {
        assert_eq!(
            Target::Host("10.0.0.5".into()).matchers(),
            r#"instance=~"10\\.0\\.0\\.5(:[0-9]+)?""#
        );
        assert_eq!(
            Target::Instance("a\"b\\c".into()).matchers(),
            r#"instance="a\"b\\c""#
        );
        let pod = Target::Pod {
            namespace: Some("prod".into()),
            name: "api-7".into(),
        };
        assert_eq!(pod.matchers(), r#"pod="api-7",namespace="prod""#);
        let q = query(&Target::Instance("n:9100".into()));
        assert!(q.starts_with("{__name__=~\"node_"), "{q}");
        assert!(q.ends_with(",instance=\"n:9100\"}"), "{q}");
    }

    #[test]
    fn targets_from_labels_prefer_the_instance_host() {
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        assert_eq!(
            Target::from_labels(&l(&[("instance", "web-1:8080"), ("host", "x")])),
            Some(Target::Host("web-1".into()))
        );
        assert_eq!(
            Target::from_labels(&l(&[("node", "n3")])),
            Some(Target::Host("n3".into()))
        );
        assert_eq!(
            Target::from_labels(&l(&[("pod", "api-1"), ("namespace", "prod")])),
            Some(Target::Pod {
                namespace: Some("prod".into()),
                name: "api-1".into()
            })
        );
        assert_eq!(Target::from_labels(&l(&[("alertname", "X")])), None);
    }

    #[test]
    fn windows_stop_at_now_and_keep_points_bounded() {
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let w = Window::around(at, 900, 900, at + chrono::Duration::seconds(60)).unwrap();
        assert_eq!((w.end - w.start).num_seconds(), 960);
        assert_eq!(w.step_s, 4);
        let small = Window::around(at, 60, 0, at).unwrap();
        assert_eq!(small.step_s, 1);
        assert!(Window::around(at, 0, 60, at).is_err(), "nothing yet");
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("90"), Ok(90));
        assert!(parse_duration("15x").is_err());
        assert!(parse_duration("30d").is_err());
        assert_eq!(parse_time("1800000000", at), Ok(at));
        assert_eq!(parse_time("2027-01-15T08:00:00Z", at), Ok(at));
        assert!(parse_time("yesterday", at).is_err());
    }

    #[test]
    fn counters_increase_across_resets() {
        assert_eq!(increase(&[(0, 5.0)]), None);
        assert_eq!(
            increase(&[(0, 5.0), (1, 9.0), (2, 2.0), (3, 4.0)]),
            Some(8.0)
        );
    }

    #[test]
    fn conntrack_full_reads_at_its_fullest_and_drops_over_the_window() {
        let s = signals(vec![
            series(
                "node_nf_conntrack_entries",
                &[],
                &[(0, 100.0), (10, 261_000.0), (20, 5000.0)],
            ),
            series(
                "node_nf_conntrack_entries_limit",
                &[],
                &[(0, 262_144.0), (10, 262_144.0), (20, 262_144.0)],
            ),
            series(
                "node_nf_conntrack_stat_drop",
                &[],
                &[(0, 3.0), (10, 40.0), (20, 40.0)],
            ),
        ]);
        let n = |k: &str| match s.get(k) {
            Some(crate::core::signals::SignalValue::Number(v)) => Some(*v),
            _ => None,
        };
        assert!(n("conntrack.fill").unwrap() > 0.99);
        assert_eq!(n("conntrack.drops"), Some(37.0));
        assert_eq!(n("conntrack.insert_failed"), None, "not sent: unknown");
        assert_eq!(n("conntrack.time_wait_share"), None);
    }

    #[test]
    fn missing_series_leave_signals_unknown_and_say_why() {
        let matrix = Matrix::default();
        let r = to_report(
            &matrix,
            &Target::Instance("node-1:9100".into()),
            &window(),
            &BTreeMap::new(),
        );
        assert!(r.observations.is_empty());
        let kinds: Vec<&str> = r.skipped.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["tcp_states", "conntrack", "net_counters"]);
        assert_eq!(r.source.as_deref(), Some("prometheus"));
        assert!(crate::core::signals::derive(&r).is_empty());
        // One sample of a counter is no increase.
        let s = signals(vec![series(
            "node_netstat_TcpExt_ListenOverflows",
            &[],
            &[(0, 7.0)],
        )]);
        assert!(s.get("counters.listen_overflows").is_none());
    }

    #[test]
    fn tcpstat_lists_only_states_with_sockets_so_the_rest_are_zero_when_scraped() {
        let st = |state: &str, pts: &[(i64, f64)]| {
            series("node_tcp_connection_states", &[("state", state)], pts)
        };
        let s = signals(vec![
            st("established", &[(0, 50.0), (10, 20.0), (20, 48.0)]),
            st("syn_recv", &[(10, 200.0)]),
            st("tx_queued_bytes", &[(0, 0.0), (10, 0.0), (20, 0.0)]),
            series(
                "node_netstat_TcpExt_SyncookiesSent",
                &[],
                &[(0, 0.0), (10, 500.0), (20, 900.0)],
            ),
        ]);
        let n = |k: &str| match s.get(k) {
            Some(crate::core::signals::SignalValue::Number(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(n("tcp.syn_recv_count"), Some(200.0));
        assert!((n("tcp.syn_recv_share_of_open").unwrap() - 200.0 / 220.0).abs() < 1e-9);
        assert_eq!(n("tcp.close_wait_count"), Some(0.0));
        assert_eq!(n("counters.syncookies_sent"), Some(900.0));
        assert_eq!(n("tcp.close_wait_top_peer_share"), None, "no peers listed");
    }

    #[test]
    fn errors_and_odd_answers_say_what_is_wrong() {
        let e = parse_matrix(br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
            .unwrap_err();
        assert_eq!(e, "answered an error: bad_data: parse error");
        assert!(
            parse_matrix(b"<html>")
                .unwrap_err()
                .contains("not Prometheus")
        );
        let v = parse_matrix(br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert!(v.unwrap_err().contains("vector"));
        let ok = parse_matrix(
            br#"{"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"x","instance":"i"},"values":[[1.5,"1"],[2.5,"NaN"],[3.5,"+Inf"]]}]}}"#,
        )
        .unwrap();
        assert_eq!(ok.series[0].points, vec![(1500, 1.0)]);
        assert_eq!(ok.warnings, ["w"]);
    }

    #[test]
    fn the_readme_lists_every_mapped_and_unmapped_metric() {
        let readme = include_str!("../../../README.md");
        for m in MAPPINGS {
            assert!(
                readme.contains(&format!("`{}`", m.metric)),
                "README's Prometheus table lacks {}",
                m.metric
            );
        }
        for (metrics, _) in NOT_MAPPED {
            let first = metrics.split(',').next().unwrap().trim();
            assert!(
                readme.contains(first),
                "README does not say why {first} is not read"
            );
        }
    }
}
