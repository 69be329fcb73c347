//! tls_handshake against real rustls servers on loopback, with a test PKI
//! (root → intermediate → leaf) made by rcgen.
#![cfg(feature = "collectors")]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use faultline_probe::collect::tls_handshake::{TlsOptions, collect};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, SupportedProtocolVersion};

struct Pki {
    dir: tempfile::TempDir,
    root_pem: String,
    leaf: CertificateDer<'static>,
    intermediate: CertificateDer<'static>,
    key: Vec<u8>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

fn pki(expired: bool) -> Pki {
    let root = CertifiedIssuer::self_signed(
        ca_params("Faultline Test Root"),
        KeyPair::generate().unwrap(),
    )
    .unwrap();
    let int = CertifiedIssuer::signed_by(
        ca_params("Faultline Test Intermediate"),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    let mut lp = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    lp.distinguished_name.push(DnType::CommonName, "localhost");
    if expired {
        lp.not_before = rcgen::date_time_ymd(2019, 1, 1);
        lp.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = lp.signed_by(&leaf_key, &int).unwrap();
    Pki {
        dir: tempfile::tempdir().unwrap(),
        root_pem: root.pem(),
        leaf: leaf.der().clone(),
        intermediate: int.der().clone(),
        key: leaf_key.serialize_der(),
    }
}

impl Pki {
    fn ca_file(&self) -> PathBuf {
        let p = self.dir.path().join("root.pem");
        std::fs::write(&p, &self.root_pem).unwrap();
        p
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// A TLS server that handshakes each connection, then closes it.
fn serve(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static SupportedProtocolVersion],
) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let cfg = cfg.clone();
            thread::spawn(move || {
                let mut stream = stream;
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut conn = ServerConnection::new(cfg).unwrap();
                while conn.is_handshaking() {
                    if conn.complete_io(&mut stream).is_err() {
                        return;
                    }
                }
                conn.send_close_notify();
                let _ = conn.complete_io(&mut stream);
            });
        }
    });
    addr
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn opts(pki: &Pki, sni: &str) -> TlsOptions {
    TlsOptions {
        sni: Some(sni.into()),
        ca: Some(pki.ca_file()),
    }
}

#[test]
fn full_chain_verifies_and_both_versions_work() {
    let p = pki(false);
    let addr = serve(vec![p.leaf.clone(), p.intermediate.clone()], p.key(), BOTH);
    let t = collect(&addr, &opts(&p, "localhost")).unwrap();
    assert_eq!(t.verify, "ok");
    assert_eq!(t.sni.as_deref(), Some("localhost"));
    assert_eq!((t.versions["TLSv1.2"], t.versions["TLSv1.3"]), (true, true));
    assert_eq!(t.chain.len(), 2);
    assert_eq!(t.chain[0].subject, "CN=localhost");
    assert_eq!(t.chain[0].issuer, "CN=Faultline Test Intermediate");
    assert_eq!(t.chain[1].issuer, "CN=Faultline Test Root");
    assert!(!t.chain[0].self_signed);
}

#[test]
fn leaf_only_chain_is_unknown_issuer_without_fetching() {
    let p = pki(false);
    let addr = serve(vec![p.leaf.clone()], p.key(), BOTH);
    let t = collect(&addr, &opts(&p, "localhost")).unwrap();
    assert_eq!(t.chain.len(), 1, "the chain as served");
    assert_eq!(t.verify, "unknown_issuer");
    assert!(
        t.versions["TLSv1.3"],
        "a bad chain does not hide the versions"
    );
}

#[test]
fn tls12_only_server() {
    let p = pki(false);
    let addr = serve(
        vec![p.leaf.clone(), p.intermediate.clone()],
        p.key(),
        &[&rustls::version::TLS12],
    );
    let t = collect(&addr, &opts(&p, "localhost")).unwrap();
    assert_eq!(
        (t.versions["TLSv1.2"], t.versions["TLSv1.3"]),
        (true, false)
    );
    assert_eq!(t.verify, "ok");
}

#[test]
fn wrong_name_is_name_mismatch() {
    let p = pki(false);
    let addr = serve(vec![p.leaf.clone(), p.intermediate.clone()], p.key(), BOTH);
    let t = collect(&addr, &opts(&p, "api.example.test")).unwrap();
    assert_eq!(t.verify, "name_mismatch");
    assert_eq!(t.sni.as_deref(), Some("api.example.test"));
}

#[test]
fn expired_leaf_is_expired() {
    let p = pki(true);
    let addr = serve(vec![p.leaf.clone(), p.intermediate.clone()], p.key(), BOTH);
    let t = collect(&addr, &opts(&p, "localhost")).unwrap();
    assert_eq!(t.verify, "expired");
    assert_eq!(
        t.chain[0].not_after.to_rfc3339(),
        "2020-01-01T00:00:00+00:00"
    );
}

#[test]
fn plain_tcp_is_handshake_failure() {
    let p = pki(false);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let t = collect(&addr, &opts(&p, "localhost")).unwrap();
    assert_eq!(t.verify, "handshake_failure");
    assert!(t.chain.is_empty());
    assert_eq!(
        (t.versions["TLSv1.2"], t.versions["TLSv1.3"]),
        (false, false)
    );
}

#[test]
fn ip_target_without_sni_sends_none() {
    let p = pki(false);
    let addr = serve(vec![p.leaf.clone(), p.intermediate.clone()], p.key(), BOTH);
    let t = collect(
        &addr,
        &TlsOptions {
            sni: None,
            ca: Some(p.ca_file()),
        },
    )
    .unwrap();
    assert_eq!(t.sni, None);
    assert_eq!(
        t.verify, "name_mismatch",
        "the leaf is for localhost, not 127.0.0.1"
    );
}
