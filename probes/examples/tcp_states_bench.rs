//! Socket-state collection on N loopback connections: the probe (netlink
//! sock_diag) against `ss -tan` and against parsing /proc/net/tcp{,6}, in one
//! run, as ratios; plus the probe binary's peak RSS and size.
//!
//! cargo build --release -p faultline-probe --examples
//! target/release/examples/tcp_states_bench [N=21000]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use faultline_probe::collect::tcp_states;

const ROUNDS: usize = 7;

/// Connections per helper process: both ends live in the helper, and
/// RLIMIT_NOFILE may be as low as 20,000 with no way to raise it.
const PER_HELPER: usize = 7_000;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--hold") {
        return hold(args.next().context("--hold N")?.parse()?);
    }
    let n: usize = first.map(|a| a.parse()).transpose()?.unwrap_or(21_000);
    let helpers = spawn_helpers(n)?;
    let total = tcp_states::dump_netlink()?.len();
    println!("connections: {n} (sockets in the table: {total})");

    let probe = median(|| {
        let s = tcp_states::dump_netlink()?;
        Ok(tcp_states::summarize(&s).counts.len())
    })?;
    let dump = median(|| Ok(tcp_states::dump_netlink()?.len()))?;
    let proc_ = median(|| {
        let s = tcp_states::read_proc()?;
        Ok(tcp_states::summarize(&s).counts.len())
    })?;
    let ss = median(|| {
        let out = Command::new("ss")
            .arg("-tan")
            .output()
            .context("running ss")?;
        Ok(out.stdout.split(|b| *b == b'\n').count())
    })?;
    println!("probe netlink + summary: {:>8.2} ms", ms(probe));
    println!("  of which the dump:     {:>8.2} ms", ms(dump));
    println!(
        "ss -tan:                 {:>8.2} ms  ({:.1}x the probe)",
        ms(ss),
        ratio(ss, probe)
    );
    println!(
        "/proc/net/tcp parse:     {:>8.2} ms  ({:.1}x the probe)",
        ms(proc_),
        ratio(proc_, probe)
    );
    binary_stats();
    for mut h in helpers {
        drop(h.stdin.take());
        h.wait()?;
    }
    Ok(())
}

/// Starts helpers holding n connections in total; returns once all are up.
fn spawn_helpers(n: usize) -> Result<Vec<Child>> {
    let exe = std::env::current_exe()?;
    let mut helpers = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(PER_HELPER);
        left -= k;
        let mut child = Command::new(&exe)
            .args(["--hold", &k.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().context("helper stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("helper failed to open {k} connections");
        }
        helpers.push(child);
    }
    Ok(helpers)
}

/// Helper: hold k connections until stdin closes.
fn hold(k: usize) -> Result<()> {
    let _conns = connections(k)?;
    println!("ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

/// n established connections spread over 8 listeners (keeps every accept queue short).
fn connections(n: usize) -> Result<(Vec<TcpListener>, Vec<TcpStream>, Vec<TcpStream>)> {
    let listeners: Vec<TcpListener> = (0..8)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    for i in 0..n {
        let l = &listeners[i % listeners.len()];
        clients.push(TcpStream::connect(l.local_addr()?)?);
        servers.push(l.accept()?.0);
    }
    Ok((listeners, clients, servers))
}

/// Median wall time of ROUNDS runs (after one warm-up).
fn median(mut f: impl FnMut() -> Result<usize>) -> Result<Duration> {
    f()?;
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f().map(|_| t.elapsed())
        })
        .collect::<Result<_>>()?;
    times.sort();
    Ok(times[ROUNDS / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// Peak RSS of a full `faultline-probe collect` while the connections exist, and binary size.
fn binary_stats() {
    let exe = std::env::current_exe().ok();
    let Some(bin) = exe
        .as_ref()
        .and_then(|e| Some(e.parent()?.parent()?.join("faultline-probe")))
    else {
        return;
    };
    if let Ok(meta) = std::fs::metadata(&bin) {
        println!(
            "binary size: {:.2} MiB ({})",
            meta.len() as f64 / 1048576.0,
            bin.display()
        );
    }
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&bin)
        .args(["collect", "--for", "0", "--out", "/dev/null"])
        .output();
    let elapsed = started.elapsed();
    match out {
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let kb = stderr.lines().last().unwrap_or_default().trim();
            println!(
                "full `collect` (all host collectors): {:.0} ms, peak RSS {kb} KiB",
                ms(elapsed)
            );
        }
        Err(e) => println!("peak RSS: n/a ({e})"),
    }
}
