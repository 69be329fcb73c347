//! Socket-state collection on N loopback connections: the probe (netlink
//! sock_diag) against `ss -tan` and against parsing /proc/net/tcp{,6}, in one
//! run, as ratios of wall time and of CPU time (user + sys) per collection;
//! plus the probe binary's peak RSS and size.
//!
//! CPU time comes from /proc/self/stat: this process's own for the probe's
//! collection (it runs in-process, single-threaded), its reaped children's
//! for `ss`. The kernel counts it in ticks of 10 ms (USER_HZ = 100), so it
//! is summed over all rounds and divided.
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

    let probe = measure(Clock::Own, || {
        let s = tcp_states::dump_netlink()?;
        Ok(tcp_states::summarize(&s).counts.len())
    })?;
    let dump = measure(Clock::Own, || Ok(tcp_states::dump_netlink()?.len()))?;
    let proc_ = measure(Clock::Own, || {
        let s = tcp_states::read_proc()?;
        Ok(tcp_states::summarize(&s).counts.len())
    })?;
    let ss = measure(Clock::Children, || {
        let out = Command::new("ss")
            .arg("-tan")
            .output()
            .context("running ss")?;
        Ok(out.stdout.split(|b| *b == b'\n').count())
    })?;
    println!("probe netlink + summary: {:>8.2} ms", ms(probe.wall));
    println!("  of which the dump:     {:>8.2} ms", ms(dump.wall));
    println!(
        "ss -tan:                 {:>8.2} ms  ({:.1}x the probe)",
        ms(ss.wall),
        ratio(ss.wall, probe.wall)
    );
    println!(
        "/proc/net/tcp parse:     {:>8.2} ms  ({:.1}x the probe)",
        ms(proc_.wall),
        ratio(proc_.wall, probe.wall)
    );
    println!("CPU per collection (user+sys, mean of {ROUNDS}):");
    println!("  CPU probe:             {:>8.2} ms", ms(probe.cpu));
    println!(
        "  CPU ss -tan:           {:>8.2} ms  ({:.1}x the probe)",
        ms(ss.cpu),
        ratio(ss.cpu, probe.cpu)
    );
    println!(
        "  CPU /proc/net/tcp:     {:>8.2} ms  ({:.1}x the probe)",
        ms(proc_.cpu),
        ratio(proc_.cpu, probe.cpu)
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

/// Whose CPU time a measurement counts.
#[derive(Clone, Copy)]
enum Clock {
    /// This process (the probe's collectors run in it).
    Own,
    /// Children that have exited and been waited for (`ss`).
    Children,
}

struct Measured {
    /// Median wall time of one run.
    wall: Duration,
    /// Mean CPU time (user + sys) of one run.
    cpu: Duration,
}

/// ROUNDS runs after one warm-up: the median wall time, and the mean CPU
/// time over all of them.
fn measure(clock: Clock, mut f: impl FnMut() -> Result<usize>) -> Result<Measured> {
    f()?;
    let cpu_before = cpu_time(clock)?;
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f().map(|_| t.elapsed())
        })
        .collect::<Result<_>>()?;
    let cpu = cpu_time(clock)?.saturating_sub(cpu_before) / ROUNDS as u32;
    times.sort();
    Ok(Measured {
        wall: times[ROUNDS / 2],
        cpu,
    })
}

/// Clock ticks per second of /proc's times (USER_HZ, fixed at 100 on Linux).
const USER_HZ: u64 = 100;

/// User + system CPU time so far, from /proc/self/stat (fields 14 and 15
/// for this process, 16 and 17 for its waited-for children).
fn cpu_time(clock: Clock) -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may hold spaces; it ends at the last ')'.
    let after_name = stat.rfind(')').context("malformed /proc/self/stat")? + 2;
    let fields: Vec<&str> = stat[after_name..].split(' ').collect();
    // fields[0] is field 3 (state).
    let (user, sys) = match clock {
        Clock::Own => (14, 15),
        Clock::Children => (16, 17),
    };
    let ticks = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .context("short /proc/self/stat")?
            .parse()
            .context("bad tick count in /proc/self/stat")
    };
    Ok(Duration::from_millis(
        (ticks(user)? + ticks(sys)?) * 1000 / USER_HZ,
    ))
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
    let probe =
        peak_rss_kib(Command::new(&bin).args(["collect", "--for", "0", "--out", "/dev/null"]));
    let elapsed = started.elapsed();
    match probe {
        Ok(kib) => println!(
            "full `collect` (all host collectors): {:.0} ms, peak RSS {kib} KiB",
            ms(elapsed)
        ),
        Err(e) => println!("peak RSS: n/a ({e})"),
    }
    match peak_rss_kib(Command::new("ss").arg("-tan")) {
        Ok(kib) => println!("ss -tan peak RSS {kib} KiB"),
        Err(e) => println!("ss -tan peak RSS: n/a ({e})"),
    }
}

/// Peak RSS of one run of `command`, from GNU time's `%M`.
fn peak_rss_kib(command: &mut Command) -> Result<u64> {
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%M"]).arg(command.get_program());
    timed.args(command.get_args());
    let out = timed.stdout(Stdio::null()).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default().trim();
    last.parse()
        .with_context(|| format!("no peak RSS from /usr/bin/time: {last:?}"))
}
