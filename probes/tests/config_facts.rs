//! `config_facts` against the real programs whose configuration it reads:
//! Debian's nginx (its `nginx -T` dump and its own error positions) and the
//! openssl CLI (whether a client under the openssl.cnf we read really
//! refuses the versions we say it does not offer).
#![cfg(feature = "collectors")]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use faultline_probe::collect::config_facts::{self as cf, nginx as n};
use faultline_probe::report::{Observation, Report};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_faultline-probe");

fn tool(name: &str) -> &str {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed (scripts/test installs it)");
    name
}

/// Stops the child when the test ends, however it ends: SIGTERM first, so
/// nginx's master takes its worker down with it (SIGKILL to the master
/// leaves the worker running), then SIGKILL if it has not gone in 5 s.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A small site split over includes, as packaged nginx lays it out.
fn nginx_site(d: &Path, port: u16) {
    let p = d.display();
    write(
        d,
        "nginx.conf",
        &format!(
            "user root;\nworker_processes 1;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log error;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n\
               keepalive_timeout 65;\n\
               include conf.d/*.conf;\n\
             }}\n"
        ),
    );
    write(
        d,
        "conf.d/upstreams.conf",
        "# two pools: the single fact is the smaller timeout\n\
         upstream api { server 127.0.0.1:9; keepalive 16; keepalive_timeout 1m30s; }\n\
         upstream static { server 127.0.0.1:9; keepalive 4; }\n",
    );
    write(
        d,
        "conf.d/site.conf",
        &format!(
            "server {{\n  listen 127.0.0.1:{port};\n  keepalive_timeout \"20s\";\n\
               location /api/ {{ proxy_pass http://api; proxy_read_timeout 500ms; }}\n\
               location / {{ proxy_pass http://static; }}\n}}\n"
        ),
    );
}

fn nginx_cmd(d: &Path, conf: &str) -> Command {
    let mut c = Command::new(tool("nginx"));
    c.arg("-p")
        .arg(d)
        .arg("-e")
        .arg(d.join("error.log"))
        .arg("-c")
        .arg(d.join(conf));
    c
}

fn facts_of(o: &Observation) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(o).unwrap() {
        serde_json::Value::Object(m) => m,
        v => panic!("{v}"),
    }
}

#[test]
fn nginx_t_of_a_running_nginx_matches_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    let port = common::free_port();
    nginx_site(d, port);
    let _nginx = Kill(
        nginx_cmd(d, "nginx.conf")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);

    let dump = nginx_cmd(d, "nginx.conf").arg("-T").output().unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8(dump.stdout).unwrap();
    assert!(text.contains("# configuration file "), "not a dump: {text}");

    let from_dump = n::facts(&n::load_text(&text, "<stdin>", Path::new("/")).unwrap()).unwrap();
    let from_files = n::facts(&n::load_file(&d.join("nginx.conf")).unwrap()).unwrap();
    assert_eq!(from_dump, from_files);
    assert_eq!(from_files["proxy.upstream_keepalive_timeout_s"], json!(60));
    assert_eq!(
        from_files["proxy.upstream.api.keepalive_timeout_s"],
        json!(90)
    );
    assert_eq!(
        from_files["proxy.upstream.static.keepalive_timeout_s"],
        json!(60)
    );
    assert_eq!(from_files["proxy.read_timeout_s"], json!(0.5));
    assert_eq!(from_files["proxy.client_keepalive_timeout_s"], json!(20));

    // The binary, fed the dump on stdin, reports the same facts.
    let report = probe(
        &["collect", "--no-host", "--nginx-conf", "-"],
        text.as_bytes(),
    );
    let r = Report::from_json(&report.stdout).expect("valid v1 report");
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let obs = facts_of(&r.observations[0]);
    assert_eq!(obs["kind"], "config_facts");
    assert_eq!(obs["source"], "nginx: stdin");
    assert_eq!(obs["facts"]["proxy.read_timeout_s"], json!(0.5));
    assert!(obs.get("stated").is_none());
}

fn probe(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Each bad file, given to `nginx -t` and to the collector: both refuse it
/// and both point at the same file and line.
#[test]
fn bad_configuration_is_refused_at_the_line_nginx_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = d.display();
    let head = format!("pid {p}/nginx.pid;\nevents {{}}\n");
    for (i, (body, inc)) in [
        ("http {\n  server {\n", None),
        ("http {\n}\n}\n", None),
        ("http {\n  keepalive_timeout 3y;\n}\n", None),
        (
            "http {\n  keepalive_timeout 1s;\n  keepalive_timeout 2s;\n}\n",
            None,
        ),
        (
            "http {\n  include inc/*.conf;\n}\n",
            Some("upstream u {\n  server 127.0.0.1:9;\n  keepalive_timeout 10q;\n}\n"),
        ),
        ("http {\n  include inc/absent.conf;\n}\n", None),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("bad{i}.conf");
        write(d, &name, &format!("{head}{body}"));
        if let Some(text) = inc {
            write(d, "inc/u.conf", text);
        }
        let t = nginx_cmd(d, &name).arg("-t").output().unwrap();
        assert!(!t.status.success(), "nginx accepted {name}");
        let stderr = String::from_utf8_lossy(&t.stderr);
        let at = stderr
            .lines()
            .find(|l| l.contains("[emerg]"))
            .and_then(|l| l.rsplit(" in ").next())
            .unwrap_or_else(|| panic!("no position in {stderr}"))
            .trim()
            .to_string();
        let ours = n::load_file(&d.join(&name))
            .and_then(|c| n::facts(&c))
            .map(|_| ())
            .unwrap_err();
        let ours = format!("{ours:#}");
        assert!(
            ours.contains(&at),
            "{name}: nginx says {at:?}, we say {ours:?}"
        );
        let _ = std::fs::remove_dir_all(d.join("inc"));
    }
}

/// The openssl.cnf the collector reads is the one a real client obeys: a
/// client under MinProtocol TLSv1.3 cannot reach a TLS 1.2-only server,
/// under TLSv1.2 it can, and the facts say which versions it offers.
#[test]
fn openssl_conf_facts_match_what_the_client_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = Command::new(tool("openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let port = common::free_port();
    let _server = Kill(
        Command::new("openssl")
            .args([
                "s_server", "-quiet", "-www", "-tls1_2", "-cert", "cert.pem", "-key", "key.pem",
            ])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    for (min, versions, connects) in [
        ("TLSv1.3", json!(["TLSv1.3"]), false),
        ("TLSv1.2", json!(["TLSv1.2", "TLSv1.3"]), true),
    ] {
        let cnf = d.join(format!("{min}.cnf"));
        std::fs::write(
            &cnf,
            format!(
                "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n\
                 system_default = system_default_sect\n[system_default_sect]\nMinProtocol = {min}\n"
            ),
        )
        .unwrap();
        let client = Command::new("openssl")
            .args(["s_client", "-brief", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .env("OPENSSL_CONF", &cnf)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            client.status.success(),
            connects,
            "{min}: {}",
            String::from_utf8_lossy(&client.stderr)
        );
        let obs = facts_of(&cf::openssl(&cnf).unwrap());
        assert_eq!(obs["facts"]["client.tls_versions"], versions, "{min}");
        assert_eq!(obs["source"], format!("openssl: {}", cnf.display()));
    }
}

#[test]
fn collector_errors_are_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("nginx.conf");
    std::fs::write(&bad, "http {\n  keepalive_timeout forever;\n}\n").unwrap();
    let o = probe(
        &[
            "collect",
            "--no-host",
            "--nginx-conf",
            bad.to_str().unwrap(),
            "--openssl-conf",
            "/nonexistent/openssl.cnf",
            "--fact",
            "lb.idle_timeout_s=350",
            "--fact",
            "broken",
        ],
        b"",
    );
    let r = Report::from_json(&o.stdout).expect("valid v1 report");
    let reasons: Vec<&str> = r.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(r.skipped.len(), 3, "{reasons:?}");
    assert!(r.skipped.iter().all(|s| s.kind == "config_facts"));
    assert!(
        reasons
            .iter()
            .any(|x| x.contains("nginx.conf:2: invalid time \"forever\"")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|x| x.contains("/nonexistent/openssl.cnf")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|x| x.contains("\"broken\": expected NAME=VALUE")),
        "{reasons:?}"
    );
    // One bad --fact skips the stated facts as a whole: none is half-taken.
    assert!(r.observations.is_empty());
}

#[test]
fn only_one_collector_may_read_stdin() {
    let o = Command::new(BIN)
        .args([
            "collect",
            "--no-host",
            "--nginx-conf",
            "-",
            "--k8s-pods",
            "-",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("both want stdin"));
}
