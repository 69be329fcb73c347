//! Open connections per client address, capped, so one address cannot hold
//! all of `max_connections` (an idle or slowloris flood from one host).
//! Trusted proxies are not capped: every client behind them shares their
//! address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::forwarded::TrustedProxies;

/// Connection counts by peer address.
pub struct Peers {
    /// At most this many open connections per address (0: no cap).
    cap: usize,
    trusted: TrustedProxies,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
pub struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    pub fn new(cap: usize, trusted: TrustedProxies) -> Arc<Peers> {
        Arc::new(Peers {
            cap,
            trusted,
            open: Mutex::default(),
        })
    }

    /// A place for one more connection from `ip`, or `None` at its cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if self.cap > 0 && *n >= self.cap && !self.trusted.contains(ip) {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }

    /// Open connections from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_is_capped_alone_and_trusted_proxies_are_not() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peers = Peers::new(2, TrustedProxies::parse_list("10.0.0.1").unwrap());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = peers.admit(a).unwrap();
        let _second = peers.admit(a).unwrap();
        assert!(peers.admit(a).is_none(), "a third from one address");
        assert!(
            peers.admit(b).is_some(),
            "another address has its own count"
        );
        let through_proxy: Vec<_> = (0..5).map(|_| peers.admit(proxy).unwrap()).collect();
        assert_eq!(peers.open_from(proxy), through_proxy.len());
        drop(first);
        assert!(
            peers.admit(a).is_some(),
            "a closed connection frees its place"
        );
    }
}
