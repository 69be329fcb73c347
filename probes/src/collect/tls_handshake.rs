//! `tls_handshake`: the chain a server sends, whether it verifies (against
//! the system roots or `--ca`, never fetching missing intermediates), and
//! which of TLS 1.2 and 1.3 it accepts.
//!
//! Each version gets its own handshake with a verifier that records the
//! served chain and the real verification result but lets the handshake
//! finish, so a bad chain does not hide which versions work.

use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::collect::connect_attempts::resolve;
use crate::report::{CertInfo, TlsHandshake};

/// Connect and handshake timeout.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Server name to send and verify; defaults to the target's host.
    pub sni: Option<String>,
    /// PEM bundle of trusted roots; defaults to the system store.
    pub ca: Option<std::path::PathBuf>,
}

/// Handshakes with `target` (`host:port`) once per TLS version.
pub fn collect(target: &str, opts: &TlsOptions) -> Result<TlsHandshake> {
    let host = target
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .context("target must be HOST:PORT")?;
    let name = opts.sni.clone().unwrap_or_else(|| host.to_string());
    let server_name =
        ServerName::try_from(name.clone()).map_err(|e| anyhow!("bad server name {name:?}: {e}"))?;
    let sni = matches!(server_name, ServerName::DnsName(_)).then(|| name.clone());
    let roots = Arc::new(load_roots(opts.ca.as_deref())?);
    let mut out = TlsHandshake {
        target: target.to_string(),
        sni,
        ..TlsHandshake::default()
    };
    let mut seen: Option<Seen> = None;
    for (label, version) in [
        ("TLSv1.3", &rustls::version::TLS13),
        ("TLSv1.2", &rustls::version::TLS12),
    ] {
        let capture = Arc::new(Capture::new(roots.clone())?);
        let ok = handshake(target, server_name.clone(), version, capture.clone()).is_ok();
        out.versions.insert(label.to_string(), ok);
        let got = capture
            .seen
            .lock()
            .map_err(|_| anyhow!("verifier lock poisoned"))?
            .take();
        if seen.is_none() {
            seen = got;
        }
    }
    match seen {
        Some(s) => {
            out.chain = s
                .chain
                .iter()
                .map(|c| cert_info(c))
                .collect::<Result<_>>()?;
            out.verify = verify_name(&s.verdict);
        }
        None => out.verify = "handshake_failure".into(),
    }
    Ok(out)
}

/// Roots from a PEM file, or the system store.
fn load_roots(ca: Option<&Path>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match ca {
        Some(path) => CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing PEM in {}", path.display()))?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        bail!(
            "no usable trust anchors ({})",
            ca.map_or("system store".into(), |p| p.display().to_string())
        );
    }
    Ok(roots)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn handshake(
    target: &str,
    name: ServerName<'static>,
    version: &'static rustls::SupportedProtocolVersion,
    capture: Arc<Capture>,
) -> Result<()> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])?
        .dangerous()
        .with_custom_certificate_verifier(capture)
        .with_no_client_auth();
    let mut conn = ClientConnection::new(Arc::new(config), name)?;
    let addr = resolve(target)?;
    let mut sock = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to {target}"))?;
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.set_write_timeout(Some(TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Ok(())
}

/// The chain as served and what real verification said about it.
#[derive(Debug)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Result<(), rustls::Error>,
}

/// Records the chain and verdict, then accepts, so the handshake can finish.
#[derive(Debug)]
struct Capture {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl Capture {
    fn new(roots: Arc<RootCertStore>) -> Result<Self> {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider()).build()?;
        Ok(Capture {
            inner,
            seen: Mutex::new(None),
        })
    }
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(|_| ());
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(Seen { chain, verdict });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Maps a verification error to the report's vocabulary.
fn verify_name(verdict: &Result<(), rustls::Error>) -> String {
    match verdict {
        Ok(()) => "ok".into(),
        Err(rustls::Error::InvalidCertificate(e)) => match e {
            CertificateError::UnknownIssuer => "unknown_issuer".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "name_mismatch".into()
            }
            other => format!("other: {other:?}"),
        },
        Err(e) => format!("other: {e}"),
    }
}

/// Subject, issuer and expiry of one DER certificate.
pub fn cert_info(der: &CertificateDer<'_>) -> Result<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow!("unparsable certificate: {e}"))?;
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    let ts = cert.validity().not_after.timestamp();
    let not_after: DateTime<Utc> =
        DateTime::from_timestamp(ts, 0).context("not_after out of range")?;
    Ok(CertInfo {
        self_signed: subject == issuer,
        subject,
        issuer,
        not_after,
    })
}
