//! Links in messages: to the incident, the playbook, and the signed Right /
//! Wrong links.
//!
//! A Right / Wrong link opens the incident page with the verdict filled in
//! (`/incidents/{id}?verdict=right&playbook=…&until=…&sig=…`); the page
//! asks the engineer to confirm it, so login is still needed and nothing is
//! recorded by following a link (a chat client's link preview fetches it).
//! The signature (HMAC-SHA256 over the incident, playbook, verdict and
//! expiry, with a key the server makes once and keeps in the store, shared
//! by replicas) shows the page that Faultline wrote the link: a link someone
//! edited, or one past its expiry, is shown as such and offers nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

use crate::store::{DynStore, StoreResult, Verdict};

/// The store's name of the signing key.
const KEY_NAME: &str = "verdict-link-key";

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a verdict link is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    BadSignature,
}

/// Signs and checks verdict links with one key.
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: &[u8]) -> Signer {
        Signer { key: key.to_vec() }
    }

    fn signature(&self, incident: i64, playbook: &str, verdict: Verdict, until: i64) -> String {
        let message = format!(
            "verdict-link/v1\n{incident}\n{playbook}\n{}\n{until}",
            verdict.as_str()
        );
        hex(&hmac_sha256(&self.key, message.as_bytes()))
    }

    /// The query string of a verdict link valid until `until`.
    pub fn query(
        &self,
        incident: i64,
        playbook: &str,
        verdict: Verdict,
        until: DateTime<Utc>,
    ) -> String {
        let until = until.timestamp();
        format!(
            "verdict={}&playbook={}&until={until}&sig={}",
            verdict.as_str(),
            encode(playbook),
            self.signature(incident, playbook, verdict, until)
        )
    }

    /// Whether a link's parameters are as this server signed them and not
    /// expired at `now`.
    pub fn check(
        &self,
        incident: i64,
        playbook: &str,
        verdict: Verdict,
        until: i64,
        sig: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let expected = self.signature(incident, playbook, verdict, until);
        if !bool::from(expected.as_bytes().ct_eq(sig.trim().as_bytes())) {
            return Err(LinkError::BadSignature);
        }
        if now.timestamp() > until {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// Percent-encoding for a query value (playbook ids are URL-safe already;
/// this keeps any other text from breaking the link).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The address links start with and the signing key, loaded from the store
/// (made there on first use) once per process.
pub struct Links {
    base_url: String,
    valid: chrono::Duration,
    signer: OnceCell<Arc<Signer>>,
}

impl Links {
    /// `base_url` without its trailing slash; links valid `valid_days`.
    pub fn new(base_url: &str, valid_days: u64) -> Links {
        Links {
            base_url: base_url.trim_end_matches('/').to_owned(),
            valid: chrono::Duration::days(valid_days.clamp(1, 365) as i64),
            signer: OnceCell::new(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn incident(&self, id: i64) -> String {
        format!("{}/incidents/{id}", self.base_url)
    }

    pub fn playbook(&self, id: &str) -> String {
        format!("{}/playbooks/{}", self.base_url, encode(id))
    }

    /// A signed Right or Wrong link on `playbook` for incident `id`.
    pub fn verdict(
        &self,
        signer: &Signer,
        id: i64,
        playbook: &str,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) -> String {
        format!(
            "{}/incidents/{id}?{}#verdict",
            self.base_url,
            signer.query(id, playbook, verdict, now + self.valid)
        )
    }

    /// The signer, its key read from the store (made and stored on first
    /// use, so every replica signs alike).
    pub async fn signer(&self, store: &DynStore) -> StoreResult<Arc<Signer>> {
        self.signer
            .get_or_try_init(|| async {
                let candidate = hex(&rand::random::<[u8; 32]>());
                let key = store.server_secret(KEY_NAME, &candidate).await?;
                Ok(Arc::new(Signer::new(key.as_bytes())))
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn links_check_only_as_signed_and_until_they_expire() {
        let signer = Signer::new(b"key");
        let now = Utc::now();
        let links = Links::new("https://faultline.example.com/", 14);
        let link = links.verdict(&signer, 7, "close-wait-leak", Verdict::Right, now);
        assert!(link.starts_with("https://faultline.example.com/incidents/7?verdict=right&playbook=close-wait-leak&until="));
        assert!(link.ends_with("#verdict"));
        let query = link.split_once('?').unwrap().1.trim_end_matches("#verdict");
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_owned()
        };
        let until: i64 = param("until").parse().unwrap();
        let sig = param("sig");
        let check = |id, playbook, verdict, until, sig: &str, at| {
            signer.check(id, playbook, verdict, until, sig, at)
        };
        assert_eq!(
            check(7, "close-wait-leak", Verdict::Right, until, &sig, now),
            Ok(())
        );
        let bad = Err(LinkError::BadSignature);
        assert_eq!(
            check(8, "close-wait-leak", Verdict::Right, until, &sig, now),
            bad
        );
        assert_eq!(
            check(7, "mtu-blackhole", Verdict::Right, until, &sig, now),
            bad
        );
        assert_eq!(
            check(7, "close-wait-leak", Verdict::Wrong, until, &sig, now),
            bad
        );
        assert_eq!(
            check(7, "close-wait-leak", Verdict::Right, until + 1, &sig, now),
            bad
        );
        assert_eq!(
            check(7, "close-wait-leak", Verdict::Right, until, "00", now),
            bad
        );
        let later = now + chrono::Duration::days(15);
        assert_eq!(
            check(7, "close-wait-leak", Verdict::Right, until, &sig, later),
            Err(LinkError::Expired)
        );
        // Another key (another installation) does not accept it.
        assert_eq!(
            Signer::new(b"other").check(7, "close-wait-leak", Verdict::Right, until, &sig, now),
            bad
        );
    }
}
