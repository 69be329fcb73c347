//! Request metrics in Prometheus text format: requests by route, method and
//! status, a latency histogram by route, and store errors.
//!
//! Every label has a bounded set of values, so the number of series stays
//! bounded whatever clients send: the route is the matched route
//! (`/playbooks/{id}`), never the raw path, and unmatched paths count as
//! `unmatched`; methods outside the standard ones count as `other` (a
//! method is any token a client makes up, and each used to add a series).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Store errors seen while answering requests (any backend, any route).
static STORE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts one store error; called where store errors become HTTP errors.
pub fn count_store_error() {
    STORE_ERRORS.fetch_add(1, Ordering::Relaxed);
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    /// (route, method, status) -> count
    requests: BTreeMap<(String, String, u16), u64>,
    /// route -> latency
    latency: BTreeMap<String, Histogram>,
}

/// One server's request metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_owned()).or_default();
        h.count += 1;
        h.sum += seconds;
        for (slot, bound) in h.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *slot += 1;
            }
        }
    }

    /// The exposition text for these metrics.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP faultline_http_requests_total HTTP requests by route, method and status.\n\
             # TYPE faultline_http_requests_total counter\n",
        );
        for ((route, method, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "faultline_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str(
            "# HELP faultline_http_request_duration_seconds Time to answer, by route.\n\
             # TYPE faultline_http_request_duration_seconds histogram\n",
        );
        for (route, h) in &inner.latency {
            let route = escape(route);
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "faultline_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "faultline_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 faultline_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 faultline_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP faultline_store_errors_total Store errors while answering requests.\n\
             # TYPE faultline_store_errors_total counter\n\
             faultline_store_errors_total {}",
            STORE_ERRORS.load(Ordering::Relaxed)
        );
        out
    }
}

/// Label values: backslash, quote and newline escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: times every request and counts it under its matched route.
pub async fn track(
    State(metrics): State<std::sync::Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = method_label(req.method()).to_owned();
    let response = next.run(req).await;
    metrics.observe(
        &route,
        &method,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/playbooks/{id}", "GET", 200, 0.003);
        m.observe("/playbooks/{id}", "GET", 200, 0.2);
        m.observe("/playbooks/{id}", "GET", 404, 0.001);
        let text = m.render();
        assert!(text.contains(
            "faultline_http_requests_total{route=\"/playbooks/{id}\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "faultline_http_request_duration_seconds_bucket{route=\"/playbooks/{id}\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "faultline_http_request_duration_seconds_bucket{route=\"/playbooks/{id}\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("faultline_store_errors_total "));
    }
}
