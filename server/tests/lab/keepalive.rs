//! Keep-alive race: nginx (the Debian package) in front of a backend whose
//! idle keep-alive timeout is far shorter than nginx's upstream
//! `keepalive_timeout` (2 s against 60 s in tests; Node's 5 s against
//! 60 s with production timers). The backend behaves as a busy Node.js
//! event loop does: when its idle timer and a new request fall due in the
//! same turn, the timer runs first and the connection closes under the
//! request, so nginx answers 502 and logs "upstream prematurely closed
//! connection".
//!
//! Diagnosed from the probe alone: no error log, no nginx.conf, no users'
//! traffic before it. The probe measures the backend's idle close and then
//! leaves silences of about that length between its requests through
//! nginx, which is when the race happens.

use std::time::Duration;

use anyhow::Result;

use crate::support::{self, Netns, Proc, lab_exe, probe_collect, ship, wait_listening, workdir};
use crate::{Lab, Run, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "keepalive",
        expect: "keepalive-race-502",
        needs: || support::need_tool("nginx"),
        run,
        group: "keepalive",
    }
}

/// nginx's upstream keep-alive timeout.
const PROXY_KEEPALIVE_S: u64 = 60;

fn run(lab: &Lab) -> Result<Run> {
    let dir = workdir("keepalive")?;
    let d = dir.path();
    let ns = Netns::new("ka")?;
    std::fs::create_dir_all(d.join("tmp"))?;
    let idle_ms = (lab.secs(2.0, 5.0) * 1000.0) as u64;
    let _backend = Proc::spawn(
        "backend",
        ns.cmd(lab_exe()).args([
            "helper",
            "http",
            "127.0.0.1:3000",
            &format!("idle_ms={idle_ms}"),
            "busy_share=0.5",
            "busy_ms=300",
        ]),
        None,
    )?;
    let p = d.display();
    let conf = format!(
        "user root;\nworker_processes 1;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log error;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n\
           upstream backend {{ server 127.0.0.1:3000; keepalive 16; keepalive_timeout {PROXY_KEEPALIVE_S}s; }}\n\
           server {{\n    listen 127.0.0.1:8080;\n    location / {{\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n{next}    }}\n  }}\n}}\n",
        next = next_upstream()
    );
    std::fs::write(d.join("nginx.conf"), conf)?;
    let _nginx = Proc::spawn(
        "nginx",
        ns.cmd("nginx")
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf")),
        Some(&d.join("nginx.out")),
    )?
    .stop_with_term();
    wait_listening(Some(&ns), "127.0.0.1:3000", Duration::from_secs(10))?;
    wait_listening(Some(&ns), "127.0.0.1:8080", Duration::from_secs(10))?;
    let report = d.join("report.json");
    // Long enough for about ten silences past the backend's idle close.
    let watch = lab.secs(24.0, 60.0);
    probe_collect(
        Some(&ns),
        &[
            "--for".into(),
            watch.to_string(),
            "--http".into(),
            "http://127.0.0.1:8080/".into(),
            "--keepalive".into(),
            "http://127.0.0.1:3000/".into(),
        ],
        &report,
        Duration::from_secs_f64(watch + 30.0),
    )?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: format!(
            "backend idle {idle_ms} ms vs nginx upstream keepalive_timeout {PROXY_KEEPALIVE_S}s; the probe alone (--http, --keepalive: no log, no nginx.conf){}",
            if next_upstream().is_empty() {
                ""
            } else {
                "; proxy_next_upstream off"
            }
        ),
    })
}

/// nginx retries a request that failed on a reused upstream connection
/// when the method is idempotent, so the probe's GETs would hide the race
/// that POSTs (never retried) turn into 502s. The lab turns the retry off
/// so its GETs stand in for POSTs; FAULTLINE_LAB_NGINX_RETRY=1 keeps
/// nginx's default (then only the error log shows the race).
fn next_upstream() -> &'static str {
    if std::env::var("FAULTLINE_LAB_NGINX_RETRY").is_ok_and(|v| v == "1") {
        ""
    } else {
        "      proxy_next_upstream off;\n"
    }
}
