//! The `faultline` binary end to end: import, export, round trips.

use std::path::Path;
use std::process::{Command, Output};

/// Our own scenario document: thirteen cases, one of them titled
/// "CLOSE_WAIT Leak" (the id of a built-in playbook).
const CASEBOOK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/import/scenarios/network-scenarios.md"
);

fn faultline(data: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = faultline(data, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read_dir_sorted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn scenario_document_imports_as_thirteen_playbooks_and_round_trips() {
    let a = tempfile::tempdir().unwrap();
    let dry = ok(
        a.path(),
        &["import", CASEBOOK, "--dry-run", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_str(&dry).unwrap();
    let playbooks = json["playbooks"].as_array().unwrap();
    assert_eq!(playbooks.len(), 13);
    for p in playbooks {
        for section in ["investigation", "root_cause", "fix", "prevention"] {
            assert!(
                !p["sections"][section].as_str().unwrap().trim().is_empty(),
                "{} lacks {section}",
                p["id"]
            );
        }
        assert!(!p["alert"].as_str().unwrap().is_empty());
    }
    // A dry run stores nothing: the store holds only the 13 built-ins.
    let export_dry = a.path().join("after-dry");
    ok(a.path(), &["export", export_dry.to_str().unwrap()]);
    assert_eq!(read_dir_sorted(&export_dry).len(), 13);

    ok(a.path(), &["import", CASEBOOK]);
    let first = a.path().join("export-1");
    ok(a.path(), &["export", first.to_str().unwrap()]);
    let exported = read_dir_sorted(&first);
    // "CLOSE_WAIT Leak" becomes `close-wait-leak`, a built-in id: the import
    // is a new version of that playbook, not a second playbook.
    assert_eq!(exported.len(), 25, "13 built-ins plus 12 new ids");

    // Export -> import into a fresh store -> export: the same bytes.
    let b = tempfile::tempdir().unwrap();
    ok(b.path(), &["import", first.to_str().unwrap()]);
    let second = b.path().join("export-2");
    ok(b.path(), &["export", second.to_str().unwrap()]);
    assert_eq!(read_dir_sorted(&second), exported);
}

#[test]
fn import_of_a_malformed_playbook_names_file_and_line_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.md");
    std::fs::write(
        &bad,
        "+++\nid = \"bad\"\ntitle = \"x\"\nalert = \"y\"\nlayer = \"moon\"\n+++\n## Fix\n\nx\n",
    )
    .unwrap();
    let out = faultline(dir.path(), &["import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.md:5"), "{stderr}");
    let search = ok(dir.path(), &["search", "bad", "--format", "json"]);
    assert!(
        !search.contains("\"bad\""),
        "nothing was imported: {search}"
    );
}

/// A Hugo runbook site: what imports is stored, every other file is listed
/// with its reason, and the batch does not fail on the stub page.
#[test]
fn importing_a_runbook_site_lists_each_skipped_file_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/import/site");
    let out = ok(dir.path(), &["import", site]);
    assert!(out.contains("3 playbook(s)"), "{out}");
    assert!(out.contains("4 file(s) skipped"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("skipped ")
            && l.contains("HostConntrackTableFilling.md: a stub that only links elsewhere")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("skipped ") && l.contains("upstreams.txt: not a Markdown file")),
        "{out}"
    );
    let json = ok(
        dir.path(),
        &["import", site, "--dry-run", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["skipped"].as_array().unwrap().len(), 4, "{v}");
    assert!(v["skipped"][0]["reason"].is_string(), "{v}");
    let found = ok(
        dir.path(),
        &["search", "conntrack table full", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert!(
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == "host-conntrack-table-full"),
        "{v}"
    );
}

#[test]
fn unknown_command_and_missing_path_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(dir.path(), &["import", "/nonexistent/runbooks"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/runbooks"));
}

/// The run command is the only set-up: the first start creates an admin and
/// prints its password once; the second start does not.
#[test]
fn first_start_creates_an_admin_and_shows_its_password_once() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let data = tempfile::tempdir().unwrap();
    let start = |data: &Path| -> Vec<String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "faultline=info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            let serving = line.contains("serving on");
            lines.push(line);
            if serving {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        lines
    };
    let first = start(data.path()).join("\n");
    let password = first
        .split("with password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password shown on first start:\n{first}"))
        .to_owned();
    assert_eq!(password.len(), 24, "{first}");
    let second = start(data.path()).join("\n");
    assert!(!second.contains("with password"), "shown once:\n{second}");
    assert!(!second.contains(&password));
}

/// A child process killed and waited for however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn healthcheck(listen: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("healthcheck")
        .env("FAULTLINE_LISTEN", listen)
        .output()
        .unwrap()
}

/// Serves one connection on a loopback port with `answer`, or holds it
/// unanswered when `answer` is None, until the client hangs up.
fn one_answer(answer: Option<&'static [u8]>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let serve = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        if let Some(answer) = answer {
            let _ = conn.write_all(answer);
            return;
        }
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    (addr, serve)
}

/// `faultline healthcheck`, the server image's HEALTHCHECK: success while
/// the server FAULTLINE_LISTEN names (0.0.0.0, as in a container) answers
/// /healthz; a failure naming the address once it is gone, for a 503, for
/// something that is not HTTP, and after 3 s of silence.
#[test]
fn healthcheck_asks_the_server_the_configuration_names() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("0.0.0.0:{port}");
    let server = Running(
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("--data-dir")
            .arg(data.path())
            .arg("serve")
            .env("FAULTLINE_LISTEN", &listen)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = healthcheck(&listen);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never healthy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    let out = healthcheck(&listen);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{said}"
    );

    for (answer, expected) in [
        (
            Some(&b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"[..]),
            "answered 503",
        ),
        (Some(&b"SSH-2.0-OpenSSH_9.2\r\n"[..]), "not an HTTP answer"),
        (None, "did not answer within 3 s"),
    ] {
        let (addr, serve) = one_answer(answer);
        let started = Instant::now();
        let out = healthcheck(&addr);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(expected), "{expected}: {said}");
        assert!(started.elapsed() < Duration::from_secs(10), "{said}");
        serve.join().unwrap();
    }
}
