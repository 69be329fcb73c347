//! `curl -w` timing lines: `time_namelookup: 5.004 time_connect: 5.010 …
//! time_total: 5.2` (one per line or on one line), or `dns=… connect=…
//! total=… code=…`. One record per request; a label seen again starts the
//! next record. Times are seconds as curl prints them (`ms` suffix honoured).
//!
//! Each record with a total becomes an `http_latency` sample (the request
//! time is not in the output, so the sample's unix_ms is 0); the name-lookup
//! time also becomes a `dns_lookups` entry when the host is known (from the
//! command line or a `url_effective` label).

use faultline_probe::report::{DnsLookup, DnsLookups, HttpLatency, LatencySample};

use super::{Block, Claim, Found};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Dns,
    Total,
    Code,
    Url,
    /// Known, not used (connect, tls, ttfb, sizes…).
    Other,
}

fn label(name: &str) -> Option<Label> {
    Some(match name {
        "time_namelookup" | "namelookup" | "dns" | "lookup" | "name_lookup" | "dns_lookup" => {
            Label::Dns
        }
        "time_total" | "total" => Label::Total,
        "http_code" | "response_code" | "code" | "status" | "http_status" => Label::Code,
        "url_effective" | "url" => Label::Url,
        "time_connect" | "connect" | "tcp" | "time_appconnect" | "appconnect" | "tls" | "ssl"
        | "time_pretransfer" | "pretransfer" | "time_redirect" | "redirect"
        | "time_starttransfer" | "starttransfer" | "start_transfer" | "ttfb" | "firstbyte"
        | "size_download" | "size_upload" | "size_header" | "size_request" | "speed_download"
        | "speed_upload" | "num_connects" | "num_redirects" | "remote_ip" | "remote_port"
        | "local_ip" | "local_port" | "http_version" | "scheme" | "content_type" | "exitcode"
        | "time_queue" | "time_posttransfer" => Label::Other,
        _ => return None,
    })
}

/// `name: value` / `name=value` pairs of one line; None unless every word
/// belongs to a known pair.
fn pairs(line: &str) -> Option<Vec<(Label, String, String)>> {
    let mut out = Vec::new();
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let (name, value) = if let Some((n, v)) = w.split_once('=') {
            (n, v.to_string())
        } else if let Some(n) = w.strip_suffix(':') {
            (n, words.next()?.to_string())
        } else if let Some((n, v)) = w.split_once(':').filter(|(n, _)| label(n).is_some()) {
            (n, v.to_string())
        } else {
            return None;
        };
        let l = label(name)?;
        if value.is_empty() {
            return None;
        }
        out.push((l, name.to_string(), value.trim_end_matches(',').to_string()));
    }
    (!out.is_empty()).then_some(out)
}

/// Seconds (curl's unit) or `…ms` / `…s` to milliseconds.
fn millis(v: &str) -> Option<f64> {
    let ms = if let Some(n) = v.strip_suffix("ms") {
        n.parse::<f64>().ok()?
    } else {
        // Microsecond precision, as curl prints it.
        (v.strip_suffix('s').unwrap_or(v).parse::<f64>().ok()? * 1e6).round() / 1e3
    };
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

#[derive(Default)]
struct Record {
    names: Vec<String>,
    dns_ms: Option<f64>,
    total_ms: Option<f64>,
    code: Option<i64>,
    url: Option<String>,
}

/// The URL on the command line, if any.
fn command_url(block: &Block) -> Option<String> {
    block
        .words()
        .into_iter()
        .map(|w| w.trim_matches(['\'', '"']))
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_string)
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_string())
}

pub fn parse(block: &Block) -> Option<Claim> {
    let mut lines = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    let mut current = Record::default();
    for (i, line) in block.lines.iter().enumerate() {
        let Some(ps) = pairs(line) else { continue };
        lines.push(i);
        for (l, name, value) in ps {
            if current.names.contains(&name) {
                records.push(std::mem::take(&mut current));
            }
            current.names.push(name);
            match l {
                Label::Dns => current.dns_ms = millis(&value),
                Label::Total => current.total_ms = millis(&value),
                Label::Code => current.code = value.parse().ok(),
                Label::Url => current.url = Some(value),
                Label::Other => {}
            }
        }
    }
    records.push(current);
    records.retain(|r| r.total_ms.is_some() || r.dns_ms.is_some());
    if records.is_empty() {
        return None;
    }
    let url = command_url(block);
    let mut found = Vec::new();
    let mut by_target: Vec<HttpLatency> = Vec::new();
    let mut lookups = Vec::new();
    for r in &records {
        let target = r.url.clone().or_else(|| url.clone()).unwrap_or_default();
        if let Some(total) = r.total_ms {
            // 000: no response (transport error); anything else out of range too.
            let status = r.code.filter(|c| (100..=599).contains(c)).unwrap_or(0);
            let sample = LatencySample(0, total, status);
            match by_target.iter_mut().find(|h| h.target == target) {
                Some(h) => h.samples.push(sample),
                None => by_target.push(HttpLatency {
                    target,
                    samples: vec![sample],
                    ..HttpLatency::default()
                }),
            }
        }
        if let (Some(dns), Some(host)) = (
            r.dns_ms,
            r.url.as_deref().or(url.as_deref()).and_then(host_of),
        ) && host.parse::<std::net::IpAddr>().is_err()
        {
            lookups.push(DnsLookup {
                name: host,
                elapsed_ms: dns,
                ok: r.code != Some(0),
                error: None,
                tried: Vec::new(),
            });
        }
    }
    for h in by_target {
        found.push(Found {
            obs: h.into(),
            format: "curl -w",
        });
    }
    if !lookups.is_empty() {
        for l in &mut lookups {
            if !l.ok {
                l.error = Some("no response".to_string());
            }
        }
        found.push(Found {
            obs: DnsLookups {
                resolv_conf: Default::default(),
                lookups,
            }
            .into(),
            format: "curl -w",
        });
    }
    Some(Claim::new(lines, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_hosts() {
        assert_eq!(
            host_of("http://api.shop:8080/x").as_deref(),
            Some("api.shop")
        );
        assert_eq!(host_of("https://u@[::1]:443/").as_deref(), Some("::1"));
        assert_eq!(host_of("nope"), None);
    }

    #[test]
    fn units() {
        assert_eq!(millis("5.004"), Some(5004.0));
        assert_eq!(millis("12ms"), Some(12.0));
        assert_eq!(millis("0.5s"), Some(500.0));
        assert_eq!(millis("-1"), None);
    }
}
