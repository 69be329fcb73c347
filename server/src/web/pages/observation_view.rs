//! Each observation kind shown readably: a chart where one helps, the key
//! facts, tables of the details. Kinds this version does not know are shown
//! raw, as pretty JSON.

use faultline_probe::report::{EndedBy, Observation};

use crate::web::charts::{bars, gauge, latency, lifetime};
use crate::web::units;

/// A table of strings (askama escapes every cell).
pub struct TableView {
    pub caption: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// Rows left out to keep the page short.
    pub more: usize,
}

/// One observation, ready for the template.
pub struct ObservationView {
    pub kind: String,
    pub title: String,
    /// Trusted SVG from `web::charts` (it escapes its own text).
    pub charts: Vec<String>,
    pub facts: Vec<(String, String)>,
    pub tables: Vec<TableView>,
    /// Pretty JSON of a kind this version does not know.
    pub raw: Option<String>,
    /// Where the whole report's JSON is, for tables cut short.
    pub json_link: Option<String>,
    /// What it told the diagnosis ("for close-wait-leak …", "against …");
    /// empty when the diagnosis did not read it, or the page does not say.
    pub uses: Vec<String>,
}

/// Tables longer than this are shown folded.
pub const FOLD_ROWS: usize = 12;

impl TableView {
    /// Whether the table starts folded (long tables hide the rest).
    pub fn folded(&self) -> bool {
        self.rows.len() > FOLD_ROWS
    }
}

/// Rows shown per table.
const ROWS: usize = 50;

pub(super) fn table(
    caption: impl Into<String>,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
) -> TableView {
    let more = rows.len().saturating_sub(ROWS);
    TableView {
        caption: caption.into(),
        headers,
        rows: rows.into_iter().take(ROWS).collect(),
        more,
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn ms(x: f64) -> String {
    format!("{} ms", crate::web::charts::human(x))
}

/// A fact; an empty value reads "none".
pub(super) fn fact(k: &str, v: impl Into<String>) -> (String, String) {
    let v = v.into();
    (
        k.to_owned(),
        if v.trim().is_empty() {
            "none".to_owned()
        } else {
            v
        },
    )
}

fn ended(e: EndedBy) -> &'static str {
    match e {
        EndedBy::Rst => "rst",
        EndedBy::Fin => "fin",
        EndedBy::Timeout => "timeout",
        EndedBy::Open => "open",
    }
}

impl ObservationView {
    fn new(kind: &str, title: impl Into<String>) -> ObservationView {
        ObservationView {
            kind: kind.to_owned(),
            title: title.into(),
            charts: Vec::new(),
            facts: Vec::new(),
            tables: Vec::new(),
            raw: None,
            json_link: None,
            uses: Vec::new(),
        }
    }

    /// The observations the diagnosis used first, each saying for or
    /// against what, then the rest (which a page shows folded).
    pub fn split_by_use(
        mut views: Vec<ObservationView>,
        uses: &std::collections::BTreeMap<&'static str, Vec<String>>,
    ) -> (Vec<ObservationView>, Vec<ObservationView>) {
        for v in &mut views {
            if let Some(u) = uses.get(v.kind.as_str()) {
                v.uses = u.clone();
            }
        }
        views.into_iter().partition(|v| !v.uses.is_empty())
    }

    /// The views of a stored report's observations, linking its JSON.
    pub fn of_stored(observations: &[Observation], json_link: &str) -> Vec<ObservationView> {
        let view = |o| ObservationView {
            json_link: Some(json_link.to_owned()),
            ..ObservationView::of(o)
        };
        observations.iter().map(view).collect()
    }

    /// The view of one observation.
    pub fn of(o: &Observation) -> ObservationView {
        match o {
            Observation::TcpStates(t) => {
                let mut v = ObservationView::new("tcp_states", "TCP sockets by state");
                let counts: Vec<(String, i64)> =
                    t.counts.iter().map(|(k, n)| (k.clone(), *n)).collect();
                v.charts.push(bars::tcp_states(&counts));
                v.facts
                    .push(fact("sockets", t.counts.values().sum::<i64>().to_string()));
                if !t.by_peer.is_empty() {
                    v.tables.push(table(
                        "Top peers",
                        vec!["peer", "state", "sockets"],
                        t.by_peer
                            .iter()
                            .map(|p| vec![p.peer.clone(), p.state.clone(), p.count.to_string()])
                            .collect(),
                    ));
                }
                super::observation_window::netns(&mut v, t);
                super::observation_window::tcp(&mut v, t);
                v
            }
            Observation::ProcessFds(f) => {
                let mut v = ObservationView::new("process_fds", "File descriptors per process");
                v.tables.push(table(
                    "Processes",
                    vec!["pid", "name", "open fds", "limit", "use", "sockets"],
                    f.processes
                        .iter()
                        .map(|p| {
                            let share =
                                p.fd_limit.filter(|l| *l > 0).map_or("—".to_owned(), |l| {
                                    format!("{:.0}%", 100.0 * p.open_fds as f64 / l as f64)
                                });
                            vec![
                                p.pid.to_string(),
                                p.name.clone(),
                                p.open_fds.to_string(),
                                opt(p.fd_limit),
                                share,
                                p.sockets.to_string(),
                            ]
                        })
                        .collect(),
                ));
                v
            }
            Observation::Conntrack(c) => {
                let mut v = ObservationView::new("conntrack", "Connection tracking");
                v.charts.push(gauge::conntrack_fill(c.count, c.max));
                v.facts.extend([
                    fact("entries", opt(c.count)),
                    fact("table size (max)", opt(c.max)),
                    fact("drops", opt(c.drops)),
                    fact("insert failures", opt(c.insert_failed)),
                ]);
                for (name, map) in [
                    ("By protocol", &c.by_proto),
                    ("TCP entries by conntrack state", &c.tcp_states),
                ] {
                    if !map.is_empty() {
                        v.tables.push(table(
                            name,
                            vec!["", "entries"],
                            map.iter()
                                .map(|(k, n)| vec![k.clone(), n.to_string()])
                                .collect(),
                        ));
                    }
                }
                if !c.timeouts.is_empty() {
                    v.tables.push(table(
                        "Timeouts",
                        vec!["timeout", "after"],
                        c.timeouts
                            .iter()
                            .map(|(k, n)| vec![k.clone(), units::seconds(*n as f64)])
                            .collect(),
                    ));
                }
                v
            }
            Observation::NetCounters(n) => {
                let mut v = ObservationView::new("net_counters", "Kernel counters");
                v.facts.push(fact("window", units::seconds(n.interval_s)));
                v.tables.push(table(
                    "Deltas over the window",
                    vec!["counter", "delta", "per second"],
                    n.deltas
                        .iter()
                        .map(|(k, d)| {
                            let rate = if n.interval_s > 0.0 {
                                crate::web::charts::human(*d as f64 / n.interval_s)
                            } else {
                                "—".into()
                            };
                            vec![k.clone(), d.to_string(), rate]
                        })
                        .collect(),
                ));
                v
            }
            Observation::DnsLookups(d) => {
                let mut v = ObservationView::new("dns_lookups", "DNS lookups");
                let lookups: Vec<bars::Lookup> = d
                    .lookups
                    .iter()
                    .map(|l| bars::Lookup {
                        name: l.name.clone(),
                        elapsed_ms: l.elapsed_ms,
                        ok: l.ok,
                    })
                    .collect();
                v.charts.push(bars::dns_lookups(&lookups));
                match &d.resolv_conf {
                    Some(r) => v.facts.extend([
                        fact("nameservers", r.nameservers.join(", ")),
                        fact("search", r.search.join(" ")),
                        fact("ndots", r.ndots.to_string()),
                        fact("timeout", format!("{} s", r.timeout_s)),
                        fact("attempts", r.attempts.to_string()),
                    ]),
                    None => v.facts.push(fact("resolv.conf", "not given".to_string())),
                }
                v.tables.push(table(
                    "Lookups",
                    vec!["name", "time", "result", "names tried"],
                    d.lookups
                        .iter()
                        .map(|l| {
                            vec![
                                l.name.clone(),
                                ms(l.elapsed_ms),
                                if l.ok {
                                    "ok".into()
                                } else {
                                    l.error.clone().unwrap_or_else(|| "failed".into())
                                },
                                l.tried.join(" → "),
                            ]
                        })
                        .collect(),
                ));
                v
            }
            Observation::TlsHandshake(t) => {
                let mut v = ObservationView::new("tls_handshake", format!("TLS at {}", t.target));
                v.facts.extend([
                    fact("SNI", opt(t.sni.as_ref())),
                    fact("verification", t.verify.clone()),
                    fact(
                        "versions",
                        t.versions
                            .iter()
                            .map(|(k, ok)| format!("{k} {}", if *ok { "✓" } else { "✗" }))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    fact("chain length", t.chain.len().to_string()),
                ]);
                v.tables.push(table(
                    "Chain as served (leaf first)",
                    vec!["subject", "issuer", "not after", "self-signed"],
                    t.chain
                        .iter()
                        .map(|c| {
                            vec![
                                c.subject.clone(),
                                c.issuer.clone(),
                                c.not_after.format("%Y-%m-%d %H:%M UTC").to_string(),
                                yes(c.self_signed),
                            ]
                        })
                        .collect(),
                ));
                v
            }
            Observation::ConnLifetimes(l) => {
                let mut v = ObservationView::new(
                    "conn_lifetimes",
                    format!("Connection lifetimes to {}", l.target),
                );
                let lifetimes: Vec<lifetime::Lifetime> = l
                    .connections
                    .iter()
                    .map(|c| lifetime::Lifetime {
                        duration_s: c.duration_s,
                        ended_by: ended(c.ended_by).to_owned(),
                    })
                    .collect();
                // INTEGRATION: the matched timer from the diagnosis can name
                // this marker; until then it shows where most endings cluster.
                let marker = lifetime::dominant_cluster(&lifetimes).map(|at| lifetime::Marker {
                    at_s: at,
                    label: format!("most end at ≈ {} s", crate::web::charts::human(at)),
                });
                v.charts
                    .push(lifetime::histogram(&l.target, &lifetimes, marker.as_ref()));
                v.facts.push(fact("idle", yes(l.idle)));
                v.facts
                    .push(fact("connections", l.connections.len().to_string()));
                for e in [EndedBy::Rst, EndedBy::Fin, EndedBy::Timeout, EndedBy::Open] {
                    let n = l.connections.iter().filter(|c| c.ended_by == e).count();
                    if n > 0 {
                        v.facts
                            .push(fact(&format!("ended by {}", ended(e)), n.to_string()));
                    }
                }
                v
            }
            Observation::HttpLatency(h) => {
                let mut v =
                    ObservationView::new("http_latency", format!("HTTP latency of {}", h.target));
                let samples: Vec<(i64, f64, i64)> =
                    h.samples.iter().map(|s| (s.0, s.1, s.2)).collect();
                v.charts.push(latency::over_time(&h.target, &samples));
                let ms_list: Vec<f64> = samples.iter().map(|s| s.1).collect();
                v.facts.extend([
                    fact("samples", samples.len().to_string()),
                    fact("p50", opt(latency::percentile(&ms_list, 50.0).map(ms))),
                    fact("p99", opt(latency::percentile(&ms_list, 99.0).map(ms))),
                    fact(
                        "errors",
                        samples
                            .iter()
                            .filter(|s| s.2 == 0 || s.2 >= 500)
                            .count()
                            .to_string(),
                    ),
                ]);
                super::observation_window::idle_requests(&mut v, h);
                v
            }
            Observation::Keepalive(k) => {
                let mut v =
                    ObservationView::new("keepalive", format!("Keep-alive of {}", k.target));
                v.facts.push(fact(
                    "server closed an idle connection after",
                    k.closed_idle_after_s
                        .map_or("not within the wait".to_owned(), units::seconds),
                ));
                if let Some(w) = k.waited_s {
                    v.facts.push(fact("waited", units::seconds(w)));
                }
                if k.closes_s.len() > 1 {
                    let all: Vec<String> = k.closes_s.iter().map(|s| units::seconds(*s)).collect();
                    v.facts
                        .push(fact("each idle connection closed after", all.join(", ")));
                }
                v
            }
            Observation::Pmtu(m) => {
                let mut v = ObservationView::new("pmtu", format!("Path MTU to {}", m.target));
                v.facts.push(fact("interface MTU", opt(m.iface_mtu)));
                let largest = m.probes.iter().filter(|p| p.ok).map(|p| p.size).max();
                v.facts.push(fact("largest packet through", opt(largest)));
                v.tables.push(table(
                    "Probes (don't fragment)",
                    vec!["size", "answered"],
                    m.probes
                        .iter()
                        .map(|p| vec![p.size.to_string(), yes(p.ok)])
                        .collect(),
                ));
                v
            }
            Observation::NatRules(n) => {
                let mut v = ObservationView::new("nat_rules", "Source NAT");
                v.facts.extend([
                    fact("masquerade sources", n.masquerade_sources.join(", ")),
                    fact("pod CIDRs", n.pod_cidrs.join(", ")),
                ]);
                v
            }
            Observation::Interfaces(f) => {
                let mut v = ObservationView::new("interfaces", "Network interfaces");
                v.tables.push(table(
                    "Interfaces",
                    vec!["name", "MTU", "up", "kind"],
                    f.interfaces
                        .iter()
                        .map(|i| {
                            vec![
                                i.name.clone(),
                                i.mtu.to_string(),
                                yes(i.up),
                                opt(i.kind.as_ref()),
                            ]
                        })
                        .collect(),
                ));
                v
            }
            Observation::ConnectAttempts(a) => {
                let mut v = ObservationView::new("connect_attempts", "Connect attempts");
                v.tables.push(table(
                    "Targets",
                    vec!["target", "attempts", "ok", "refused", "timed out"],
                    a.targets
                        .iter()
                        .map(|t| {
                            vec![
                                t.addr.clone(),
                                t.attempts.to_string(),
                                t.ok.to_string(),
                                t.refused.to_string(),
                                t.timeout.to_string(),
                            ]
                        })
                        .collect(),
                ));
                v
            }
            Observation::LogMatches(l) => {
                let mut v =
                    ObservationView::new("log_matches", format!("Log patterns in {}", l.source));
                v.tables.push(table(
                    "Patterns",
                    vec!["pattern", "lines"],
                    l.patterns
                        .iter()
                        .map(|p| vec![p.pattern.clone(), p.count.to_string()])
                        .collect(),
                ));
                v
            }
            Observation::K8sPods(k) => {
                let mut v = ObservationView::new("k8s_pods", "Kubernetes pods");
                v.tables.push(table(
                    "Pods",
                    vec![
                        "namespace",
                        "name",
                        "ready",
                        "restarts",
                        "last termination",
                        "readiness probe",
                        "preStop",
                        "ndots",
                    ],
                    k.pods
                        .iter()
                        .map(|p| {
                            vec![
                                p.namespace.clone(),
                                p.name.clone(),
                                yes(p.ready),
                                p.restarts.to_string(),
                                opt(p.last_terminated_reason.as_ref()),
                                yes(p.has_readiness_probe),
                                yes(p.has_pre_stop),
                                opt(p.dns_ndots),
                            ]
                        })
                        .collect(),
                ));
                v
            }
            Observation::ConfigFacts(c) => {
                let mut v = ObservationView::new("config_facts", "Configuration");
                if let Some(source) = &c.source {
                    v.facts.push(fact("source", source.clone()));
                }
                // A stated fact is the operator's word, not what the probe read.
                let how = |k: &String| {
                    if c.stated.contains(k) {
                        "stated"
                    } else {
                        "read"
                    }
                };
                v.tables.push(table(
                    "Facts",
                    vec!["name", "value", "how"],
                    c.facts
                        .iter()
                        .map(|(k, val)| vec![k.clone(), val.to_string(), how(k).into()])
                        .collect(),
                ));
                v
            }
            Observation::Unknown(u) => {
                let mut v = ObservationView::new(&u.kind, format!("Unknown kind “{}”", u.kind));
                v.raw = Some(
                    serde_json::to_string_pretty(&u.raw).unwrap_or_else(|_| u.raw.to_string()),
                );
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_facts_show_their_source_and_which_were_stated() {
        let o: Observation = serde_json::from_value(serde_json::json!({
            "kind": "config_facts",
            "facts": {"lb.idle_timeout_s": 350, "proxy.upstream_keepalive_timeout_s": 60},
            "source": "stated",
            "stated": ["lb.idle_timeout_s"]
        }))
        .unwrap();
        let v = ObservationView::of(&o);
        assert!(v.facts.contains(&("source".into(), "stated".into())));
        let rows = &v.tables[0].rows;
        assert_eq!(rows[0], ["lb.idle_timeout_s", "350", "stated"]);
        assert_eq!(
            rows[1],
            ["proxy.upstream_keepalive_timeout_s", "60", "read"]
        );
    }
}
