//! What every reproduction stands on: network namespaces and veth pairs the
//! lab creates and deletes itself, child processes killed on drop, iptables
//! rules removed on drop, the real probe and the real server.
//!
//! Everything here is bounded: each command has a timeout, each wait a
//! deadline, and each guard undoes its work in `Drop`, so a failing or
//! panicking scenario still leaves the machine as it found it.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// Prefix of every namespace the lab creates; the process id follows it so
/// two labs on one machine never touch each other's namespaces.
pub const NS_PREFIX: &str = "fl-lab";

/// Runs `cmd` to completion within `limit`, killing it when it overruns.
pub fn run_for(cmd: &mut Command, limit: Duration) -> Result<Output> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    // Drain the pipes in threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_t = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{shown} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    })
}

/// Runs a command that must succeed; the error carries its stderr.
pub fn must(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = run_for(cmd, Duration::from_secs(30))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A program on PATH, or why a scenario cannot run.
pub fn need_tool(name: &str) -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not installed (scripts/test installs it)"
        ))
    }
}

/// Whether this process may create network namespaces (root, CAP_NET_ADMIN).
pub fn can_netns() -> Result<(), String> {
    need_tool("ip")?;
    let name = format!("{NS_PREFIX}-probe-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        Ok(())
    } else {
        Err("cannot create network namespaces (needs root / CAP_NET_ADMIN)".into())
    }
}

/// Deletes namespaces a previous lab left behind when it was killed (its
/// process id is gone). Only names with the lab's prefix are touched.
pub fn sweep_stale_namespaces() {
    let Ok(out) = must(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for line in out.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(&format!("{NS_PREFIX}-")) else {
            continue;
        };
        let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// A network namespace, deleted on drop (with every interface in it).
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `fl-lab-<tag>-<pid>` with loopback up.
    pub fn new(tag: &str) -> Result<Netns> {
        let name = format!("{NS_PREFIX}-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        must(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NS ARGS…`
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        must(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command that runs inside the namespace.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `sh -c SCRIPT` inside the namespace, which must succeed.
    pub fn sh(&self, script: &str) -> Result<String> {
        must(self.cmd("sh").arg("-c").arg(script))
    }

    /// Sets a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        must(
            self.cmd("sysctl")
                .args(["-q", "-w", &format!("{key}={value}")]),
        )?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces with a veth pair: `a_if` with `a_addr` (CIDR) in `a`,
/// `b_if` with `b_addr` in `b`, both up, both with `mtu`.
pub fn veth(
    a: &Netns,
    a_if: &str,
    a_addr: &str,
    b: &Netns,
    b_if: &str,
    b_addr: &str,
    mtu: u32,
) -> Result<()> {
    let mtu = mtu.to_string();
    a.ip(&[
        "link", "add", a_if, "mtu", &mtu, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ])?;
    b.ip(&["link", "set", b_if, "mtu", &mtu])?;
    a.ip(&["addr", "add", a_addr, "dev", a_if])?;
    b.ip(&["addr", "add", b_addr, "dev", b_if])?;
    a.ip(&["link", "set", a_if, "up"])?;
    b.ip(&["link", "set", b_if, "up"])?;
    Ok(())
}

/// A child process, killed and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    /// Ask with SIGTERM before SIGKILL (a master process that must take
    /// its workers down with it, as nginx's does).
    term_first: bool,
}

impl Proc {
    /// Starts `cmd` with output to `log` (or discarded).
    pub fn spawn(name: &str, cmd: &mut Command, log: Option<&Path>) -> Result<Proc> {
        let (out, err) = match log {
            Some(p) => {
                let f = fs::File::create(p)?;
                (Stdio::from(f.try_clone()?), Stdio::from(f))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            term_first: false,
        })
    }

    /// On drop, SIGTERM first and up to 5 s to exit, then SIGKILL.
    pub fn stop_with_term(mut self) -> Proc {
        self.term_first = true;
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM") to this process only.
    pub fn signal(&self, signal: &str) -> Result<()> {
        must(
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(self.pid().to_string()),
        )?;
        Ok(())
    }

    /// Fails if the process has already exited.
    pub fn alive(&mut self) -> Result<()> {
        if let Some(s) = self.child.try_wait()? {
            bail!("{} exited early: {s}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.term_first
            && matches!(self.child.try_wait(), Ok(None))
            && self.signal("TERM").is_ok()
        {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An iptables rule added in a namespace, deleted on drop (`-A` becomes `-D`).
pub struct Rule {
    ns: String,
    table: String,
    spec: Vec<String>,
}

impl Rule {
    pub fn add(ns: &Netns, table: &str, spec: &[&str]) -> Result<Rule> {
        must(
            ns.cmd("iptables")
                .args(["-w", "5", "-t", table, "-A"])
                .args(spec),
        )?;
        Ok(Rule {
            ns: ns.name.clone(),
            table: table.into(),
            spec: spec.iter().map(|s| s.to_string()).collect(),
        })
    }
}

impl Drop for Rule {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.ns, "iptables", "-w", "5", "-t"])
            .arg(&self.table)
            .arg("-D")
            .args(&self.spec)
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits until `addr` accepts TCP connections (from the namespace `ns`, or
/// from here when `ns` is None).
pub fn wait_listening(ns: Option<&Netns>, addr: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    let (host, port) = addr.rsplit_once(':').context("addr is host:port")?;
    loop {
        let ok = match ns {
            None => TcpStream::connect_timeout(&addr.parse()?, Duration::from_millis(300)).is_ok(),
            Some(ns) => {
                // A TCP connect from inside the namespace, without a shell loop.
                let script = format!("exec 3<>/dev/tcp/{host}/{port}");
                ns.cmd("bash")
                    .arg("-c")
                    .arg(script)
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            }
        };
        if ok {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{addr} not listening after {limit:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until something listens on UDP `port` inside `ns`.
pub fn wait_udp(ns: &Netns, port: u16, limit: Duration) -> Result<()> {
    let filter = format!("sport = :{port}");
    let ok = wait_until(limit, || {
        ns.cmd("ss")
            .args(["-Hlun", &filter])
            .stderr(Stdio::null())
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
    });
    if ok {
        Ok(())
    } else {
        bail!("nothing listening on UDP port {port} after {limit:?}")
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The lab's own executable: helpers are this binary run as `lab helper …`.
pub fn lab_exe() -> PathBuf {
    std::env::current_exe().expect("current exe")
}

/// `target/debug/faultline-probe`, built once per lab run.
pub fn probe_exe() -> Result<PathBuf> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let server = PathBuf::from(env!("CARGO_BIN_EXE_faultline"));
            let dir = server.parent().expect("bin dir").to_path_buf();
            let probe = dir.join("faultline-probe");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let built = run_for(
                Command::new(cargo)
                    .args(["build", "-q", "--locked", "-p", "faultline-probe"])
                    .current_dir(env!("CARGO_MANIFEST_DIR")),
                Duration::from_secs(900),
            );
            match built {
                Ok(o) if o.status.success() && probe.is_file() => Ok(probe),
                Ok(o) => Err(format!(
                    "cargo build -p faultline-probe failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// A running `faultline serve` on a free loopback port with a temporary
/// data directory, and a collector token for the probe.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub token: String,
    _proc: Proc,
}

impl Server {
    pub fn start() -> Result<Server> {
        let exe = env!("CARGO_BIN_EXE_faultline");
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let token =
            must(
                Command::new(exe)
                    .arg("--data-dir")
                    .arg(&data)
                    .args(["collector", "add", "lab"]),
            )?
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .context("collector add printed no token")?
            .trim()
            .to_string();
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let proc = Proc::spawn(
            "faultline serve",
            Command::new(exe)
                .arg("--data-dir")
                .arg(&data)
                .args(["serve", "--listen", &addr.to_string()])
                .env("FAULTLINE_ANONYMOUS_READ", "true"),
            Some(&dir.path().join("serve.log")),
        )?;
        let mut server = Server {
            dir,
            addr,
            token,
            _proc: proc,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http(server.addr, "GET", "/healthz", None, b"") {
                return Ok(server);
            }
            server._proc.alive()?;
            if Instant::now() >= deadline {
                bail!("faultline serve not healthy within 60 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A small HTTP/1.1 request over a fresh connection; (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no header end")?;
    let mut payload = raw[split + 4..].to_vec();
    if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    Ok((status, payload))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || nl + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}

/// One `faultline-probe collect` run in `ns` (or here), with the report
/// written to `out`. The run is bounded by `limit`.
pub fn probe_collect(
    ns: Option<&Netns>,
    args: &[String],
    out: &Path,
    limit: Duration,
) -> Result<Value> {
    let probe = probe_exe()?;
    let mut cmd = match ns {
        Some(ns) => ns.cmd(&probe),
        None => Command::new(&probe),
    };
    cmd.arg("collect").arg("--out").arg(out).args(args);
    let o = run_for(&mut cmd, limit)?;
    if !o.status.success() {
        bail!(
            "faultline-probe collect failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let text = fs::read(out).context("probe wrote no report")?;
    Ok(serde_json::from_slice(&text)?)
}

/// What the server said about one report.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The top likely playbook, or None when nothing was likely.
    pub top: Option<String>,
    pub score: f64,
    pub report_id: String,
}

/// Ships `report` with `faultline-probe send`, then posts it again (the
/// report id makes that harmless) to read the ingest answer's diagnosis.
pub fn ship(server: &Server, report_path: &Path) -> Result<Verdict> {
    let probe = probe_exe()?;
    let o = run_for(
        Command::new(probe).arg("send").arg(report_path).args([
            "--server",
            &server.url(),
            "--token",
            &server.token,
        ]),
        Duration::from_secs(60),
    )?;
    if !o.status.success() {
        bail!(
            "faultline-probe send failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let body = fs::read(report_path)?;
    let (status, answer) = http(
        server.addr,
        "POST",
        "/api/v1/reports",
        Some(&server.token),
        &body,
    )?;
    if !(200..300).contains(&status) {
        bail!(
            "POST /api/v1/reports answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let v: Value = serde_json::from_slice(&answer)?;
    let first = &v["diagnosis"]["matches"][0];
    Ok(Verdict {
        top: first["playbook"].as_str().map(str::to_string),
        score: first["score"].as_f64().unwrap_or(0.0),
        report_id: v["report_id"].as_str().unwrap_or("").to_string(),
    })
}

/// The best candidates of a report with every clause's state, for the
/// failure message of a scenario that was reproduced but misdiagnosed.
pub fn explain(report_path: &Path) -> String {
    let Ok(bytes) = fs::read(report_path) else {
        return String::new();
    };
    let Ok(report) = faultline_probe::report::Report::from_json(&bytes) else {
        return "report does not parse".into();
    };
    let signals = faultline::core::signals::derive(&report);
    let d = faultline::diagnose::diagnose(&faultline::diagnose::builtin_matcher(), &report);
    let mut s = String::new();
    for c in d.candidates.iter().take(4) {
        s += &format!(
            "  {} score {:.2} confidence {:.2}\n",
            c.playbook, c.score, c.confidence
        );
        for cl in &c.clauses {
            let seen: Vec<String> = cl
                .observed
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            s += &format!("    [{:?}] {}  ({})\n", cl.state, cl.when, seen.join(", "));
        }
    }
    let _ = signals;
    s
}

/// Adds an observation to a report file the probe wrote (facts the probe
/// has no collector for, such as a proxy's configured timeout).
pub fn add_observation(report_path: &Path, observation: Value) -> Result<()> {
    let mut v: Value = serde_json::from_slice(&fs::read(report_path)?)?;
    v["observations"]
        .as_array_mut()
        .context("report has no observations")?
        .push(observation);
    fs::write(report_path, serde_json::to_vec_pretty(&v)?)?;
    Ok(())
}

/// A temporary directory for one scenario's files.
pub fn workdir(tag: &str) -> Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix(&format!("fl-lab-{tag}-"))
        .tempdir()?)
}

/// Sleeps in short steps until `f` is true or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// One "pod" of a lab service, as `kubectl get pods -o json` shows it.
pub struct Pod<'a> {
    pub name: &'a str,
    pub restarts: u32,
    /// Why its container last ended, as Kubernetes words it ("Error", …).
    pub last_reason: Option<&'a str>,
    pub ready: bool,
    pub readiness_probe: bool,
    pub pre_stop: bool,
}

/// A pod list in the shape of `kubectl get pods -o json`, describing the
/// lab's own backend processes (what the probe's `--k8s-pods` reads).
pub fn pods_json(pods: &[Pod<'_>]) -> Value {
    let items: Vec<Value> = pods
        .iter()
        .map(|p| {
            let mut container = serde_json::json!({"name": "app"});
            if p.readiness_probe {
                container["readinessProbe"] = serde_json::json!({"tcpSocket": {"port": 8080}});
            }
            if p.pre_stop {
                container["lifecycle"] =
                    serde_json::json!({"preStop": {"exec": {"command": ["sleep", "5"]}}});
            }
            let mut status = serde_json::json!({"name": "app", "restartCount": p.restarts, "ready": p.ready});
            if let Some(r) = p.last_reason {
                status["lastState"] = serde_json::json!({"terminated": {"reason": r}});
            }
            serde_json::json!({
                "metadata": {"namespace": "lab", "name": p.name},
                "spec": {"containers": [container]},
                "status": {
                    "containerStatuses": [status],
                    "conditions": [{"type": "Ready", "status": if p.ready { "True" } else { "False" }}]
                }
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// A memory cgroup (v1) with a hard limit, removed on drop: a container's
/// memory limit, so that a leaking process is OOM-killed by the kernel for
/// real. None when this machine has no v1 memory controller.
pub struct MemCgroup {
    pub path: PathBuf,
}

impl MemCgroup {
    pub fn new(tag: &str, limit_bytes: u64) -> Option<MemCgroup> {
        let root = Path::new("/sys/fs/cgroup/memory");
        if !root.join("memory.limit_in_bytes").exists() {
            return None;
        }
        let path = root.join(format!("{NS_PREFIX}-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir(&path);
        fs::create_dir(&path).ok()?;
        let cg = MemCgroup { path };
        fs::write(
            cg.path.join("memory.limit_in_bytes"),
            limit_bytes.to_string(),
        )
        .ok()?;
        // No swap to escape into (the file is absent without swap accounting).
        let _ = fs::write(
            cg.path.join("memory.memsw.limit_in_bytes"),
            limit_bytes.to_string(),
        );
        Some(cg)
    }

    /// How many processes the kernel has OOM-killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        fs::read_to_string(self.path.join("memory.oom_control"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// `sh -c` prefix that moves the shell into the cgroup before `exec`.
    pub fn enter_script(&self) -> String {
        format!(
            "echo $$ > {}/cgroup.procs && exec \"$@\"",
            self.path.display()
        )
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        // Only an empty cgroup can be removed: give killed members a moment.
        for _ in 0..50 {
            if fs::remove_dir(&self.path).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}
