//! Shipping: retries, backoff, Retry-After, 4xx, spool drain order and
//! durability across a killed probe, against a real HTTP sink on loopback.
#![cfg(feature = "collectors")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Reply, free_port, sink};
use faultline_probe::cli::Daemon;
use faultline_probe::config::Config;
use faultline_probe::report::{Collector, Report};
use faultline_probe::ship::{RetryPolicy, SendError, Shipper, drain};
use faultline_probe::spool::{Spool, SpoolLimits};

const TOKEN: &str = "collector-token";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
    }
}

fn report_bytes() -> (String, Vec<u8>) {
    let r = Report::new(Collector {
        name: "t".into(),
        host: "t".into(),
        labels: Default::default(),
    });
    (r.report_id.to_string(), serde_json::to_vec(&r).unwrap())
}

#[test]
fn retries_5xx_then_succeeds_and_is_stored_once() {
    let s = sink(
        "127.0.0.1:0",
        TOKEN,
        vec![
            Reply::Status(500, None),
            Reply::Status(503, None),
            Reply::Hangup,
        ],
    );
    let (id, body) = report_bytes();
    Shipper::new(&s.url, TOKEN, fast()).send(&body).unwrap();
    let log = s.log.lock().unwrap();
    assert_eq!(log.received.len(), 4, "three failures then success");
    assert!(log.received.iter().all(|(r, _)| *r == id));
    assert_eq!(log.stored.len(), 1);
}

#[test]
fn honours_retry_after_on_429() {
    let s = sink("127.0.0.1:0", TOKEN, vec![Reply::Status(429, Some(1))]);
    let (_, body) = report_bytes();
    let policy = RetryPolicy {
        cap: Duration::from_secs(5),
        ..fast()
    };
    Shipper::new(&s.url, TOKEN, policy).send(&body).unwrap();
    let log = s.log.lock().unwrap();
    assert_eq!(log.received.len(), 2);
    let gap = log.received[1].1 - log.received[0].1;
    assert!(gap >= Duration::from_millis(950), "waited {gap:?}");
}

#[test]
fn other_4xx_is_final_and_not_retried() {
    let s = sink("127.0.0.1:0", TOKEN, vec![Reply::Status(422, None)]);
    let (_, body) = report_bytes();
    let err = Shipper::new(&s.url, TOKEN, fast()).send(&body).unwrap_err();
    assert!(
        matches!(err, SendError::Rejected { status: 422, .. }),
        "{err}"
    );
    assert_eq!(s.log.lock().unwrap().received.len(), 1);
}

#[test]
fn wrong_token_keeps_the_report_spooled() {
    let s = sink("127.0.0.1:0", TOKEN, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), SpoolLimits::default()).unwrap();
    let (id, body) = report_bytes();
    spool.put(id.parse().unwrap(), &body).unwrap();
    let stats = drain(&spool, &Shipper::new(&s.url, "wrong", fast())).unwrap();
    assert_eq!((stats.sent, stats.rejected, stats.remaining), (0, 0, 1));
    assert_eq!(s.log.lock().unwrap().bad_auth, 1, "401 is not retried");
}

#[test]
fn gives_up_after_max_attempts_when_server_is_down() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let (_, body) = report_bytes();
    let started = Instant::now();
    let err = Shipper::new(&url, TOKEN, fast()).send(&body).unwrap_err();
    assert!(
        matches!(err, SendError::GaveUp { attempts: 4, .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn config(dir: &Path, server: &str) -> Config {
    let text = format!(
        "server = \"{server}\"\ntoken = \"{TOKEN}\"\ninterval_s = 1\nspool_dir = \"{}\"\n[collector]\nname = \"test\"\n[collect]\nno_host = true\n",
        dir.join("spool").display()
    );
    let path = dir.join("probe.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

#[test]
fn server_down_then_up_every_report_arrives_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = config(dir.path(), &format!("http://{addr}"));
    let daemon = Daemon::new(&cfg, fast()).unwrap();
    for _ in 0..3 {
        let stats = daemon.tick().unwrap();
        assert_eq!(stats.sent, 0);
    }
    let spooled: Vec<String> = daemon
        .spool()
        .entries()
        .unwrap()
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    assert_eq!(spooled.len(), 3);
    // The server comes back on the same address.
    let s = sink(&addr, TOKEN, vec![Reply::Status(503, None)]);
    let stats = daemon.tick().unwrap();
    assert_eq!((stats.sent, stats.remaining), (4, 0));
    assert!(daemon.spool().entries().unwrap().is_empty());
    let log = s.log.lock().unwrap();
    assert_eq!(log.stored.len(), 4);
    let ids: Vec<&String> = log.received.iter().map(|(id, _)| id).collect();
    // Oldest first: the spooled files' ids appear in spool order.
    for (file, id) in spooled.iter().zip(ids.iter().skip(1)) {
        assert!(file.contains(id.as_str()), "{file} vs {id}");
    }
    assert_eq!(
        log.received.len(),
        5,
        "one 503, then each report exactly once"
    );
}

#[test]
fn lost_acknowledgement_resends_the_same_report_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(
        "127.0.0.1:0",
        TOKEN,
        vec![Reply::Hangup, Reply::Hangup, Reply::Hangup, Reply::Hangup],
    );
    let cfg = config(dir.path(), &s.url);
    let daemon = Daemon::new(&cfg, fast()).unwrap();
    assert_eq!(daemon.tick().unwrap().sent, 0, "no answer, no delete");
    assert_eq!(daemon.spool().entries().unwrap().len(), 1);
    // A new daemon on the same spool (a restart) delivers it.
    drop(daemon);
    let daemon = Daemon::new(&cfg, fast()).unwrap();
    assert_eq!(daemon.tick().unwrap().sent, 2);
    let log = s.log.lock().unwrap();
    assert_eq!(log.stored.len(), 2);
    let first = &log.received[0].0;
    assert_eq!(
        log.received.iter().filter(|(id, _)| id == first).count(),
        5,
        "same report_id resent"
    );
}

#[test]
fn probe_killed_mid_send_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(
        "127.0.0.1:0",
        TOKEN,
        vec![Reply::Slow(Duration::from_secs(3))],
    );
    config(dir.path(), &s.url);
    let bin = env!("CARGO_BIN_EXE_faultline-probe");
    let spawn = || {
        Command::new(bin)
            .args(["run", "--config"])
            .arg(dir.path().join("probe.toml"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn();
    // Wait until the first POST is in flight, then kill -9 before it is answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.log.lock().unwrap().received.is_empty() {
        assert!(Instant::now() < deadline, "probe never sent");
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let spool = Spool::open(&dir.path().join("spool"), SpoolLimits::default()).unwrap();
    assert_eq!(
        spool.entries().unwrap().len(),
        1,
        "unacknowledged report survives the kill"
    );
    let mut child = spawn();
    thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let log = s.log.lock().unwrap();
    let distinct: std::collections::BTreeSet<&String> =
        log.received.iter().map(|(id, _)| id).collect();
    let left: Vec<String> = spool
        .entries()
        .unwrap()
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    // Every report was either stored or is still spooled; none was lost.
    for id in &distinct {
        assert!(
            log.stored.contains(*id) || left.iter().any(|f| f.contains(id.as_str())),
            "{id} lost"
        );
    }
    assert!(log.stored.len() >= 2, "{log:?}");
    assert!(
        log.received.len() > log.stored.len(),
        "the killed send was repeated under the same id"
    );
}

#[test]
fn https_server_with_a_private_ca() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Faultline Ship CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let s = common::https_sink(TOKEN, vec![leaf.der().clone()], key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let (id, body) = report_bytes();
    Shipper::with_ca(&s.url, TOKEN, fast(), &ca_file)
        .unwrap()
        .send(&body)
        .unwrap();
    assert!(s.log.lock().unwrap().stored.contains(&id));
    // The system store does not know the private CA: never sent in the clear, never accepted.
    let err = Shipper::new(&s.url, TOKEN, fast()).send(&body).unwrap_err();
    assert!(matches!(err, SendError::GaveUp { .. }), "{err}");
    assert_eq!(s.log.lock().unwrap().received.len(), 1);
}

#[test]
fn long_retry_after_pauses_all_sends_instead_of_retrying_early() {
    let s = sink("127.0.0.1:0", TOKEN, vec![Reply::Status(503, Some(120))]);
    let (_, body) = report_bytes();
    let shipper = Shipper::new(&s.url, TOKEN, fast());
    let started = Instant::now();
    let err = shipper.send(&body).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "did not sleep 120 s"
    );
    assert!(err.to_string().contains("Retry-After 120s"), "{err}");
    let err = shipper.send(&body).unwrap_err();
    assert!(err.to_string().contains("asked to wait"), "{err}");
    assert_eq!(
        s.log.lock().unwrap().received.len(),
        1,
        "no request during the pause"
    );
}
