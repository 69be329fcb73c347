//! Optional redaction: peer addresses and host names become stable keyed
//! hashes (HMAC-SHA256) before a report leaves the host.
//!
//! Names are hashed label by label, so structure survives: the number of
//! dots (what ndots compares), a trailing dot, and a search suffix shared by
//! several names all still show, while the names themselves do not. The same
//! key gives the same token on every host, so reports stay comparable.

use std::net::IpAddr;

use ring::hmac;

use crate::report::{Observation, Report};

/// Hashes peers and names with one key.
pub struct Redactor {
    key: hmac::Key,
}

impl Redactor {
    /// A redactor keyed with a secret shared by the fleet.
    pub fn new(secret: &[u8]) -> Redactor {
        Redactor {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn token(&self, s: &str) -> String {
        let tag = hmac::sign(&self.key, s.as_bytes());
        tag.as_ref()[..5]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `10.1.2.3` → `ip-1a2b3c4d5e`.
    pub fn ip(&self, ip: &str) -> String {
        format!("ip-{}", self.token(ip))
    }

    /// An address or a DNS name, label by label; a trailing dot is kept.
    pub fn host(&self, host: &str) -> String {
        if host.parse::<IpAddr>().is_ok() {
            return self.ip(host);
        }
        let (body, dot) = host.strip_suffix('.').map_or((host, ""), |b| (b, "."));
        let labels: Vec<String> = body
            .split('.')
            .map(|l| format!("h{}", &self.token(&l.to_ascii_lowercase())[..8]))
            .collect();
        format!("{}{dot}", labels.join("."))
    }

    /// `host:port` with the port kept.
    pub fn target(&self, target: &str) -> String {
        match target.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => {
                format!("{}:{p}", self.host(h.trim_matches(['[', ']'])))
            }
            _ => self.host(target),
        }
    }

    /// `scheme://host[:port]/path` with scheme, port and path kept.
    pub fn url(&self, url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return self.host(url);
        };
        let (authority, path) = rest
            .find('/')
            .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        let host = if authority.contains(':') && !authority.ends_with(']') {
            self.target(authority)
        } else {
            self.host(authority.trim_matches(['[', ']']))
        };
        format!("{scheme}://{host}{path}")
    }

    /// Redacts every peer and name in the report, in place.
    pub fn apply(&self, report: &mut Report) {
        for o in &mut report.observations {
            self.observation(o);
        }
    }

    fn observation(&self, o: &mut Observation) {
        match o {
            Observation::TcpStates(t) => {
                let owned = t.by_process.iter_mut().flat_map(|p| &mut p.by_peer);
                for p in t.by_peer.iter_mut().chain(owned) {
                    p.peer = self.ip(&p.peer);
                }
            }
            Observation::DnsLookups(d) => {
                for l in &mut d.lookups {
                    l.name = self.host(&l.name);
                    l.tried.iter_mut().for_each(|t| *t = self.host(t));
                }
                // Nameservers stay: they are the host's own resolver config
                // (node-local cache or cluster DNS), and the schema needs IPs.
                if let Some(r) = &mut d.resolv_conf {
                    r.search.iter_mut().for_each(|s| *s = self.host(s));
                }
            }
            Observation::TlsHandshake(t) => {
                t.target = self.target(&t.target);
                t.sni = t.sni.as_deref().map(|s| self.host(s));
            }
            Observation::ConnLifetimes(l) => l.target = self.target(&l.target),
            Observation::HttpLatency(h) => h.target = self.url(&h.target),
            Observation::Keepalive(k) => k.target = self.url(&k.target),
            Observation::Pmtu(p) => p.target = self.host(&p.target),
            Observation::ConnectAttempts(c) => c
                .targets
                .iter_mut()
                .for_each(|t| t.addr = self.target(&t.addr)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{DnsLookup, DnsLookups, PeerCount, ProcessSockets, ResolvConf, TcpStates};

    #[test]
    fn stable_keyed_and_structure_preserving() {
        let r = Redactor::new(b"fleet-secret");
        assert_eq!(r.ip("10.1.2.3"), r.ip("10.1.2.3"));
        assert_ne!(r.ip("10.1.2.3"), Redactor::new(b"other").ip("10.1.2.3"));
        let abs = r.host("api.example.com.");
        assert!(abs.ends_with('.') && abs.matches('.').count() == 3, "{abs}");
        assert!(!abs.contains("example"));
        // A searched name ends with the redacted search domain.
        assert!(
            r.host("api.svc.cluster.local")
                .ends_with(&r.host("svc.cluster.local"))
        );
        assert!(r.target("db.internal:5432").ends_with(":5432"));
        let u = r.url("http://10.0.0.5:8080/health");
        assert!(
            u.starts_with("http://ip-") && u.ends_with(":8080/health"),
            "{u}"
        );
    }

    #[test]
    fn report_peers_and_names_are_replaced() {
        let mut report = Report::new(crate::report::Collector {
            name: "n".into(),
            host: "h".into(),
            labels: Default::default(),
        });
        report.observations.push(
            TcpStates {
                counts: [("ESTABLISHED".to_string(), 1)].into(),
                by_peer: vec![PeerCount {
                    peer: "10.9.8.7".into(),
                    state: "ESTABLISHED".into(),
                    count: 1,
                }],
                by_process: vec![ProcessSockets {
                    pid: 7,
                    name: "app".into(),
                    counts: [("CLOSE_WAIT".to_string(), 1)].into(),
                    by_peer: vec![PeerCount {
                        peer: "10.9.8.6".into(),
                        state: "CLOSE_WAIT".into(),
                        count: 1,
                    }],
                }],
                ..TcpStates::default()
            }
            .into(),
        );
        report.observations.push(
            DnsLookups {
                resolv_conf: Some(ResolvConf {
                    nameservers: vec!["10.96.0.10".into()],
                    ..ResolvConf::default()
                }),
                lookups: vec![DnsLookup {
                    name: "secret.corp".into(),
                    elapsed_ms: 1.0,
                    ok: true,
                    error: None,
                    tried: vec![],
                }],
            }
            .into(),
        );
        Redactor::new(b"k").apply(&mut report);
        let text = serde_json::to_string(&report).unwrap();
        for secret in ["10.9.8.7", "10.9.8.6", "secret", "corp"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(report.validate().is_ok());
    }
}
