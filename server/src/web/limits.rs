//! How much anyone may ask of us: rate limits (token buckets from
//! `governor`) and a cap on requests handled at once.
//!
//! Rate limits slow down, they never lock out: a bucket refills on its own,
//! so the right password works again once `Retry-After` has passed. Login
//! attempts are counted per client address and per account *from that
//! address*: a stranger guessing a known account spends only their own
//! budget, and the owner logging in from anywhere else is not held up at
//! all. (A bucket per account alone let one wrong guess every 4 s keep the
//! owner at 429 indefinitely.)
//!
//! For ingest: [`Limits::check_ingest_token`] is a per-token bucket
//! (`[security] ingest_token_burst`, `ingest_token_per_s`). Call it with the
//! collector's id or name after authenticating it, and answer
//! [`RateLimited`] (429 with `Retry-After`) when it says no.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::config::Security;

/// Keys kept per limiter before old, full buckets are dropped.
const MAX_KEYS: usize = 10_000;

/// A keyed token bucket.
pub struct Bucket {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl Bucket {
    /// `burst` requests at once, then one every `period`.
    pub fn new(burst: u32, period: Duration) -> Bucket {
        let quota = Quota::with_period(period.max(Duration::from_millis(1)))
            .expect("a positive period")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"));
        Bucket {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), RateLimited> {
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

/// Too many requests: answer 429 with `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds to wait, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }

    /// The longer of two waits.
    pub fn max(self, other: RateLimited) -> RateLimited {
        if other.retry_after > self.retry_after {
            other
        } else {
            self
        }
    }

    pub fn retry_after_header(&self) -> (header::HeaderName, HeaderValue) {
        (
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_secs()),
        )
    }
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let secs = self.retry_after_secs();
        (
            StatusCode::TOO_MANY_REQUESTS,
            [self.retry_after_header()],
            Json(json!({"error": {
                "code": "rate_limited",
                "message": format!("too many requests; retry in {secs} s"),
            }})),
        )
            .into_response()
    }
}

/// Every limiter of one server.
pub struct Limits {
    login_account: Bucket,
    login_address: Bucket,
    ingest_token: Bucket,
    in_flight: Arc<Semaphore>,
}

impl Limits {
    pub fn new(config: &Security) -> Limits {
        let per_second = config.ingest_token_per_s.max(1);
        Limits {
            login_account: Bucket::new(
                config.login_account_burst,
                Duration::from_secs(config.login_account_refill_s),
            ),
            login_address: Bucket::new(
                config.login_address_burst,
                Duration::from_secs(config.login_address_refill_s),
            ),
            ingest_token: Bucket::new(
                config.ingest_token_burst,
                Duration::from_secs(1) / per_second,
            ),
            in_flight: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
        }
    }

    /// One login attempt for `account` from `address`. Both buckets (the
    /// address's, and the account's from that address) are charged; the
    /// answer is the longer wait if either is empty.
    pub fn check_login(&self, account: &str, address: &str) -> Result<(), RateLimited> {
        let by_address = self.login_address.check(address);
        let by_account = self
            .login_account
            .check(&format!("{}\n{address}", account.to_lowercase()));
        match (by_address, by_account) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// One ingest request for a collector token (see the module docs).
    pub fn check_ingest_token(&self, token_key: &str) -> Result<(), RateLimited> {
        self.ingest_token.check(token_key)
    }
}

/// Middleware: at most `max_concurrent_requests` at once; the rest get 503
/// with `Retry-After: 1` at once instead of queueing behind a slow store.
/// `/healthz` is never shed: it says the process is alive, and a liveness
/// probe failing under load would restart a server that is only busy.
pub async fn shed_load(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    match limits.in_flight.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            Json(json!({"error": {
                "code": "overloaded",
                "message": "the server is busy; retry shortly",
            }})),
        )
            .into_response(),
    }
}

/// How a request body is read before the request counts against
/// `max_concurrent_requests`.
#[derive(Debug, Clone, Copy)]
pub struct BodyRead {
    /// Largest body read, in bytes (413 above).
    pub limit: usize,
    /// The whole body must arrive within this (408 after).
    pub timeout: Duration,
}

/// Middleware: reads the whole request body within `timeout` before the
/// request goes on (to [`shed_load`] and the handler). A client that sends
/// its body slowly holds a connection, never one of the request places, and
/// gets 408 when time is up. The body is handed on in memory; every handler
/// reads its body whole anyway.
pub async fn read_body(State(read): State<BodyRead>, req: Request, next: Next) -> Response {
    use axum::body::{Body, HttpBody};
    use http_body_util::{BodyExt, LengthLimitError, Limited};

    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let api = req.uri().path().starts_with("/api/");
    let (parts, body) = req.into_parts();
    let bytes =
        match tokio::time::timeout(read.timeout, Limited::new(body, read.limit).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<LengthLimitError>() => {
                return body_error(
                    api,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the request body is larger than the server accepts".into(),
                );
            }
            Ok(Err(e)) => {
                return body_error(
                    api,
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("could not read the request body: {e}"),
                );
            }
            Err(_) => {
                let mut response = body_error(
                    api,
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        read.timeout.as_secs()
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
        };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A refused body: JSON under `/api/`, plain text for pages and forms.
fn body_error(api: bool, status: StatusCode, code: &str, message: String) -> Response {
    if api {
        (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    } else {
        (status, message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_refills() {
        let b = Bucket::new(2, Duration::from_millis(200));
        assert!(b.check("a").is_ok());
        assert!(b.check("a").is_ok());
        let wait = b.check("a").unwrap_err();
        assert!(wait.retry_after <= Duration::from_millis(200));
        assert_eq!(wait.retry_after_secs(), 1);
        assert!(b.check("b").is_ok(), "keys are independent");
        std::thread::sleep(wait.retry_after + Duration::from_millis(10));
        assert!(b.check("a").is_ok(), "refilled: never a lockout");
    }

    #[test]
    fn login_is_limited_per_account_and_address() {
        let limits = Limits::new(&Security {
            login_account_burst: 2,
            login_account_refill_s: 60,
            ..Security::default()
        });
        assert!(limits.check_login("Alice", "10.0.0.1").is_ok());
        assert!(limits.check_login("alice", "10.0.0.1").is_ok());
        let e = limits.check_login("ALICE", "10.0.0.1").unwrap_err();
        assert!(e.retry_after_secs() > 1 && e.retry_after_secs() <= 60);
        assert!(limits.check_login("bob", "10.0.0.1").is_ok());
        assert!(
            limits.check_login("alice", "10.0.0.2").is_ok(),
            "the owner elsewhere is not held up by a stranger's guesses"
        );
    }
}
