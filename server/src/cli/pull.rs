//! `faultline pull --prometheus URL --instance HOST:PORT --at TIME [--window
//! 15m]`: the evidence Prometheus holds about one exporter around a time,
//! printed as a v1 report (pipe it into `faultline diagnose -`). Needs no
//! database. Credentials and the timeout come from the configuration
//! (`prometheus_bearer_token`, …; `FAULTLINE_PROMETHEUS_*`).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, anyhow, bail};
use chrono::Utc;

use crate::config::Config;
use crate::core::prometheus::{Target, Window, parse_duration, parse_time};

pub struct PullArgs {
    pub prometheus: Option<String>,
    pub instance: Option<String>,
    pub host: Option<String>,
    pub at: String,
    pub window: Option<String>,
    pub labels: Vec<String>,
}

pub async fn run(config: &Config, args: PullArgs) -> Result<()> {
    let mut config = config.clone();
    if let Some(url) = args.prometheus {
        config.prometheus_url = Some(url);
    }
    let Some(settings) = config.prometheus().map_err(|e| anyhow!(e))? else {
        bail!("no Prometheus to ask: give --prometheus URL (or set prometheus_url)");
    };
    let target = match (args.instance, args.host) {
        (Some(i), None) => Target::Instance(i),
        (None, Some(h)) => Target::Host(h),
        _ => {
            bail!("give --instance HOST:PORT (one exporter) or --host HOST (every exporter on it)")
        }
    };
    let now = Utc::now();
    let at = parse_time(&args.at, now).map_err(|e| anyhow!("--at: {e}"))?;
    let window_s = match &args.window {
        Some(w) => parse_duration(w).map_err(|e| anyhow!("--window: {e}"))?,
        None => settings.window_s,
    };
    let window = Window::around(at, window_s, window_s, now).map_err(|e| anyhow!(e))?;
    let labels: BTreeMap<String, String> =
        crate::core::labels::parse_each(args.labels.iter().map(String::as_str))
            .map_err(|e| anyhow!("--label: {e}"))?;
    let pulled = crate::prometheus::pull(&settings, &target, &window, &labels)
        .await
        .map_err(|e| anyhow!(e))?;
    for s in &pulled.report.skipped {
        eprintln!("note: {} not read: {}", s.kind, s.reason);
    }
    let json = serde_json::to_string_pretty(&pulled.report)?;
    match writeln!(std::io::stdout().lock(), "{json}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
