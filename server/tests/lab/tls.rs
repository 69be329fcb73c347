//! TLS: certificates from a lab CA (root → intermediate → leaf, made with
//! the openssl CLI), served by `openssl s_server`.
//!
//! - incomplete chain: the server sends the leaf alone, without the
//!   intermediate, so a client that trusts the root cannot build a path.
//! - version mismatch: the server speaks TLS 1.2 only; the client runs
//!   under an openssl.cnf whose system default is TLS 1.3 only, so they
//!   share no version. The probe reads that same file.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::support::{
    self, Netns, Proc, add_observation, must, probe_collect, ship, wait_listening, workdir,
};
use crate::{Lab, Run, Scenario};

pub fn chain_scenario() -> Scenario {
    Scenario {
        name: "tls_chain",
        expect: "tls-incomplete-chain",
        needs: || support::need_tool("openssl"),
        run: run_chain,
        group: "tls_chain",
    }
}

pub fn version_scenario() -> Scenario {
    Scenario {
        name: "tls_version",
        expect: "tls-version-mismatch",
        needs: || support::need_tool("openssl"),
        run: run_version,
        group: "tls_version",
    }
}

const HOST: &str = "lab.faultline.test";

/// Root, intermediate and leaf (P-256) in `dir`: ca.pem, int.pem, leaf.pem, leaf.key.
fn make_pki(dir: &Path) -> Result<()> {
    let sh = |script: &str| must(Command::new("sh").arg("-c").arg(script).current_dir(dir));
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )?;
    std::fs::write(
        dir.join("int.ext"),
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )?;
    std::fs::write(
        dir.join("leaf.ext"),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:{HOST}\n"
        ),
    )?;
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    sh(&format!(
        "openssl req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=Faultline Lab Root CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    ))?;
    sh(&format!(
        "openssl req {key} -keyout int.key -out int.csr -subj '/CN=Faultline Lab Intermediate CA' && \
         openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out int.pem -days 2 -extfile int.ext"
    ))?;
    sh(&format!(
        "openssl req {key} -keyout leaf.key -out leaf.csr -subj '/CN={HOST}' && \
         openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext"
    ))?;
    Ok(())
}

fn server(ns: &Netns, dir: &Path, extra: &[&str]) -> Result<Proc> {
    let p = Proc::spawn(
        "openssl s_server",
        ns.cmd("openssl")
            .args(["s_server", "-accept", "127.0.0.1:8443", "-www", "-quiet"])
            .arg("-cert")
            .arg(dir.join("leaf.pem"))
            .arg("-key")
            .arg(dir.join("leaf.key"))
            .args(extra),
        Some(&dir.join("s_server.out")),
    )?;
    wait_listening(Some(ns), "127.0.0.1:8443", Duration::from_secs(10))?;
    Ok(p)
}

/// How one `openssl s_client` run ended.
struct ClientRun {
    /// The handshake and verification succeeded.
    ok: bool,
    stderr: String,
}

/// What a real client says: `openssl s_client`, under the openssl.cnf
/// `conf` when given (OPENSSL_CONF), its output (stdout and stderr) written
/// to `log`.
fn client(ns: &Netns, dir: &Path, conf: Option<&Path>, log: &Path) -> Result<ClientRun> {
    let mut cmd = ns.cmd("openssl");
    cmd.args([
        "s_client",
        "-connect",
        "127.0.0.1:8443",
        "-servername",
        HOST,
    ])
    .arg("-CAfile")
    .arg(dir.join("ca.pem"))
    .args(["-verify_return_error", "-brief"]);
    if let Some(conf) = conf {
        cmd.env("OPENSSL_CONF", conf);
    }
    let o = support::run_for(&mut cmd, Duration::from_secs(15))?;
    let mut text = o.stdout.clone();
    text.extend_from_slice(&o.stderr);
    std::fs::write(log, &text)?;
    Ok(ClientRun {
        ok: o.status.success(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// Whether OpenSSL's error output names a protocol version failure (the
/// peer's protocol_version alert, or our side refusing its version) rather
/// than, say, a verification or connection error.
fn version_failure(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "protocol version",
        "unsupported protocol",
        "wrong version number",
    ]
    .iter()
    .any(|m| s.contains(m))
}

fn collect(lab: &Lab, ns: &Netns, dir: &Path, log: Option<&Path>) -> Result<std::path::PathBuf> {
    let report = dir.join("report.json");
    let mut args: Vec<String> = vec![
        "--for".into(),
        "1".into(),
        "--tls".into(),
        "127.0.0.1:8443".into(),
        "--sni".into(),
        HOST.into(),
        "--ca".into(),
        dir.join("ca.pem").display().to_string(),
    ];
    if let Some(log) = log {
        args.extend(["--log".into(), log.display().to_string()]);
    }
    let _ = lab;
    probe_collect(Some(ns), &args, &report, Duration::from_secs(30))?;
    Ok(report)
}

fn run_chain(lab: &Lab) -> Result<Run> {
    let dir = workdir("tls-chain")?;
    make_pki(dir.path())?;
    let ns = Netns::new("tlsc")?;
    // The renewal went out without the intermediate: leaf only.
    let _server = server(&ns, dir.path(), &[])?;
    let log = dir.path().join("client.log");
    if client(&ns, dir.path(), None, &log)?.ok {
        bail!("a client trusting the lab root verified a leaf-only chain");
    }
    let report = collect(lab, &ns, dir.path(), Some(&log))?;
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: String::new(),
    })
}

fn run_version(lab: &Lab) -> Result<Run> {
    let dir = workdir("tls-version")?;
    make_pki(dir.path())?;
    let ns = Netns::new("tlsv")?;
    // A full chain, but TLS 1.2 only.
    let int = dir.path().join("int.pem").display().to_string();
    let _server = server(&ns, dir.path(), &["-cert_chain", &int, "-tls1_2"])?;
    // The client's policy (TLS 1.3 only) is an openssl.cnf system default:
    // the failing client runs under it and the probe's config_facts
    // collector reads it, so the fact reported is the one that governed it.
    let cnf = dir.path().join("openssl.cnf");
    std::fs::write(
        &cnf,
        "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n\
         system_default = system_default_sect\n[system_default_sect]\nMinProtocol = TLSv1.3\n",
    )?;
    let log = dir.path().join("client.log");
    // The same client without the lab openssl.cnf: the file is what breaks it.
    if !client(&ns, dir.path(), None, &log)?.ok {
        bail!(
            "s_client without the lab openssl.cnf failed against the TLS 1.2 server: the lab is broken"
        );
    }
    let failing = client(&ns, dir.path(), Some(&cnf), &log)?;
    if failing.ok {
        bail!(
            "s_client under the lab openssl.cnf (TLS 1.3 only) completed a handshake with a TLS 1.2-only server"
        );
    }
    if !version_failure(&failing.stderr) {
        bail!(
            "s_client under the lab openssl.cnf failed, but not on the protocol version: {}",
            failing.stderr.trim()
        );
    }
    let report = collect(lab, &ns, dir.path(), None)?;
    let facts = probe_collect(
        Some(&ns),
        &[
            "--no-host".into(),
            "--openssl-conf".into(),
            cnf.display().to_string(),
        ],
        &dir.path().join("facts.json"),
        Duration::from_secs(10),
    )?;
    if let Some(skipped) = facts
        .get("skipped")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
    {
        bail!("the config_facts collector skipped the lab openssl.cnf: {skipped}");
    }
    for o in facts["observations"]
        .as_array()
        .context("no observations")?
    {
        add_observation(&report, o.clone())?;
    }
    let verdict = ship(&lab.server, &report)?;
    Ok(Run {
        verdict,
        report,
        _dir: dir,
        note: "client.tls_versions read by the probe's config_facts collector from a lab openssl.cnf (MinProtocol = TLSv1.3); the failing client, openssl s_client with no version flag, ran under that same file (OPENSSL_CONF) and failed on the protocol version, while the same client without it connected; the probe reads the file and does not see the client's process".into(),
    })
}
