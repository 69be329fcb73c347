//! `openssl s_client -showcerts` (or without `-showcerts`): the chain as the
//! server sent it, the verification result and the negotiated protocol.
//!
//! Certificates whose PEM is in the paste are read with the probe's
//! certificate reader (same subject format as the probe's collector);
//! otherwise the `s:`/`i:` lines and openssl 3's `v:NotAfter:` are used.

use chrono::{DateTime, NaiveDateTime, Utc};
use faultline_probe::collect::tls_handshake::cert_info;
use faultline_probe::report::{CertInfo, TlsHandshake};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{Block, Claim, Found};

/// Line starts of s_client output (stdout and stderr).
const PREFIXES: &[&str] = &[
    "depth=",
    "verify ",
    "CONNECTED(",
    "---",
    "Certificate chain",
    "Server certificate",
    "subject=",
    "issuer=",
    "No client certificate",
    "Acceptable client certificate",
    "Client Certificate Types",
    "Requested Signature",
    "Shared Requested",
    "Peer signing digest",
    "Peer signature type",
    "Server Temp Key",
    "SSL handshake has read",
    "Verification",
    "New,",
    "Server public key",
    "Secure Renegotiation",
    "Compression",
    "Expansion",
    "No ALPN",
    "ALPN protocol",
    "Early data",
    "Verify return code",
    "SSL-Session",
    "Post-Handshake",
    "read R BLOCK",
    "DONE",
    "closed",
    "Start Time",
    "Timeout",
    "Extended master secret",
    "Max Early Data",
    "-----BEGIN",
    "-----END",
    "write:errno",
    "read:errno",
    "no peer certificate available",
    "Protocol",
    "Cipher",
    "Session-ID",
    "Master-Key",
    "TLS session ticket",
    "Reused,",
    "Negotiated TLS1.3 group",
    "Server did not accept",
    "Resumption PSK",
    "PSK identity",
    "SRP username",
    "Hash used",
    "Signature type",
];

/// Lines that make a block s_client output.
const MARKERS: &[&str] = &[
    "CONNECTED(",
    "Certificate chain",
    "Verify return code:",
    "SSL handshake has read",
];

const FAILURES: &[&str] = &[
    "handshake failure",
    "no peer certificate available",
    "wrong version number",
    "unsupported protocol",
    "protocol version",
    "New, (NONE), Cipher is (NONE)",
    "no protocols available",
];

/// A date openssl could not show: the paste had neither PEM nor `v:` line.
const UNKNOWN_NOT_AFTER: &str = "9999-12-31T23:59:59Z";

fn is_openssl_line(line: &str) -> bool {
    let t = line.trim_start();
    PREFIXES.iter().any(|p| t.starts_with(p))
        || line.starts_with([' ', '\t']) && !t.is_empty()
        || t.contains(":error:")
        || t.len() >= 16
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

#[derive(Default)]
struct Entry {
    subject: Option<String>,
    issuer: Option<String>,
    not_after: Option<DateTime<Utc>>,
    pem: Option<CertInfo>,
}

/// `Nov 26 05:42:14 2026 GMT`.
fn openssl_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim().trim_end_matches("GMT").trim();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&s, "%b %d %H:%M:%S %Y")
        .ok()
        .map(|d| d.and_utc())
}

/// `Verify return code: 21 (unable to verify the first certificate)`.
fn verify_name(code: i64, text: &str) -> String {
    match code {
        0 => "ok".to_string(),
        // Unknown issuer, missing intermediate, self-signed: what rustls
        // (and so the probe) calls an unknown issuer.
        2 | 18 | 19 | 20 | 21 => "unknown_issuer".to_string(),
        10 => "expired".to_string(),
        62 => "name_mismatch".to_string(),
        _ => format!("other: {code} ({text})"),
    }
}

/// `Verification error: certificate has expired` (openssl 3).
fn verify_from_text(text: &str) -> String {
    let t = text.to_ascii_lowercase();
    if t.contains("expired") {
        "expired".to_string()
    } else if t.contains("issuer")
        || t.contains("first certificate")
        || t.contains("self-signed")
        || t.contains("self signed")
    {
        "unknown_issuer".to_string()
    } else if t.contains("hostname mismatch") {
        "name_mismatch".to_string()
    } else {
        format!("other: {}", text.trim())
    }
}

pub fn parse(block: &Block) -> Option<Claim> {
    let lines = &block.lines;
    if !lines
        .iter()
        .any(|l| MARKERS.iter().any(|m| l.trim_start().starts_with(m)))
    {
        return None;
    }
    let start = lines
        .iter()
        .position(|l| is_openssl_line(l) && !l.starts_with([' ', '\t']))?;
    let end = lines
        .iter()
        .rposition(|l| is_openssl_line(l))
        .unwrap_or(start);

    let mut entries: Vec<Entry> = Vec::new();
    let mut in_chain = false;
    let mut pem: Option<String> = None;
    let (mut verify, mut verification, mut failed) = (None, None, false);
    let mut version: Option<String> = None;
    for l in &lines[start..=end] {
        let t = l.trim();
        if t == "Certificate chain" {
            in_chain = true;
        } else if t == "---" && pem.is_none() {
            in_chain = false;
        } else if let Some(p) = &mut pem {
            p.push_str(t);
            p.push('\n');
            if t == "-----END CERTIFICATE-----" {
                let der = CertificateDer::from_pem_slice(p.as_bytes()).ok();
                let info = der.and_then(|d| cert_info(&d).ok());
                if let Some(e) = entries.last_mut() {
                    e.pem = e.pem.take().or(info);
                }
                pem = None;
            }
        } else if t == "-----BEGIN CERTIFICATE-----" && in_chain {
            pem = Some(format!("{t}\n"));
        } else if in_chain
            && let Some((n, subject)) = t.split_once(" s:")
            && n.parse::<u32>().is_ok()
        {
            entries.push(Entry {
                subject: Some(subject.trim().to_string()),
                ..Entry::default()
            });
        } else if in_chain && let Some(issuer) = t.strip_prefix("i:") {
            if let Some(e) = entries.last_mut() {
                e.issuer = Some(issuer.trim().to_string());
            }
        } else if in_chain && let Some(v) = t.strip_prefix("v:") {
            if let (Some(e), Some((_, after))) = (entries.last_mut(), v.split_once("NotAfter:")) {
                e.not_after = openssl_date(after);
            }
        } else if let Some(rest) = t.strip_prefix("Verify return code:") {
            let rest = rest.trim();
            let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Ok(code) = code.parse::<i64>() {
                verify = Some(verify_name(code, text.trim_matches(['(', ')'])));
            }
        } else if t == "Verification: OK" {
            verification = Some("ok".to_string());
        } else if let Some(e) = t.strip_prefix("Verification error:") {
            verification = Some(verify_from_text(e));
        } else if let Some(rest) = t.strip_prefix("New, ") {
            if let Some(v) = rest.split(',').next().filter(|v| v.starts_with("TLSv")) {
                version = Some(v.trim().to_string());
            }
        } else if let Some(rest) = t.strip_prefix("Protocol") {
            let v = rest
                .trim_start_matches([' ', ':'])
                .trim_start_matches("version:")
                .trim();
            if v.starts_with("TLSv") {
                version = Some(v.to_string());
            }
        }
        if FAILURES.iter().any(|f| t.contains(f)) {
            failed = true;
        }
    }
    let unknown = DateTime::parse_from_rfc3339(UNKNOWN_NOT_AFTER)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default();
    let chain: Vec<CertInfo> = entries
        .into_iter()
        .filter_map(|e| {
            if let Some(info) = e.pem {
                return Some(info);
            }
            let subject = e.subject?;
            let issuer = e.issuer.unwrap_or_default();
            Some(CertInfo {
                self_signed: subject == issuer,
                subject,
                issuer,
                not_after: e.not_after.unwrap_or(unknown),
            })
        })
        .collect();

    let words = block.words();
    let arg = |name: &str| {
        words
            .windows(2)
            .find(|w| w[0] == name)
            .map(|w| w[1].to_string())
    };
    let target = arg("-connect").unwrap_or_default();
    let sni = arg("-servername").or_else(|| {
        // openssl 1.1.1+ sends the -connect host as SNI unless it is an address.
        let host = target
            .rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']))?;
        let named = host.parse::<std::net::IpAddr>().is_err() && !host.is_empty();
        (named && !words.contains(&"-noservername")).then(|| host.to_string())
    });
    let handshake_ok = version.is_some() && !failed;
    let mut versions = std::collections::BTreeMap::new();
    if let Some(v) = version.filter(|v| v == "TLSv1.2" || v == "TLSv1.3")
        && handshake_ok
    {
        versions.insert(v, true);
    }
    if !handshake_ok && chain.is_empty() {
        for (flag, v) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
            if words.contains(&flag) {
                versions.insert(v.to_string(), false);
            }
        }
    }
    let verify = if failed && chain.is_empty() {
        "handshake_failure".to_string()
    } else {
        verify
            .or(verification)
            .unwrap_or_else(|| "other: no verify result in the paste".to_string())
    };
    Some(Claim::new(
        (start..=end).collect(),
        vec![Found {
            obs: TlsHandshake {
                target,
                sni,
                versions,
                chain,
                verify,
            }
            .into(),
            format: "openssl s_client",
        }],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_codes() {
        let d = openssl_date(" Nov  6 05:42:14 2026 GMT").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-11-06T05:42:14+00:00");
        assert_eq!(
            verify_name(21, "unable to verify the first certificate"),
            "unknown_issuer"
        );
        assert_eq!(
            verify_name(20, "unable to get local issuer certificate"),
            "unknown_issuer"
        );
        assert_eq!(verify_name(10, "certificate has expired"), "expired");
        assert_eq!(verify_name(0, "ok"), "ok");
        assert!(verify_name(9, "certificate is not yet valid").starts_with("other: "));
    }
}
