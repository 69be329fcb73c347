//! Measuring a scenario the way a team that runs Prometheus would, with no
//! probe at all: Debian's `prometheus-node-exporter` reads the scenario
//! namespace's kernel, Debian's `prometheus` scrapes it every second into
//! temporary storage, and the real `faultline pull` reads it back as a
//! report.
//!
//! node_exporter reads `/proc/net/*` and `/proc/sys/net/*` of the network
//! namespace it runs in, and the conntrack table, its counters and the
//! sockets are per namespace: run in the root namespace it would see none
//! of a scenario's fault. So it runs inside the scenario's namespace (`ip
//! netns exec`) while listening on a loopback socket of the root namespace,
//! handed over by socket activation (`lab helper exporter`), where the
//! Prometheus scrapes it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::support::{Netns, Proc, free_port, http, lab_exe, run_for};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Why the Prometheus scenarios cannot run here, if they cannot.
pub fn need_prometheus() -> Result<(), String> {
    for bin in [PROMETHEUS, NODE_EXPORTER] {
        if !Path::new(bin).is_file() {
            return Err(format!(
                "{bin} is missing: install Debian's prometheus and prometheus-node-exporter \
                 (scripts/test does)"
            ));
        }
    }
    Ok(())
}

/// node_exporter in a namespace, scraped by a Prometheus, until dropped.
pub struct Watch {
    /// The `instance` label the Prometheus gives the exporter.
    pub instance: String,
    prometheus: SocketAddr,
    // Dropped in this order: Prometheus first, then the exporter it scrapes.
    _prometheus: Proc,
    _exporter: Proc,
}

impl Watch {
    /// Starts node_exporter inside `ns` (the collectors the mapping reads:
    /// conntrack, netstat, sockstat, tcpstat) and a Prometheus scraping it
    /// every second as `instance`, storing in `dir`; returns once it has
    /// two samples, so the fault that follows is seen from its start.
    pub fn start(ns: &Netns, instance: &str, dir: &Path) -> Result<Watch> {
        let exporter_addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let exporter = Proc::spawn(
            "node_exporter",
            Command::new(lab_exe()).args([
                "helper",
                "exporter",
                &ns.name,
                &exporter_addr.to_string(),
                "--collector.disable-defaults",
                "--collector.conntrack",
                "--collector.netstat",
                "--collector.sockstat",
                "--collector.tcpstat",
            ]),
            Some(&dir.join("node_exporter.log")),
        )?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      \
                 - targets: ['{exporter_addr}']\n        labels: {{instance: '{instance}'}}\n"
            ),
        )?;
        let prometheus: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let proc = Proc::spawn(
            "prometheus",
            Command::new(PROMETHEUS)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address={prometheus}"))
                .arg("--storage.tsdb.retention.time=1h"),
            Some(&dir.join("prometheus.log")),
        )?;
        let watch = Watch {
            instance: instance.to_owned(),
            prometheus,
            _prometheus: proc,
            _exporter: exporter,
        };
        let from = unix_now();
        watch
            .scraped_after(from, 2, Duration::from_secs(30))
            .with_context(|| {
                format!(
                    "node_exporter never scraped:\n{}\n{}",
                    tail(&dir.join("node_exporter.log")),
                    tail(&dir.join("prometheus.log"))
                )
            })?;
        Ok(watch)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.prometheus)
    }

    /// Waits until Prometheus holds `n` successful scrapes made after
    /// `since` (unix seconds).
    pub fn scraped_after(&self, since: f64, n: usize, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let q = format!(
                "/api/v1/query?query={}",
                encode(&format!("up{{instance=\"{}\"}}[30s]", self.instance))
            );
            if let Ok((200, body)) = http(self.prometheus, "GET", &q, None, b"") {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let fresh = v["data"]["result"][0]["values"]
                    .as_array()
                    .map(|points| {
                        points
                            .iter()
                            .filter(|p| p[0].as_f64().unwrap_or(0.0) > since && p[1] == "1")
                            .count()
                    })
                    .unwrap_or(0);
                if fresh >= n {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "Prometheus has no {n} scrapes of {} after {since}",
                    self.instance
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Once the fault's last state is scraped, `faultline pull` of the
    /// last two minutes, the report written to `out`.
    pub fn pull(&self, out: &Path) -> Result<PathBuf> {
        self.scraped_after(unix_now(), 2, Duration::from_secs(30))?;
        let o = run_for(
            Command::new(env!("CARGO_BIN_EXE_faultline")).args([
                "pull",
                "--prometheus",
                &self.url(),
                "--instance",
                &self.instance,
                "--at",
                "now",
                "--window",
                "2m",
            ]),
            Duration::from_secs(30),
        )?;
        if !o.status.success() {
            bail!(
                "faultline pull failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let report: Value = serde_json::from_slice(&o.stdout).context("pull printed no report")?;
        if report["source"] != "prometheus" {
            bail!("the pulled report does not say it came from Prometheus");
        }
        std::fs::write(out, &o.stdout)?;
        Ok(out.to_path_buf())
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
