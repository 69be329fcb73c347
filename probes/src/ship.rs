//! Delivery to the server: POST `{server}/api/v1/reports` with a bearer
//! token, timeouts on every call, and retries with capped exponential
//! backoff and full jitter on connection errors, 5xx and 429 (whose
//! Retry-After is honoured). Other 4xx are final.

use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::Rng;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::spool::Spool;

/// Retry schedule.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per report before giving up for now.
    pub max_attempts: u32,
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling (and largest Retry-After honoured).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, min(cap, base·2^attempt)].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX))
            .min(self.cap);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// The wait after a server asked for `retry_after`: at least that, plus
    /// the attempt's jittered backoff, the extra capped at `retry_after`
    /// itself. So a fleet all told "Retry-After: 1" at once comes back
    /// spread over a second, not together on the next one.
    pub fn after_retry_after(&self, retry_after: Duration, attempt: u32) -> Duration {
        retry_after + self.backoff(attempt).min(retry_after)
    }
}

/// The outcome of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: stored (or already stored).
    Accepted,
    /// Worth retrying; with the server's Retry-After when it gave one.
    Retry {
        /// What went wrong.
        reason: String,
        /// Server-requested wait (429/503 Retry-After, seconds form).
        retry_after: Option<Duration>,
    },
    /// 401/403: the token is wrong; the report is fine and must be kept.
    Unauthorized {
        /// HTTP status.
        status: u16,
    },
    /// Other 4xx: resending the same bytes will not help.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
    },
}

/// Why a report was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good.
    #[error("server rejected the report: HTTP {status}: {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// The server does not accept our token (fix the config; the report is kept).
    #[error("server refused the collector token (HTTP {status})")]
    Unauthorized {
        /// HTTP status.
        status: u16,
    },
    /// Retries ran out.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Tries made.
        attempts: u32,
        /// Last failure.
        last: String,
    },
}

/// Sends reports to one server.
pub struct Shipper {
    agent: ureq::Agent,
    url: String,
    token: String,
    policy: RetryPolicy,
    /// A Retry-After longer than the backoff cap: no request before then.
    not_before: Mutex<Option<Instant>>,
}

impl Shipper {
    /// A shipper for `server` (base URL) with a collector token; https is
    /// verified against the system's trust store (where a company CA lives).
    pub fn new(server: &str, token: &str, policy: RetryPolicy) -> Shipper {
        Self::build(server, token, policy, system_roots())
    }

    /// Same, trusting only the CA certificates in a PEM file.
    pub fn with_ca(server: &str, token: &str, policy: RetryPolicy, ca: &Path) -> Result<Shipper> {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing PEM in {}", ca.display()))?;
        if certs.is_empty() {
            anyhow::bail!("{} holds no certificate", ca.display());
        }
        Ok(Self::build(
            server,
            token,
            policy,
            RootCerts::new_with_certs(&certs),
        ))
    }

    fn build(server: &str, token: &str, policy: RetryPolicy, roots: RootCerts) -> Shipper {
        let tls = TlsConfig::builder().root_certs(roots).build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent(concat!("faultline-probe/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Shipper {
            agent,
            url: format!("{}/api/v1/reports", server.trim_end_matches('/')),
            token: token.to_string(),
            policy,
            not_before: Mutex::new(None),
        }
    }

    /// One POST, classified.
    pub fn send_once(&self, body: &[u8]) -> Attempt {
        let resp = self
            .agent
            .post(&self.url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(body);
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("{e}"),
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        match status {
            200..=299 => Attempt::Accepted,
            429 | 500..=599 => Attempt::Retry {
                reason: format!("HTTP {status}"),
                retry_after,
            },
            401 | 403 => Attempt::Unauthorized { status },
            _ => Attempt::Rejected {
                status,
                body: text.chars().take(300).collect(),
            },
        }
    }

    /// POSTs with retries until accepted, rejected, or out of attempts.
    ///
    /// A Retry-After within the cap is slept through; a longer one ends this
    /// round and holds every later send until it has passed.
    pub fn send(&self, body: &[u8]) -> Result<(), SendError> {
        if let Some(wait) = self.held_for() {
            return Err(SendError::GaveUp {
                attempts: 0,
                last: format!("server asked to wait, {:.0}s left", wait.as_secs_f64()),
            });
        }
        let mut last = String::new();
        for attempt in 0..self.policy.max_attempts {
            match self.send_once(body) {
                Attempt::Accepted => return Ok(()),
                Attempt::Rejected { status, body } => {
                    return Err(SendError::Rejected { status, body });
                }
                Attempt::Unauthorized { status } => return Err(SendError::Unauthorized { status }),
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    last = reason;
                    if let Some(d) = retry_after.filter(|d| *d > self.policy.cap) {
                        self.hold(d);
                        return Err(SendError::GaveUp {
                            attempts: attempt + 1,
                            last: format!("{last}, Retry-After {}s", d.as_secs()),
                        });
                    }
                    if attempt + 1 < self.policy.max_attempts {
                        thread::sleep(retry_after.map_or_else(
                            || self.policy.backoff(attempt),
                            |d| self.policy.after_retry_after(d, attempt),
                        ));
                    }
                }
            }
        }
        Err(SendError::GaveUp {
            attempts: self.policy.max_attempts,
            last,
        })
    }
}

impl Shipper {
    fn hold(&self, d: Duration) {
        if let Ok(mut nb) = self.not_before.lock() {
            *nb = Some(Instant::now() + d);
        }
    }

    /// Time left of a server-requested pause, if any.
    fn held_for(&self) -> Option<Duration> {
        let nb = (*self.not_before.lock().ok()?)?;
        let left = nb.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
}

/// The system trust store, or Mozilla's roots when it is empty.
fn system_roots() -> RootCerts {
    let certs: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&certs)
    }
}

/// What a drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainStats {
    /// Reports acknowledged and deleted.
    pub sent: usize,
    /// Reports the server refused, moved to `rejected/`.
    pub rejected: usize,
    /// Reports still waiting.
    pub remaining: usize,
}

/// Sends spooled reports oldest first; stops at the first report that could
/// not be delivered (the server is away: keep order, try again later).
pub fn drain(spool: &Spool, shipper: &Shipper) -> Result<DrainStats> {
    let entries = spool.entries()?;
    let mut stats = DrainStats {
        remaining: entries.len(),
        ..DrainStats::default()
    };
    for entry in &entries {
        let body = std::fs::read(&entry.path)
            .with_context(|| format!("reading {}", entry.path.display()))?;
        match shipper.send(&body) {
            Ok(()) => {
                spool.remove(entry)?;
                stats.sent += 1;
            }
            Err(SendError::Rejected { status, body }) => {
                eprintln!(
                    "faultline-probe: {} rejected (HTTP {status}): {body}",
                    entry.path.display()
                );
                spool.reject(entry)?;
                stats.rejected += 1;
            }
            Err(e @ (SendError::GaveUp { .. } | SendError::Unauthorized { .. })) => {
                eprintln!(
                    "faultline-probe: server unavailable, {} report(s) stay spooled: {e}",
                    stats.remaining
                );
                break;
            }
        }
        stats.remaining -= 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(800),
        };
        for attempt in 0..40 {
            let d = p.backoff(attempt);
            let ceiling = Duration::from_millis(100 * (1u64 << attempt.min(3)));
            assert!(d <= ceiling.min(p.cap), "attempt {attempt}: {d:?}");
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(5)).collect();
        assert!(distinct.len() > 1, "jitter varies");
    }

    #[test]
    fn a_retry_after_is_waited_and_jittered_past() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        };
        let ra = Duration::from_secs(1);
        let waits: Vec<Duration> = (0..50).map(|_| p.after_retry_after(ra, 2)).collect();
        for w in &waits {
            assert!(*w >= ra && *w <= ra * 2, "{w:?}");
        }
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 5, "spread, not synchronised: {distinct:?}");
    }
}
