//! Who the client is when a proxy stands in front: `X-Forwarded-For`,
//! believed only from the proxies the config names.
//!
//! Any client can send `X-Forwarded-For: 203.0.113.7`, so by default the
//! header is ignored and the client is the connecting peer. With
//! `[security] trusted_proxies` set, a request from one of those proxies is
//! attributed to the right-most address in the header that is not itself a
//! trusted proxy: each proxy appends the peer it saw, so everything left of
//! that address was written by the client and may be made up.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use serde::Deserialize;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The networks whose `X-Forwarded-For` we believe (empty: nobody's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDRs or single addresses
    /// (`10.0.0.0/8, 127.0.0.1, ::1`), as `FAULTLINE_TRUSTED_PROXIES` holds.
    pub fn parse_list(text: &str) -> Result<TrustedProxies, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_net)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR such as 10.0.0.0/8"))
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        items
            .iter()
            .map(|s| parse_net(s.trim()))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(", "))
    }
}

/// The client's address as this server attributes it: the peer, or, when
/// the peer is a trusted proxy, the right-most untrusted `X-Forwarded-For`
/// entry. Put in the request's extensions by [`resolve_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Reads one `X-Forwarded-For` entry: an address, or an address with a port.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// See the module docs. An entry that is not an address stops the walk:
/// nothing left of it can be attributed, so the hop right of it stands.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = forwarded_ip(hop) else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// Middleware: works out [`ClientIp`] once per request, for the rate
/// limits, the request log and the audit log.
pub async fn resolve_client(
    State(trusted): State<Arc<TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let ip = client_ip(peer.ip(), req.headers(), &trusted);
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_from_an_untrusted_peer() {
        let none = TrustedProxies::default();
        let h = headers(&["10.9.9.9"]);
        assert_eq!(client_ip(ip("192.0.2.1"), &h, &none), ip("192.0.2.1"));
        let lb = TrustedProxies::parse_list("10.0.0.0/8").unwrap();
        assert_eq!(client_ip(ip("192.0.2.1"), &h, &lb), ip("192.0.2.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let t = TrustedProxies::parse_list("10.0.0.0/8, 127.0.0.1").unwrap();
        // The client made up 1.1.1.1; the proxies saw 198.51.100.4.
        let h = headers(&["1.1.1.1, 198.51.100.4", "10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("198.51.100.4"));
        // Only trusted hops: the left-most is as close as we can get.
        let h = headers(&["10.0.0.7, 10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("10.0.0.7"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &t),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn garbage_stops_the_walk_and_ports_and_mapped_addresses_are_read() {
        let t = TrustedProxies::parse_list("10.0.0.1").unwrap();
        let h = headers(&["198.51.100.4, unknown, 10.0.0.1"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("10.0.0.1"));
        let h = headers(&["198.51.100.4:5123"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("198.51.100.4"));
        let h = headers(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), &h, &t), ip("2001:db8::1"));
    }

    #[test]
    fn lists_parse_cidrs_and_addresses_and_name_bad_entries() {
        let t = TrustedProxies::parse_list(" 10.0.0.0/8 ,::1,").unwrap();
        assert!(t.contains(ip("10.200.0.1")) && t.contains(ip("::1")));
        assert!(!t.contains(ip("11.0.0.1")));
        let err = TrustedProxies::parse_list("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
        assert!(TrustedProxies::parse_list("").unwrap().is_empty());
    }
}
