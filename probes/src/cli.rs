//! The `faultline-probe` command line (documented in probes/README.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::collect::{self, CollectOptions};
use crate::config::Config;
use crate::redact::Redactor;
use crate::report::Report;
use crate::ship::{self, RetryPolicy, Shipper};
use crate::spool::{Spool, write_atomic};

/// Measures what the kernel and the network show and ships Faultline v1 reports.
#[derive(Debug, Parser)]
#[command(name = "faultline-probe", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect one report and write it (stdout by default).
    Collect(Box<CollectArgs>),
    /// Daemon: collect every interval, spool, and ship to the server.
    Run {
        /// TOML config: server, token, interval_s, spool_dir, [collect].
        #[arg(long)]
        config: PathBuf,
    },
    /// POST report files to the server, with retries.
    Send {
        /// Report JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Server base URL.
        #[arg(long, env = "FAULTLINE_SERVER")]
        server: String,
        /// Collector token.
        #[arg(long, env = "FAULTLINE_TOKEN", hide_env_values = true)]
        token: String,
        /// CA certificates (PEM) to trust for an https server instead of the system store.
        #[arg(long, value_name = "PEM")]
        server_ca: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct CollectArgs {
    /// Config file whose [collect] table gives defaults (flags add to it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to write the report; `-` is stdout.
    #[arg(long, default_value = "-")]
    out: String,
    /// Seconds the time-based probes watch.
    #[arg(long = "for", value_name = "SECONDS")]
    for_s: Option<f64>,
    /// Skip host collectors (sockets, fds, conntrack, counters, interfaces, NAT, resolv.conf).
    #[arg(long)]
    no_host: bool,
    /// TLS handshake target.
    #[arg(long, value_name = "HOST:PORT")]
    tls: Vec<String>,
    /// Server name for TLS checks.
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,
    /// Trusted roots for TLS checks instead of the system store.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Name to resolve through resolv.conf rules.
    #[arg(long, value_name = "NAME")]
    dns: Vec<String>,
    /// resolv.conf to follow.
    #[arg(long, value_name = "FILE")]
    resolv_conf: Option<PathBuf>,
    /// URL to sample for latency.
    #[arg(long, value_name = "URL")]
    http: Vec<String>,
    /// URL whose idle keep-alive timeout to measure.
    #[arg(long, value_name = "URL")]
    keepalive: Vec<String>,
    /// Target to hold idle connections to.
    #[arg(long, value_name = "HOST:PORT")]
    lifetime: Vec<String>,
    /// Host to send DF-set probes to.
    #[arg(long, value_name = "HOST")]
    pmtu: Vec<String>,
    /// Target to connect to repeatedly.
    #[arg(long, value_name = "HOST:PORT")]
    connect: Vec<String>,
    /// Log file to count known error patterns in.
    #[arg(long, value_name = "PATH")]
    log: Vec<PathBuf>,
    /// `kubectl get pods -o json` output; `-` is stdin.
    #[arg(long, value_name = "FILE|-")]
    k8s_pods: Option<String>,
    /// nginx configuration to read timeouts from (includes followed), or
    /// `nginx -T` output; `-` is stdin.
    #[arg(long, value_name = "PATH|-")]
    nginx_conf: Option<String>,
    /// openssl.cnf whose system-default MinProtocol/MaxProtocol give the
    /// TLS versions clients offer.
    #[arg(long, value_name = "PATH")]
    openssl_conf: Option<PathBuf>,
    /// A configuration fact you state (reported as stated, not read).
    #[arg(long, value_name = "NAME=VALUE")]
    fact: Vec<String>,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Collect(args) => cmd_collect(*args),
        Command::Run { config } => cmd_run(&config),
        Command::Send {
            files,
            server,
            token,
            server_ca,
        } => cmd_send(&files, &server, &token, server_ca.as_deref()),
    }
}

fn cmd_collect(args: CollectArgs) -> Result<ExitCode> {
    let cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let opts = merge(cfg.collect.clone(), &args);
    if opts.nginx_conf.as_deref() == Some("-") && opts.k8s_pods.as_deref() == Some("-") {
        bail!("--nginx-conf - and --k8s-pods - both want stdin: give one of them a file");
    }
    let redactor = cfg.redactor()?;
    let mut report = collect::collect(&opts, cfg.collector());
    if let Some(r) = &redactor {
        r.apply(&mut report);
    }
    let json = serde_json::to_vec_pretty(&report)?;
    if args.out == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(&json)?;
        out.write_all(b"\n")?;
    } else {
        write_out(Path::new(&args.out), &json)?;
    }
    for s in &report.skipped {
        eprintln!("faultline-probe: skipped {}: {}", s.kind, s.reason);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the report to `path`: a regular file atomically (temporary file,
/// sync, rename); a device or a pipe (`/dev/null`, `/dev/stdout`, a FIFO)
/// as it is, since renaming a file over it would replace it.
fn write_out(path: &Path, bytes: &[u8]) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            f.write_all(bytes)
                .with_context(|| format!("writing {}", path.display()))
        }
        _ => write_atomic(path, bytes),
    }
}

/// Flags add targets to the config's lists and override its scalars.
fn merge(mut o: CollectOptions, a: &CollectArgs) -> CollectOptions {
    if let Some(f) = a.for_s {
        o.for_s = f;
    }
    o.no_host |= a.no_host;
    o.tls.extend(a.tls.iter().cloned());
    o.sni = a.sni.clone().or(o.sni);
    o.ca = a.ca.clone().or(o.ca);
    o.dns.extend(a.dns.iter().cloned());
    if let Some(r) = &a.resolv_conf {
        o.resolv_conf = r.clone();
    }
    o.http.extend(a.http.iter().cloned());
    o.keepalive.extend(a.keepalive.iter().cloned());
    o.lifetime.extend(a.lifetime.iter().cloned());
    o.pmtu.extend(a.pmtu.iter().cloned());
    o.connect.extend(a.connect.iter().cloned());
    o.log.extend(a.log.iter().cloned());
    o.k8s_pods = a.k8s_pods.clone().or(o.k8s_pods);
    o.nginx_conf = a.nginx_conf.clone().or(o.nginx_conf);
    o.openssl_conf = a.openssl_conf.clone().or(o.openssl_conf);
    o.fact.extend(a.fact.iter().cloned());
    o
}

fn cmd_send(files: &[PathBuf], server: &str, token: &str, ca: Option<&Path>) -> Result<ExitCode> {
    let shipper = shipper(server, token, RetryPolicy::default(), ca)?;
    let mut failed = 0;
    for path in files {
        match send_file(&shipper, path) {
            Ok(()) => eprintln!("faultline-probe: sent {}", path.display()),
            Err(e) => {
                eprintln!("faultline-probe: {}: {e:#}", path.display());
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn send_file(shipper: &Shipper, path: &std::path::Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Err(errs) = Report::from_json(&bytes) {
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        bail!("not a valid v1 report: {}", list.join("; "));
    }
    Ok(shipper.send(&bytes)?)
}

fn cmd_run(config: &std::path::Path) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let daemon = Daemon::new(&cfg, RetryPolicy::default())?;
    let interval = Duration::from_secs_f64(cfg.interval_s);
    // A random phase first, so probes started together (a fleet rollout, a
    // data-centre reboot) do not all report on the same second.
    thread::sleep(first_delay(interval, &mut rand::rng()));
    loop {
        let started = Instant::now();
        daemon.tick()?;
        thread::sleep(next_delay(interval, started.elapsed(), &mut rand::rng()));
    }
}

/// Jitter of each interval, as a share of it (±).
const INTERVAL_JITTER: f64 = 0.1;

/// Before the first report: uniform in [0, interval), so a fleet's reports
/// spread over the interval instead of arriving together at its top.
pub fn first_delay(interval: Duration, rng: &mut impl rand::Rng) -> Duration {
    interval.mul_f64(rng.random_range(0.0..1.0))
}

/// Between reports: the interval ±10 % (so phases do not line up again
/// over time, from probes started in the same second or clocks in step),
/// less the time the last collection and send took.
pub fn next_delay(interval: Duration, spent: Duration, rng: &mut impl rand::Rng) -> Duration {
    let factor = 1.0 + rng.random_range(-INTERVAL_JITTER..=INTERVAL_JITTER);
    interval.mul_f64(factor).saturating_sub(spent)
}

fn shipper(server: &str, token: &str, policy: RetryPolicy, ca: Option<&Path>) -> Result<Shipper> {
    match ca {
        Some(ca) => Shipper::with_ca(server, token, policy, ca),
        None => Ok(Shipper::new(server, token, policy)),
    }
}

/// The `run` loop's state: one tick collects, spools and drains.
pub struct Daemon {
    spool: Spool,
    shipper: Shipper,
    opts: CollectOptions,
    collector: crate::report::Collector,
    redactor: Option<Redactor>,
}

impl Daemon {
    /// Opens the spool (resuming what a previous run left) and the shipper.
    pub fn new(cfg: &Config, policy: RetryPolicy) -> Result<Daemon> {
        let server = cfg.server.as_deref().context("config has no `server`")?;
        let token = cfg.token.as_deref().context("config has no `token`")?;
        let dir = cfg.spool_dir.clone().context("config has no `spool_dir`")?;
        Ok(Daemon {
            spool: Spool::open(&dir, cfg.spool.clone())?,
            shipper: shipper(server, token, policy, cfg.server_ca.as_deref())?,
            opts: cfg.collect.clone(),
            collector: cfg.collector(),
            redactor: cfg.redactor()?,
        })
    }

    /// Collects one report, spools it, enforces the bounds, then ships oldest first.
    pub fn tick(&self) -> Result<ship::DrainStats> {
        let mut report = collect::collect(&self.opts, self.collector.clone());
        if let Some(r) = &self.redactor {
            r.apply(&mut report);
        }
        self.spool
            .put(report.report_id, &serde_json::to_vec(&report)?)?;
        let dropped = self.spool.enforce_limits()?;
        if dropped > 0 {
            eprintln!(
                "faultline-probe: spool full, dropped {dropped} oldest report(s) ({} in total)",
                self.spool.dropped_total()
            );
        }
        ship::drain(&self.spool, &self.shipper)
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_fleet_spreads_over_the_interval() {
        let minute = Duration::from_secs(60);
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        // 1,000 probes started in the same second: their first reports land
        // in every tenth of the minute, none past it.
        let mut tenths = [0u32; 10];
        for _ in 0..1000 {
            let d = first_delay(minute, &mut rng);
            assert!(d < minute, "{d:?}");
            tenths[(d.as_secs_f64() / 6.0) as usize] += 1;
        }
        assert!(tenths.iter().all(|&n| n > 50), "{tenths:?}");
    }

    #[test]
    fn the_next_report_is_an_interval_later_jittered_less_the_time_spent() {
        let minute = Duration::from_secs(60);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let spent = Duration::from_secs(5);
        let delays: Vec<Duration> = (0..200)
            .map(|_| next_delay(minute, spent, &mut rng))
            .collect();
        for d in &delays {
            assert!(
                *d >= Duration::from_secs(49) && *d <= Duration::from_secs(61),
                "{d:?}"
            );
        }
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "jittered");
        // A collection longer than the interval: the next starts at once.
        assert_eq!(
            next_delay(minute, Duration::from_secs(120), &mut rng),
            Duration::ZERO
        );
    }
}
