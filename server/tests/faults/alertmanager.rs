//! Debian's real Alertmanager (`prometheus-alertmanager`, installed by
//! scripts/test) on a loopback port, its webhook pointing at a real
//! `faultline serve` with an API token. Alerts go in through Alertmanager's
//! API as Prometheus sends them: fire (re-sent every second), expire when the
//! re-sends stop (Alertmanager resolves it on its own, as when Prometheus
//! re-sends too late), fire again with the same startsAt, and fire another while
//! Faultline is down for ten seconds; Alertmanager's retries deliver that
//! one after the restart, once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Server, client, free_port, run};

const BINARY: &str = "/usr/bin/prometheus-alertmanager";
/// How often Alertmanager flushes a group (so sends resolved and retries).
const GROUP_INTERVAL_S: u64 = 2;

/// An Alertmanager process with its own config and storage, killed and
/// waited for when dropped.
pub(super) struct Alertmanager {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One group per alert (`...`), short waits so the test is quick, resolved
/// notifications on, the token as a bearer credential, no HA peers.
fn config(webhook: &str, token: &str) -> String {
    format!(
        "global:\n  resolve_timeout: 5s\n\
         route:\n  receiver: faultline\n  group_by: ['...']\n  group_wait: 1s\n  \
         group_interval: {GROUP_INTERVAL_S}s\n  repeat_interval: 1h\n\
         receivers:\n  - name: faultline\n    webhook_configs:\n      - url: '{webhook}'\n        \
         send_resolved: true\n        http_config:\n          authorization:\n            \
         type: Bearer\n            credentials: '{token}'\n"
    )
}

impl Alertmanager {
    pub(super) async fn start(webhook: &str, token: &str) -> Alertmanager {
        assert!(
            Path::new(BINARY).is_file(),
            "{BINARY} is missing: install the Debian package prometheus-alertmanager \
             (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alertmanager.yml");
        std::fs::write(&file, config(webhook, token)).unwrap();
        let log = dir.path().join("alertmanager.log");
        let port = free_port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus-alertmanager");
        let mut am = Alertmanager {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/-/ready", am.base)).send().await
                && r.status().is_success()
            {
                return am;
            }
            if let Some(status) = am.child.try_wait().unwrap() {
                panic!("alertmanager exited with {status}:\n{}", am.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager not ready:\n{}",
                am.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Posts alerts to the v2 API, as Prometheus does.
    pub(super) async fn post(&self, alerts: Value) {
        post_alerts(&self.base, alerts).await;
    }

    /// Re-sends the alert every second, each valid for four, as Prometheus
    /// re-sends a firing alert, until the task is aborted; then
    /// Alertmanager lets it expire.
    fn keep_firing(
        &self,
        instance: &'static str,
        starts_at: String,
    ) -> tokio::task::JoinHandle<()> {
        let base = self.base.clone();
        tokio::spawn(async move {
            loop {
                post_alerts(&base, json!([alert(instance, &starts_at, 4)])).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    /// Webhook notifications that failed so far.
    async fn failed_notifications(&self) -> f64 {
        let text = client()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("alertmanager_notifications_failed_total{")
                    && l.contains("integration=\"webhook\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

async fn post_alerts(base: &str, alerts: Value) {
    let r = client()
        .post(format!("{base}/api/v2/alerts"))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// An alert as Prometheus posts it, valid until `for_s` from now.
pub(super) fn alert(instance: &str, starts_at: &str, for_s: i64) -> Value {
    let ends = Utc::now() + chrono::Duration::seconds(for_s);
    json!({
        "labels": {
            "alertname": "NodeHighNumberConntrackEntriesUsed",
            "instance": instance,
            "severity": "warning",
        },
        "annotations": {"summary": format!("conntrack table 91% full on {instance}")},
        "startsAt": starts_at,
        "endsAt": ends.to_rfc3339_opts(SecondsFormat::Secs, true),
        "generatorURL": "http://prometheus.test/graph",
    })
}

/// Incident `id` as `GET /api/v1/incidents/{id}` answers it, once `ready`
/// holds (within 60 s).
pub(super) async fn incident_when(
    server: &Server,
    am: &Alertmanager,
    id: i64,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http
            .get(server.url(&format!("/api/v1/incidents/{id}")))
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            let body: Value = r.json().await.unwrap();
            if ready(&body) {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "incident {id} never {what}\n--- faultline:\n{}\n--- alertmanager:\n{}",
            server.log_text(),
            am.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status(body: &Value) -> &str {
    body["incident"]["status"].as_str().unwrap_or_default()
}

/// The `alert` events of an incident's timeline, as (status, startsAt).
fn alert_events(body: &Value) -> Vec<(String, String)> {
    body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alert")
        .map(|e| {
            let s = |k: &str| e["body"][k].as_str().unwrap_or_default().to_owned();
            (s("status"), s("startsAt"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_fires_resolves_refires_and_retries_through_an_outage() {
    let data = tempfile::tempdir().unwrap();
    let token = run(
        data.path(),
        &["token", "add", "alertmanager", "--role", "responder"],
    )
    .trim()
    .to_owned();
    let port = free_port();
    let env = [("FAULTLINE_ANONYMOUS_READ", "true")];
    let mut server = Server::start_on(port, data.path(), &[], &env).await;
    let webhook = format!("http://127.0.0.1:{port}/api/v1/alertmanager");
    let am = Alertmanager::start(&webhook, &token).await;
    let starts =
        (Utc::now() - chrono::Duration::minutes(3)).to_rfc3339_opts(SecondsFormat::Secs, true);

    // Fires: an incident opens.
    let source = am.keep_firing("node-1:9100", starts.clone());
    let opened = incident_when(&server, &am, 1, "opened", |b| status(b) == "open").await;
    assert_eq!(opened["incident"]["labels"]["instance"], "node-1:9100");

    // The source stops re-sending; Alertmanager lets the alert expire and
    // sends it resolved.
    source.abort();
    let _ = source.await;
    incident_when(&server, &am, 1, "resolved", |b| status(b) == "resolved").await;

    // The same alert fires again with the same startsAt: open again.
    am.post(json!([alert("node-1:9100", &starts, 3600)])).await;
    let reopened = incident_when(&server, &am, 1, "reopened", |b| status(b) == "open").await;
    let firing_again = alert_events(&reopened);
    let statuses: Vec<&str> = firing_again.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(statuses, ["firing", "resolved", "firing"], "{reopened}");
    assert!(
        firing_again
            .iter()
            .all(|(_, at)| at.starts_with(&starts[..19]))
    );

    // Faultline goes away for ten seconds; another alert fires meanwhile.
    server.sigterm();
    let (exit, _) = server.wait_exit(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit}");
    let down_at = Instant::now();
    let failed_before = am.failed_notifications().await;
    am.post(json!([alert("node-2:9100", &starts, 3600)])).await;
    while am.failed_notifications().await <= failed_before {
        assert!(
            down_at.elapsed() < Duration::from_secs(30),
            "alertmanager never tried the stopped server:\n{}",
            am.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed())).await;
    let server = Server::start_on(port, data.path(), &[], &env).await;

    // Its retry delivers it: one incident, its alert once.
    let second = incident_when(&server, &am, 2, "opened after the outage", |b| {
        status(b) == "open"
    })
    .await;
    assert_eq!(second["incident"]["labels"]["instance"], "node-2:9100");
    // A few more flushes: nothing is delivered twice.
    tokio::time::sleep(Duration::from_secs(3 * GROUP_INTERVAL_S)).await;
    let second = incident_when(&server, &am, 2, "read", |_| true).await;
    assert_eq!(alert_events(&second).len(), 1, "{second}");
    let first = incident_when(&server, &am, 1, "read", |_| true).await;
    assert_eq!(alert_events(&first), firing_again, "{first}");
    assert_eq!(status(&first), "open");
    let third = client()
        .get(server.url("/api/v1/incidents/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        third.status(),
        reqwest::StatusCode::NOT_FOUND,
        "no third incident"
    );
}
