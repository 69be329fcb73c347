//! The `faultline-probe` binary end to end.
#![cfg(feature = "collectors")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use faultline_probe::report::Report;

const BIN: &str = env!("CARGO_BIN_EXE_faultline-probe");
const HOST_KINDS: [&str; 7] = [
    "tcp_states",
    "process_fds",
    "conntrack",
    "net_counters",
    "interfaces",
    "nat_rules",
    "dns_lookups",
];

fn probe(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn collect_on_this_host_covers_every_host_collector() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let o = probe(
        &["collect", "--out", out.to_str().unwrap(), "--for", "0"],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Report::from_json(&std::fs::read(&out).unwrap()).expect("valid v1 report");
    for kind in HOST_KINDS {
        let observed = r.observations.iter().any(|o| o.kind() == kind);
        let skipped = r.skipped.iter().find(|s| s.kind == kind);
        assert!(
            observed ^ skipped.is_some(),
            "{kind}: observed={observed} skipped={skipped:?}"
        );
        if let Some(s) = skipped {
            assert!(!s.reason.is_empty());
        }
    }
    // These need nothing optional and must always be measured.
    for kind in ["tcp_states", "process_fds", "net_counters", "interfaces"] {
        assert!(
            r.observations.iter().any(|o| o.kind() == kind),
            "{kind} missing: {:?}",
            r.skipped
        );
    }
}

#[test]
fn out_may_be_a_bare_file_name_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["collect", "--out", "report.json", "--for", "0"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Report::from_json(&std::fs::read(dir.path().join("report.json")).unwrap())
        .expect("valid v1 report");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.json"], "no temporary file left behind");
    // Even `--for 0` watches the host for a second: two socket samples.
    let window = r
        .observations
        .iter()
        .find_map(|o| match o {
            faultline_probe::report::Observation::TcpStates(t) => t.window.clone(),
            _ => None,
        })
        .expect("socket states over a window");
    assert!(window.samples >= 2 && window.seconds >= 0.9, "{window:?}");
}

#[test]
fn out_may_be_a_pipe_which_stays_a_pipe() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = probe(
        &[
            "collect",
            "--out",
            fifo.to_str().unwrap(),
            "--for",
            "0",
            "--no-host",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Checked before waiting for the reader, which a replaced pipe would
    // leave waiting for ever.
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "not replaced by a file: {kind:?}");
    let bytes = reader.join().unwrap();
    Report::from_json(&bytes).expect("the report came through the pipe");
}

#[test]
fn targeted_only_with_stdin_pods_and_a_log() {
    let pods = std::fs::read(fixture("pods.json")).unwrap();
    let log = fixture("nginx_error.log");
    let o = probe(
        &["collect", "--no-host", "--k8s-pods", "-", "--log", &log],
        Some(&pods),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Report::from_json(&o.stdout).unwrap();
    let mut kinds: Vec<&str> = r.observations.iter().map(|o| o.kind()).collect();
    kinds.sort();
    assert_eq!(kinds, ["k8s_pods", "log_matches"]);
}

#[test]
fn unreachable_target_is_skipped_with_reason_and_exit_zero() {
    let port = common::free_port();
    let target = format!("127.0.0.1:{port}");
    let o = probe(
        &[
            "collect",
            "--no-host",
            "--lifetime",
            &target,
            "--keepalive",
            &format!("http://{target}/"),
        ],
        None,
    );
    assert!(o.status.success());
    let r = Report::from_json(&o.stdout).unwrap();
    assert!(r.observations.is_empty());
    let kinds: Vec<&str> = r.skipped.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["keepalive", "conn_lifetimes"]);
    assert!(
        r.skipped.iter().all(|s| s.reason.contains("refused")),
        "{:?}",
        r.skipped
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipped conn_lifetimes"));
}

#[test]
fn resolv_conf_flag_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let rc = dir.path().join("resolv.conf");
    std::fs::write(
        &rc,
        "nameserver 127.0.0.1\nsearch corp.test\noptions ndots:4\n",
    )
    .unwrap();
    let o = probe(
        &[
            "collect",
            "--resolv-conf",
            rc.to_str().unwrap(),
            "--for",
            "0",
        ],
        None,
    );
    let r = Report::from_json(&o.stdout).unwrap();
    let d = r.observations.iter().find_map(|o| match o {
        faultline_probe::report::Observation::DnsLookups(d) => Some(d),
        _ => None,
    });
    let r = d.and_then(|d| d.resolv_conf.as_ref());
    let r = r.expect("resolv.conf reported");
    assert_eq!(
        (r.ndots, r.search.clone()),
        (4, vec!["corp.test".to_string()])
    );
}

#[test]
fn send_posts_valid_reports_and_refuses_invalid_ones() {
    let s = common::sink("127.0.0.1:0", "tok", vec![]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("full_report.json")).unwrap())
            .unwrap();
    v["observations"][0]["counts"]["ESTABLISHED"] = serde_json::json!(-5);
    std::fs::write(&bad, v.to_string()).unwrap();
    let good = fixture("full_report.json");
    let o = probe(&["send", &good, "--server", &s.url, "--token", "tok"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.log.lock().unwrap().stored.len(), 1);
    let o = probe(
        &[
            "send",
            bad.to_str().unwrap(),
            "--server",
            &s.url,
            "--token",
            "tok",
        ],
        None,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("observations[0].counts.ESTABLISHED: must be >= 0"),
        "{err}"
    );
    assert_eq!(
        s.log.lock().unwrap().received.len(),
        1,
        "invalid report never sent"
    );
}

#[test]
fn redaction_from_config_hides_targets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("probe.toml");
    std::fs::write(&cfg, "[redact]\nkey = \"a-fleet-wide-secret-key\"\n").unwrap();
    let port = common::free_port();
    let target = format!("127.0.0.1:{port}");
    let o = probe(
        &[
            "collect",
            "--config",
            cfg.to_str().unwrap(),
            "--no-host",
            "--connect",
            &target,
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(text.contains(&format!(":{port}\"")), "port kept: {text}");
    Report::from_json(&o.stdout).unwrap();
}
