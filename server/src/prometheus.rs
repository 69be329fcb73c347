//! Pulling evidence from Prometheus over HTTP: one range query per pull
//! (`core::prometheus::query`), bounded in time (the configured timeout
//! covers connecting, retries and reading), in bytes
//! ([`MAX_BODY`]) and in series and points (`core::prometheus`). Every
//! failure is a sentence an operator can act on: it goes on the incident's
//! timeline as it is.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use faultline_probe::report::Report;
use rand::Rng;

use crate::core::prometheus::{self, Target, Window};

/// Largest answer read, in bytes; past it the pull stops and says so.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// Tries per pull when Prometheus is unreachable or answers 502/503/504.
const ATTEMPTS: u32 = 3;
/// First pause between tries; doubled each time, with jitter.
const BACKOFF: Duration = Duration::from_millis(250);

/// How to reach a Prometheus server.
#[derive(Clone)]
pub struct Settings {
    /// Base address, without a trailing slash (`http://prometheus:9090`,
    /// or with a path prefix behind a proxy).
    pub url: String,
    pub auth: Auth,
    /// The whole pull: connecting, retries and reading the answer.
    pub timeout: Duration,
    /// Seconds read before and after the alert's start.
    pub window_s: i64,
}

/// Credentials sent with each query.
#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

// Secrets stay out of logs.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer ***",
            Auth::Basic { .. } => "basic ***",
        };
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("auth", &auth)
            .field("timeout", &self.timeout)
            .field("window_s", &self.window_s)
            .finish()
    }
}

/// Checks a Prometheus base address: `http://host[:port][/prefix]`.
pub fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("http://") {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("prometheus_url {url:?} names no host"));
        }
        if url.contains(['?', '#', ' ']) {
            return Err(format!(
                "prometheus_url {url:?}: give the base address only, without a query"
            ));
        }
        return Ok(url.to_owned());
    }
    if url.starts_with("https://") {
        return Err(format!(
            "prometheus_url {url:?}: this build speaks plain HTTP to Prometheus only; reach it \
             through an HTTP address (a sidecar or an in-cluster service)"
        ));
    }
    Err(format!(
        "prometheus_url {url:?} is not an http:// address (e.g. http://prometheus:9090)"
    ))
}

/// What a pull read.
pub struct Pulled {
    pub report: Report,
    /// How many series Prometheus sent.
    pub series: usize,
    /// The PromQL sent, for the record.
    pub query: String,
}

/// Pulls the target's series over the window and reads them as a v1
/// report (`source = "prometheus"`). `labels` go into the report's
/// collector labels. `Err` is a sentence for the timeline.
pub async fn pull(
    settings: &Settings,
    target: &Target,
    window: &Window,
    labels: &BTreeMap<String, String>,
) -> Result<Pulled, String> {
    let query = prometheus::query(target);
    let seconds = settings.timeout.as_secs_f64();
    let answer = tokio::time::timeout(settings.timeout, fetch(settings, &query, window))
        .await
        .map_err(|_| {
            format!(
                "Prometheus at {} did not answer within {seconds:.0} s",
                settings.url
            )
        })??;
    let matrix = prometheus::parse_matrix(&answer)
        .map_err(|e| format!("Prometheus at {} {e}", settings.url))?;
    if matrix.series.is_empty() {
        return Err(format!(
            "Prometheus at {} has no series for {} from {} to {}: is node_exporter scraped \
             with that instance label?",
            settings.url,
            target.describe(),
            window.start.to_rfc3339(),
            window.end.to_rfc3339()
        ));
    }
    let series = matrix.series.len() + matrix.dropped_series;
    Ok(Pulled {
        report: prometheus::to_report(&matrix, target, window, labels),
        series,
        query,
    })
}

/// The answer's body, after up to [`ATTEMPTS`] tries.
async fn fetch(settings: &Settings, query: &str, window: &Window) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let mut pause = BACKOFF;
    let mut attempt = 1;
    loop {
        match once(&client, settings, query, window).await {
            Ok(body) => return Ok(body),
            Err(Failure::Final(why)) => return Err(why),
            Err(Failure::Transient(why)) if attempt >= ATTEMPTS => return Err(why),
            Err(Failure::Transient(_)) => {
                let jitter = rand::rng().random_range(0.5..1.5);
                tokio::time::sleep(pause.mul_f64(jitter)).await;
                pause *= 2;
                attempt += 1;
            }
        }
    }
}

enum Failure {
    /// Worth another try (unreachable, 502/503/504).
    Transient(String),
    Final(String),
}

async fn once(
    client: &reqwest::Client,
    settings: &Settings,
    query: &str,
    window: &Window,
) -> Result<Vec<u8>, Failure> {
    let url = format!("{}/api/v1/query_range", settings.url);
    let form = [
        ("query", query.to_owned()),
        ("start", unix(window.start)),
        ("end", unix(window.end)),
        ("step", format!("{}s", window.step_s)),
        // Prometheus gives up on its side too.
        ("timeout", format!("{}s", settings.timeout.as_secs().max(1))),
    ];
    let mut request = client.post(&url).form(&form);
    request = match &settings.auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
    };
    let base = &settings.url;
    let mut response = request.send().await.map_err(|e| {
        let why = if e.is_connect() {
            format!("Prometheus at {base} could not be reached: {}", chain(&e))
        } else if e.is_timeout() {
            format!("Prometheus at {base} did not answer in time")
        } else {
            format!("the query to Prometheus at {base} failed: {}", chain(&e))
        };
        Failure::Transient(why)
    })?;
    let status = response.status();
    if let Some(len) = response.content_length()
        && len as usize > MAX_BODY
    {
        return Err(Failure::Final(too_large(base)));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(Failure::Final(too_large(base)));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(Failure::Transient(format!(
                    "the answer from Prometheus at {base} broke off: {}",
                    chain(&e)
                )));
            }
        }
    }
    if status.is_success() {
        return Ok(body);
    }
    let detail = prometheus::parse_matrix(&body)
        .err()
        .and_then(|e| e.strip_prefix("answered an error: ").map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            text.trim().to_owned()
        });
    let why = match status.as_u16() {
        401 | 403 => format!(
            "Prometheus at {base} refused the credentials ({status}); check \
             prometheus_bearer_token or prometheus_username / prometheus_password"
        ),
        _ => format!("Prometheus at {base} answered {status}: {detail}"),
    };
    if matches!(status.as_u16(), 502..=504) {
        Err(Failure::Transient(why))
    } else {
        Err(Failure::Final(why))
    }
}

fn too_large(base: &str) -> String {
    format!(
        "the answer from Prometheus at {base} is larger than {} MiB; left unread",
        MAX_BODY / (1024 * 1024)
    )
}

fn unix(t: DateTime<Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1000.0)
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text += &format!(": {next}");
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http_base_addresses() {
        assert_eq!(
            check_url("http://prom:9090/").as_deref(),
            Ok("http://prom:9090")
        );
        assert_eq!(
            check_url("http://proxy/prometheus").as_deref(),
            Ok("http://proxy/prometheus")
        );
        assert!(
            check_url("https://prom")
                .unwrap_err()
                .contains("plain HTTP")
        );
        assert!(check_url("prom:9090").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("http://prom/?x=1").is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = Settings {
            url: "http://p".into(),
            auth: Auth::Basic {
                username: "u".into(),
                password: "hunter2".into(),
            },
            timeout: Duration::from_secs(1),
            window_s: 60,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
