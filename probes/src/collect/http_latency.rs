//! `http_latency`: sample a URL for the watch window, keeping raw samples.
//!
//! Steady sampling every 200 ms keeps a proxy's pooled upstream
//! connections warm, which hides what goes wrong when one is reused after a
//! quiet spell. So when a keepalive collector measured a backend's idle
//! keep-alive, the rest of the window leaves silences around it between
//! bursts of requests (a little under, mostly just past), as quiet-hour
//! traffic does.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::collect::keepalive::IdleHint;
use crate::collect::unix_ms;
use crate::report::{HttpLatency, IdleSample, LatencySample};

/// Pause between samples.
pub const SPACING: Duration = Duration::from_millis(200);

/// Per-request timeout; a slower answer is a transport error (status 0).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The silences of the idle phase, as multiples of the measured idle
/// keep-alive, in turn: just past it where the close and the reuse race,
/// and one a little under it to compare with.
pub const IDLE_GAPS: [f64; 4] = [1.02, 0.9, 1.05, 1.1];

/// Requests sent together after each silence.
pub const IDLE_BURST: usize = 4;

/// Idle keep-alives shorter than this are left alone: steady sampling
/// already leaves such gaps.
const SHORTEST_IDLE_S: f64 = 0.5;

/// Samples `url` until `watch` is over (at least one sample); with an idle
/// keep-alive from `hint`, leaves silences of about that length between
/// the requests of the rest of the window.
pub fn collect(url: &str, watch: Duration, hint: &IdleHint) -> Result<HttpLatency> {
    parse_url(url)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect is the answer being measured, not a hop to follow.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into();
    let started = Instant::now();
    let mut samples = Vec::new();
    let idle = loop {
        samples.push(sample(&agent, url));
        if started.elapsed() + SPACING >= watch {
            break None;
        }
        if let Some(Some(s)) = hint.ready()
            && s >= SHORTEST_IDLE_S
        {
            break Some(s);
        }
        thread::sleep(SPACING);
    };
    let idle_samples = idle.map_or_else(Vec::new, |s| idle_phase(&agent, url, s, started + watch));
    Ok(HttpLatency {
        target: url.to_string(),
        samples,
        idle_after_s: idle.filter(|_| !idle_samples.is_empty()),
        idle_samples,
    })
}

/// Requests after silences of [`IDLE_GAPS`] × `idle_s` until `until`.
/// After each silence, [`IDLE_BURST`] requests at once: a proxy serves
/// them on as many pooled connections, every one of them idle that long.
fn idle_phase(agent: &ureq::Agent, url: &str, idle_s: f64, until: Instant) -> Vec<IdleSample> {
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    for factor in IDLE_GAPS.iter().cycle() {
        let gap = Duration::from_secs_f64(idle_s * factor);
        if quiet_since + gap >= until {
            break;
        }
        thread::sleep(gap.saturating_sub(quiet_since.elapsed()));
        let gap_s = quiet_since.elapsed().as_secs_f64();
        let burst: Vec<LatencySample> = thread::scope(|s| {
            let handles: Vec<_> = (0..IDLE_BURST)
                .map(|_| s.spawn(|| sample(agent, url)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(LatencySample(unix_ms(), 0.0, 0)))
                .collect()
        });
        quiet_since = Instant::now();
        out.extend(
            burst
                .into_iter()
                .map(|LatencySample(at, latency_ms, status)| IdleSample {
                    gap_s,
                    at,
                    latency_ms,
                    status,
                }),
        );
    }
    out
}

/// One request, body read to the end.
fn sample(agent: &ureq::Agent, url: &str) -> LatencySample {
    let at = unix_ms();
    let t0 = Instant::now();
    let status = match agent.get(url).call() {
        Ok(mut resp) => {
            let status = i64::from(resp.status().as_u16());
            // A body cut short is a transport error too.
            match resp.body_mut().read_to_vec() {
                Ok(_) => status,
                Err(_) => 0,
            }
        }
        Err(_) => 0,
    };
    LatencySample(at, t0.elapsed().as_secs_f64() * 1000.0, status)
}

/// The parts of an `http://` or `https://` URL the probes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// True for https.
    pub tls: bool,
    /// Host (brackets removed for IPv6).
    pub host: String,
    /// Port, defaulted by scheme.
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Parses `scheme://host[:port][/path]`.
pub fn parse_url(url: &str) -> Result<Url> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        bail!("{url}: only http:// and https:// URLs are supported");
    };
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("{url}: unclosed '['"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| anyhow::anyhow!("{url}: bad port {p:?}"))?,
        None => default_port,
    };
    if host.is_empty() {
        bail!("{url}: no host");
    }
    Ok(Url {
        tls,
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = parse_url("http://127.0.0.1:8080/health?x=1").unwrap();
        assert_eq!(
            u,
            Url {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/health?x=1".into()
            }
        );
        let u = parse_url("https://[::1]/").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 443));
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://x:http/").is_err());
    }
}
