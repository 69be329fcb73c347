//! Collectors, one module per observation kind, and the run that ties them
//! into one report.

pub mod config_facts;
pub mod conn_lifetimes;
pub mod connect_attempts;
pub mod conntrack;
pub mod dns_lookups;
pub mod http_latency;
pub mod interfaces;
pub mod k8s_pods;
pub mod keepalive;
pub mod log_matches;
pub mod nat_rules;
pub mod net_counters;
pub mod netns;
pub mod pmtu;
pub mod process_fds;
pub mod resolv;
pub mod socket_window;
pub mod tcp_states;
pub mod tls_handshake;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::collect::keepalive::IdleHint;
use crate::report::{Collector, Observation, Report, Skipped};

/// What to collect; the `[collect]` table of the config file and the flags of `collect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectOptions {
    /// Watch window of the time-based probes, seconds.
    #[serde(rename = "for")]
    pub for_s: f64,
    /// Skip host collectors.
    pub no_host: bool,
    /// `host:port` targets for `tls_handshake`.
    pub tls: Vec<String>,
    /// Server name for TLS checks.
    pub sni: Option<String>,
    /// Trusted roots for TLS checks (PEM).
    pub ca: Option<PathBuf>,
    /// Names for `dns_lookups`.
    pub dns: Vec<String>,
    /// resolv.conf to follow.
    pub resolv_conf: PathBuf,
    /// URLs for `http_latency`.
    pub http: Vec<String>,
    /// URLs for `keepalive`.
    pub keepalive: Vec<String>,
    /// `host:port` targets for `conn_lifetimes`.
    pub lifetime: Vec<String>,
    /// Hosts for `pmtu`.
    pub pmtu: Vec<String>,
    /// `host:port` targets for `connect_attempts`.
    pub connect: Vec<String>,
    /// Log files for `log_matches`.
    pub log: Vec<PathBuf>,
    /// `kubectl get pods -o json` output (file or `-`).
    pub k8s_pods: Option<String>,
    /// Pod CIDRs to report with `nat_rules`.
    pub pod_cidrs: Vec<String>,
    /// nginx configuration (or `nginx -T` output; `-` is stdin) for `config_facts`.
    pub nginx_conf: Option<String>,
    /// openssl.cnf whose system-default protocol bounds give `client.tls_versions`.
    pub openssl_conf: Option<PathBuf>,
    /// `NAME=VALUE` facts an operator states.
    pub fact: Vec<String>,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            for_s: 5.0,
            no_host: false,
            tls: vec![],
            sni: None,
            ca: None,
            dns: vec![],
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            http: vec![],
            keepalive: vec![],
            lifetime: vec![],
            pmtu: vec![],
            connect: vec![],
            log: vec![],
            k8s_pods: None,
            pod_cidrs: vec![],
            nginx_conf: None,
            openssl_conf: None,
            fact: vec![],
        }
    }
}

impl CollectOptions {
    fn watch(&self) -> Duration {
        Duration::from_secs_f64(self.for_s.clamp(0.0, 86_400.0))
    }

    /// How long the host collectors watch: `--for`, at least one second
    /// (counters need a window to mean anything).
    fn host_window(&self) -> Duration {
        self.watch().max(Duration::from_secs(1))
    }
}

/// Socket states are sampled this often over the window.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// A collector's result: its kind and the observation or why it did not run.
type Outcome = (&'static str, Result<Observation>);

/// Runs every collector the options ask for and assembles the report.
/// Collectors that fail are listed in `skipped`; this never fails as a whole.
pub fn collect(opts: &CollectOptions, collector: Collector) -> Report {
    let mut report = Report::new(collector);
    let until = Instant::now() + opts.host_window();
    let counters_start = (!opts.no_host).then(net_counters::snapshot);
    let hint = IdleHint::new(opts.keepalive.len());
    let mut outcomes = thread::scope(|s| {
        let handles: Vec<_> = targeted_jobs(opts, &hint)
            .into_iter()
            .map(|job| s.spawn(job))
            .collect();
        let mut outcomes = if opts.no_host {
            vec![]
        } else {
            // The host is watched for the whole run: the window, and as
            // long as any targeted collector is still at work.
            host(opts, until, || handles.iter().all(|h| h.is_finished()))
        };
        for h in handles {
            outcomes.push(
                h.join()
                    .unwrap_or_else(|_| ("unknown", Err(anyhow::anyhow!("collector panicked")))),
            );
        }
        outcomes
    });
    if let Some(start) = counters_start {
        let end = net_counters::snapshot();
        outcomes.push((
            "net_counters",
            start.and_then(|s| Ok(net_counters::delta(&s, &end?))),
        ));
    }
    for (kind, outcome) in outcomes {
        match outcome {
            Ok(o) => report.observations.push(o),
            Err(e) => report.skipped.push(Skipped {
                kind: kind.to_string(),
                reason: format!("{e:#}"),
            }),
        }
    }
    report.finished_at = Utc::now();
    report
}

/// Host collectors. Socket states are sampled from the start until `until`
/// has passed and `done` says the targeted collectors are finished, at
/// least once a second; the other readings take milliseconds and are made
/// once at the start, descriptors (and which process holds which socket)
/// at the end, beside the last sample.
fn host(opts: &CollectOptions, until: Instant, done: impl Fn() -> bool) -> Vec<Outcome> {
    let mut sampler = socket_window::Sampler::default();
    sampler.sample();
    let first = sampler.tried_at();
    // Every other network namespace (pods', containers'), each its own table.
    let mut spaces = netns::Namespaces::open(Path::new("/proc"), Path::new("/run/netns"));
    if let Ok(spaces) = &mut spaces {
        spaces.sample();
    }
    let mut once: Vec<Outcome> = vec![
        ("conntrack", conntrack::collect()),
        ("interfaces", interfaces::collect()),
        ("nat_rules", nat_rules::collect(&opts.pod_cidrs)),
    ];
    // resolv.conf on its own is evidence (ndots, search list); names add lookups below.
    if opts.dns.is_empty() {
        once.push((
            "dns_lookups",
            resolv::read(&opts.resolv_conf).map(|rc| dns_lookups::collect(&[], &rc)),
        ));
    }
    let mut sample = |last: bool| {
        sampler.sample();
        if let Ok(spaces) = &mut spaces {
            spaces.sample_if_due(last);
        }
        sampler.tried_at()
    };
    watch_sockets(&mut sample, first, until, done);
    let walked = process_fds::walk(Path::new("/proc"));
    let owners = walked.as_deref().unwrap_or_default();
    // The probe's own namespace first: readers that take the first
    // `tcp_states` get the host's.
    let mut out: Vec<Outcome> = vec![
        ("tcp_states", sampler.finish(owners).map(Observation::from)),
        (
            "process_fds",
            walked
                .as_deref()
                .map(|w| process_fds::observation(w, process_fds::TOP))
                .map_err(|e| anyhow::anyhow!("{e:#}")),
        ),
    ];
    match spaces {
        Ok(spaces) => {
            let (tables, unread) = spaces.finish(owners);
            out.extend(tables.into_iter().map(|t| ("tcp_states", Ok(t.into()))));
            if let Some(why) = unread {
                out.push(("tcp_states", Err(anyhow::anyhow!(why))));
            }
        }
        Err(e) => out.push((
            "tcp_states",
            Err(e.context("other network namespaces not read")),
        )),
    }
    out.extend(once);
    out
}

/// Samples (`sample` returns when it did, and is told whether it is the
/// last; `last` is the first sample's time) every [`SAMPLE_EVERY`] until
/// `until` and `done`, then once more.
fn watch_sockets(
    sample: &mut impl FnMut(bool) -> Option<Instant>,
    mut last: Option<Instant>,
    until: Instant,
    done: impl Fn() -> bool,
) {
    /// How often to look whether the targeted collectors are done.
    const POLL: Duration = Duration::from_millis(50);
    loop {
        let now = Instant::now();
        if now >= until && done() {
            break;
        }
        let next = last.map_or(now, |t| t + SAMPLE_EVERY);
        if now >= next {
            last = sample(false);
        } else {
            thread::sleep((next - now).min(POLL));
        }
    }
    sample(true);
}

type Job<'a> = Box<dyn FnOnce() -> Outcome + Send + 'a>;

/// Targeted collectors, one thread each, so time-based probes overlap.
/// The keepalive collectors tell the HTTP samplers the idle keep-alive
/// they measured (`hint`), so those can leave such silences.
fn targeted_jobs<'a>(opts: &'a CollectOptions, hint: &'a IdleHint) -> Vec<Job<'a>> {
    let watch = opts.watch();
    let mut jobs: Vec<Job<'_>> = Vec::new();
    if !opts.dns.is_empty() {
        jobs.push(Box::new(move || {
            (
                "dns_lookups",
                resolv::read(&opts.resolv_conf).map(|rc| dns_lookups::collect(&opts.dns, &rc)),
            )
        }));
    }
    let tls = tls_handshake::TlsOptions {
        sni: opts.sni.clone(),
        ca: opts.ca.clone(),
    };
    for t in &opts.tls {
        let tls = tls.clone();
        jobs.push(Box::new(move || {
            (
                "tls_handshake",
                tls_handshake::collect(t, &tls).map(Into::into),
            )
        }));
    }
    for u in &opts.http {
        jobs.push(Box::new(move || {
            (
                "http_latency",
                http_latency::collect(u, watch, hint).map(Into::into),
            )
        }));
    }
    for u in &opts.keepalive {
        jobs.push(Box::new(move || {
            let k = keepalive::collect(u, watch);
            hint.report(k.as_ref().ok().and_then(|k| k.closed_idle_after_s));
            ("keepalive", k.map(Into::into))
        }));
    }
    for t in &opts.lifetime {
        jobs.push(Box::new(move || {
            (
                "conn_lifetimes",
                conn_lifetimes::collect(t, conn_lifetimes::CONNECTIONS, watch).map(Into::into),
            )
        }));
    }
    for h in &opts.pmtu {
        jobs.push(Box::new(move || {
            (
                "pmtu",
                pmtu::collect(h, Duration::from_secs(1)).map(Into::into),
            )
        }));
    }
    if !opts.connect.is_empty() {
        let plan = connect_attempts::Plan::default();
        jobs.push(Box::new(move || {
            (
                "connect_attempts",
                connect_attempts::collect(&opts.connect, plan).map(Into::into),
            )
        }));
    }
    for p in &opts.log {
        jobs.push(Box::new(move || ("log_matches", log_matches::collect(p))));
    }
    if let Some(src) = &opts.k8s_pods {
        jobs.push(Box::new(move || ("k8s_pods", k8s_pods::collect(src))));
    }
    if let Some(src) = &opts.nginx_conf {
        jobs.push(Box::new(move || ("config_facts", config_facts::nginx(src))));
    }
    if let Some(path) = &opts.openssl_conf {
        jobs.push(Box::new(move || {
            ("config_facts", config_facts::openssl(path))
        }));
    }
    if !opts.fact.is_empty() {
        jobs.push(Box::new(move || {
            ("config_facts", config_facts::stated(&opts.fact))
        }));
    }
    jobs
}

/// Milliseconds since the Unix epoch, for wall-clock sample times.
pub fn unix_ms() -> i64 {
    Utc::now().timestamp_millis()
}
