//! One message to one receiver over HTTP: a POST with a timeout, tried
//! again with exponential backoff and jitter on 5xx, 429, timeouts and
//! connection failures; any other answer is final.
//!
//! The HTTP client is ureq (blocking, rustls with the system's trust store,
//! as the probe ships reports), run on tokio's blocking pool: its
//! `timeout_global` ends every call, and a tokio timeout a little longer
//! stands guard, so a receiver that accepts and never answers holds one
//! blocking thread for `timeout_s` at most. Redirects are not followed
//! (a webhook that moved is a configuration to fix, and a body should not
//! go where nobody configured it).
//!
//! Error texts never hold the address: ureq's own texts are replaced by
//! ours, and whatever else is said passes through [`scrub`].

use std::sync::Arc;
use std::time::Duration;

use super::Settings;
use super::target::WebhookUrl;

/// How often and how patiently to try.
#[derive(Debug, Clone)]
pub struct Policy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

impl Policy {
    pub fn from_settings(s: &Settings) -> Policy {
        Policy {
            attempts: s.attempts.clamp(1, 20),
            base: Duration::from_millis(s.backoff_base_ms.max(1)),
            max: Duration::from_millis(s.backoff_max_ms.max(s.backoff_base_ms).max(1)),
            timeout: s.timeout(),
        }
    }

    /// The wait after failed attempt `n` (1, 2, …): `base · 2^(n-1)`, capped
    /// at `max`, each a random point in its upper half ("equal jitter"), so
    /// retries of many messages after one outage spread out.
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
enum Attempt {
    Accepted(u16),
    /// Worth trying again: 5xx, 429, a timeout, no connection.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The receiver refused it for good (4xx other than 429, 3xx).
    Refused {
        status: u16,
        detail: String,
    },
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered {
        attempts: u32,
        status: u16,
    },
    Refused {
        attempts: u32,
        status: u16,
        detail: String,
    },
    GaveUp {
        attempts: u32,
        last: String,
    },
}

impl Outcome {
    pub fn attempts(&self) -> u32 {
        match self {
            Outcome::Delivered { attempts, .. }
            | Outcome::Refused { attempts, .. }
            | Outcome::GaveUp { attempts, .. } => *attempts,
        }
    }

    /// `delivered`, `refused` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Refused { .. } => "refused",
            Outcome::GaveUp { .. } => "failed",
        }
    }

    /// "delivered (HTTP 200) after 3 attempts".
    pub fn describe(&self) -> String {
        let tries = |n: u32| {
            if n == 1 {
                String::new()
            } else {
                format!(" after {n} attempts")
            }
        };
        match self {
            Outcome::Delivered { attempts, status } => {
                format!("delivered (HTTP {status}){}", tries(*attempts))
            }
            Outcome::Refused {
                attempts,
                status,
                detail,
            } => {
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                };
                format!("refused with HTTP {status}{}{detail}", tries(*attempts))
            }
            Outcome::GaveUp { attempts, last } => {
                format!("not delivered{}: {last}", tries(*attempts))
            }
        }
    }
}

/// Sends messages; one per process, shared by every target.
#[derive(Clone)]
pub struct Sender {
    agent: ureq::Agent,
    timeout: Duration,
}

impl Sender {
    pub fn new(timeout: Duration) -> Sender {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(system_roots())
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            .timeout_global(Some(timeout))
            .user_agent(concat!("faultline/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Sender { agent, timeout }
    }

    /// Tries until accepted, refused, or out of attempts.
    pub async fn deliver(&self, url: &WebhookUrl, body: Arc<Vec<u8>>, policy: &Policy) -> Outcome {
        let mut last = String::new();
        for n in 1..=policy.attempts {
            match self.once(url, body.clone()).await {
                Attempt::Accepted(status) => {
                    return Outcome::Delivered {
                        attempts: n,
                        status,
                    };
                }
                Attempt::Refused { status, detail } => {
                    return Outcome::Refused {
                        attempts: n,
                        status,
                        detail,
                    };
                }
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    tracing::debug!(target_url = %url, attempt = n, %reason, "notification attempt failed");
                    last = reason;
                    if n < policy.attempts {
                        // A receiver's Retry-After is honoured up to our cap.
                        let wait =
                            retry_after.map_or_else(|| policy.backoff(n), |r| r.min(policy.max));
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Outcome::GaveUp {
            attempts: policy.attempts,
            last,
        }
    }

    async fn once(&self, url: &WebhookUrl, body: Arc<Vec<u8>>) -> Attempt {
        let agent = self.agent.clone();
        let address = url.expose().to_owned();
        let call = tokio::task::spawn_blocking(move || post(&agent, &address, &body));
        let guard = self.timeout + Duration::from_secs(2);
        let attempt = match tokio::time::timeout(guard, call).await {
            Ok(Ok(attempt)) => attempt,
            Ok(Err(e)) => Attempt::Retry {
                reason: format!("the sending task failed: {e}"),
                retry_after: None,
            },
            Err(_) => Attempt::Retry {
                reason: format!("no answer within {} s", guard.as_secs()),
                retry_after: None,
            },
        };
        match attempt {
            Attempt::Retry {
                reason,
                retry_after,
            } => Attempt::Retry {
                reason: scrub(&reason, url.expose()),
                retry_after,
            },
            Attempt::Refused { status, detail } => Attempt::Refused {
                status,
                detail: scrub(&detail, url.expose()),
            },
            accepted => accepted,
        }
    }
}

/// One blocking POST, classified.
fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Attempt {
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body);
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Retry {
                reason: transport_error(&e),
                retry_after: None,
            };
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // What the receiver said, briefly (Slack answers `invalid_payload`,
    // `no_service`, …), read with the same deadline.
    let text = response
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    let detail: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    match status {
        200..=299 => Attempt::Accepted(status),
        429 | 500..=599 => Attempt::Retry {
            reason: if detail.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {detail}")
            },
            retry_after,
        },
        _ => Attempt::Refused { status, detail },
    }
}

/// Our words for a failed call, naming no address.
fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "could not connect".into(),
        ureq::Error::Io(io) => format!("connection failed: {}", io.kind()),
        ureq::Error::Tls(what) => format!("TLS: {what}"),
        ureq::Error::Rustls(tls) => format!("TLS: {tls}"),
        ureq::Error::Protocol(p) => format!("bad HTTP from the receiver: {p}"),
        _ => "the request failed".into(),
    }
}

/// Removes the address (whole, or its secret path and query) from a text.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &super::target::redact(url));
    if let Some(rest) = url.split_once("://").map(|(_, r)| r)
        && let Some(slash) = rest.find(['/', '?'])
    {
        let secret = &rest[slash..];
        if secret.len() > 1 {
            out = out.replace(secret, "/…");
        }
    }
    out
}

/// The system's trust store (where a company CA lives), else the bundled
/// web roots.
fn system_roots() -> ureq::tls::RootCerts {
    let certs: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::new_with_certs(&certs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_in_the_upper_half() {
        let p = Policy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            timeout: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let third = p.backoff(3);
            assert!((200..=400).contains(&third.as_millis()), "{third:?}");
            let late = p.backoff(30);
            assert!((500..=1000).contains(&late.as_millis()), "{late:?}");
        }
    }

    #[test]
    fn texts_lose_the_address() {
        let url = "https://hooks.slack.com/services/T0/B0/SECRET";
        let said = format!("failed to reach {url} (path /services/T0/B0/SECRET)");
        let clean = scrub(&said, url);
        assert!(!clean.contains("SECRET"), "{clean}");
        assert!(clean.contains("https://hooks.slack.com/…"), "{clean}");
    }

    #[test]
    fn outcomes_read_as_sentences() {
        assert_eq!(
            Outcome::Delivered {
                attempts: 3,
                status: 200
            }
            .describe(),
            "delivered (HTTP 200) after 3 attempts"
        );
        assert_eq!(
            Outcome::Refused {
                attempts: 1,
                status: 404,
                detail: "no_service".into()
            }
            .describe(),
            "refused with HTTP 404: no_service"
        );
    }
}
