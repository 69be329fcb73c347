//! The fault lab: each of the 13 playbooks' scenarios (14 runs: the idle
//! reset twice, at 3 s and at a hand-set 45 s) created for real on this
//! machine (loopback, network namespaces and veth pairs the lab makes and
//! removes), measured by the real `faultline-probe`, shipped to a real
//! `faultline serve`, and the top diagnosis checked.
//!
//! `cargo test -p faultline --test lab` runs them all (in parallel where
//! they share nothing) and prints a table. `FAULTLINE_LAB=close_wait,ndots`
//! runs some; `FAULTLINE_LAB_PRODUCTION=1` uses production timers (60 s
//! idle timeouts and the like) instead of the few seconds used in tests;
//! `FAULTLINE_LAB_KEEP=1` keeps the server up at the end so the reports can
//! be opened in a browser.
//!
//! A scenario whose capability is missing (not root, no nginx, …) is
//! reported as skipped with the reason, never silently passed; a scenario
//! that runs but is diagnosed wrong fails the test.
//!
//! This binary is also its own helper: `lab helper ROLE …` runs one of the
//! small servers the scenarios need (see `lab/helpers.rs`), so the helpers
//! can run inside a namespace with `ip netns exec`.

#[path = "lab/close_wait.rs"]
mod close_wait;
#[path = "lab/conntrack.rs"]
mod conntrack;
#[path = "lab/crashing.rs"]
mod crashing;
#[path = "lab/drain.rs"]
mod drain;
#[path = "lab/helpers.rs"]
mod helpers;
#[path = "lab/idle_reset.rs"]
mod idle_reset;
#[path = "lab/keepalive.rs"]
mod keepalive;
#[path = "lab/masquerade.rs"]
mod masquerade;
#[path = "lab/mtu.rs"]
mod mtu;
#[path = "lab/ndots.rs"]
mod ndots;
#[path = "lab/prometheus.rs"]
mod prometheus;
#[path = "lab/saturation.rs"]
mod saturation;
#[path = "lab/storm.rs"]
mod storm;
#[path = "lab/support.rs"]
mod support;
#[path = "lab/tls.rs"]
mod tls;

use std::process::ExitCode;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use support::{Server, Verdict};

/// What a scenario's run needs from the lab.
pub struct Lab {
    pub server: Server,
    /// Production timers (60 s) instead of test timers (a few seconds).
    pub production: bool,
}

impl Lab {
    /// `test` seconds in tests, `production` seconds with FAULTLINE_LAB_PRODUCTION.
    pub fn secs(&self, test: f64, production: f64) -> f64 {
        if self.production { production } else { test }
    }
}

/// One reproduction.
pub struct Scenario {
    pub name: &'static str,
    /// The playbook the diagnosis must put first.
    pub expect: &'static str,
    /// Why it cannot run on this machine, checked before it starts.
    pub needs: fn() -> Result<(), String>,
    /// Creates the fault, runs the probe, ships the report.
    pub run: fn(&Lab) -> anyhow::Result<Run>,
    /// Scenarios in the same group run one after the other (they share a
    /// resource such as the kernel log); groups run in parallel.
    pub group: &'static str,
}

/// What a run produced.
pub struct Run {
    pub verdict: Verdict,
    pub report: std::path::PathBuf,
    /// Kept alive until the row is printed (the report file lives in it).
    pub _dir: tempfile::TempDir,
    /// Anything the table's reader should know (facts the lab added, …).
    pub note: String,
}

enum Outcome {
    Diagnosed {
        top: String,
        score: f64,
        note: String,
        report_id: String,
    },
    Wrong {
        top: String,
        score: f64,
        why: String,
        report_id: String,
    },
    Failed(String),
    Skipped(String),
}

struct Row {
    name: &'static str,
    expect: &'static str,
    outcome: Outcome,
    took: Duration,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        close_wait::scenario(),
        tls::chain_scenario(),
        tls::version_scenario(),
        ndots::scenario(),
        idle_reset::scenario(),
        idle_reset::custom_scenario(),
        keepalive::scenario(),
        crashing::scenario(),
        drain::scenario(),
        masquerade::scenario(),
        mtu::scenario(),
        saturation::scenario(),
        storm::scenario(),
        conntrack::scenario(),
        storm::prometheus_scenario(),
        conntrack::prometheus_scenario(),
    ]
}

fn run_one(lab: &Lab, s: &Scenario) -> Row {
    let start = Instant::now();
    let outcome = match (s.needs)() {
        Err(why) => Outcome::Skipped(why),
        Ok(()) => match (s.run)(lab) {
            Err(e) => Outcome::Failed(format!("{e:#}")),
            Ok(run) => {
                let top = run
                    .verdict
                    .top
                    .clone()
                    .unwrap_or_else(|| "(none likely)".into());
                let outcome = if top == s.expect {
                    Outcome::Diagnosed {
                        top,
                        score: run.verdict.score,
                        note: run.note.clone(),
                        report_id: run.verdict.report_id.clone(),
                    }
                } else {
                    Outcome::Wrong {
                        top,
                        score: run.verdict.score,
                        why: support::explain(&run.report),
                        report_id: run.verdict.report_id.clone(),
                    }
                };
                if std::env::var("FAULTLINE_LAB_KEEP_FILES").is_ok_and(|v| v == "1") {
                    eprintln!(
                        "lab: {} files kept in {}",
                        s.name,
                        run._dir.keep().display()
                    );
                }
                outcome
            }
        },
    };
    Row {
        name: s.name,
        expect: s.expect,
        outcome,
        took: start.elapsed(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("helper") {
        return helpers::main(&args[2..]);
    }
    // As libtest does: flags (`--nocapture`, …) are accepted, a bare word
    // is a filter on the test names (`lab::<scenario>`), `--list` lists.
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let named = |s: &Scenario| {
        let full = format!("lab::{}", s.name);
        filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str()))
    };
    if args.iter().any(|a| a == "--list") {
        for s in scenarios().iter().filter(|s| named(s)) {
            println!("lab::{}: test", s.name);
        }
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let only: Option<Vec<String>> = std::env::var("FAULTLINE_LAB")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let chosen: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.name)))
        .filter(|s| named(s))
        .collect();
    if chosen.is_empty() {
        println!("fault lab: no scenario matches the filter");
        return ExitCode::SUCCESS;
    }

    let rows: Mutex<Vec<Row>> = Mutex::new(Vec::new());
    let lab = match support::can_netns().and_then(|()| {
        support::sweep_stale_namespaces();
        support::probe_exe().map_err(|e| format!("{e:#}"))?;
        Server::start().map_err(|e| format!("{e:#}"))
    }) {
        Ok(server) => Some(Lab {
            server,
            production: std::env::var("FAULTLINE_LAB_PRODUCTION").is_ok_and(|v| v == "1"),
        }),
        Err(why) => {
            let mut r = rows.lock().unwrap();
            for s in &chosen {
                r.push(Row {
                    name: s.name,
                    expect: s.expect,
                    outcome: Outcome::Skipped(why.clone()),
                    took: Duration::ZERO,
                });
            }
            None
        }
    };

    if let Some(lab) = &lab {
        let mut groups: Vec<&str> = chosen.iter().map(|s| s.group).collect();
        groups.sort_unstable();
        groups.dedup();
        thread::scope(|scope| {
            for g in groups {
                let (rows, chosen) = (&rows, &chosen);
                scope.spawn(move || {
                    for s in chosen.iter().filter(|s| s.group == g) {
                        let row = run_one(lab, s);
                        eprintln!(
                            "lab: {} finished in {:.1}s",
                            row.name,
                            row.took.as_secs_f64()
                        );
                        rows.lock().unwrap().push(row);
                    }
                });
            }
        });
    }

    let mut rows = rows.into_inner().unwrap();
    let order: Vec<&str> = chosen.iter().map(|s| s.name).collect();
    rows.sort_by_key(|r| order.iter().position(|n| *n == r.name));
    let failed = print_table(&rows, started.elapsed());
    if let Some(lab) = &lab
        && std::env::var("FAULTLINE_LAB_KEEP").is_ok_and(|v| v == "1")
    {
        let urls: Vec<String> = rows
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Diagnosed { report_id, .. } | Outcome::Wrong { report_id, .. } => {
                    Some(format!("{}/reports/{report_id}", lab.server.url()))
                }
                _ => None,
            })
            .collect();
        println!(
            "\nfaultline serve is still up at {} (data in {}). Ctrl-C to stop.",
            lab.server.url(),
            lab.server.dir.path().display()
        );
        for u in &urls {
            println!("  {u}");
        }
        if let Some(first) = urls.first() {
            // Open the first report (and its diagnosis) where a desktop can.
            let _ = std::process::Command::new("xdg-open")
                .arg(first)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the table; true when a scenario failed.
fn print_table(rows: &[Row], total: Duration) -> bool {
    let mut failed = false;
    println!("\nfault lab ({:.0} s)", total.as_secs_f64());
    println!(
        "{:<21} {:<10} {:<28} {:>5} {:>6}",
        "scenario", "reproduced", "top diagnosis", "score", "time"
    );
    for r in rows {
        let t = format!("{:.1}s", r.took.as_secs_f64());
        match &r.outcome {
            Outcome::Diagnosed { top, score, .. } => {
                println!(
                    "{:<21} {:<10} {:<28} {:>5.2} {:>6}",
                    r.name, "yes", top, score, t
                )
            }
            Outcome::Wrong { top, score, .. } => {
                println!(
                    "{:<21} {:<10} {:<28} {:>5.2} {:>6}  FAIL",
                    r.name, "yes", top, score, t
                )
            }
            Outcome::Failed(_) => {
                println!(
                    "{:<21} {:<10} {:<28} {:>5} {:>6}  FAIL",
                    r.name, "no", "-", "-", t
                )
            }
            Outcome::Skipped(_) => {
                println!(
                    "{:<21} {:<10} {:<28} {:>5} {:>6}  SKIP",
                    r.name, "skipped", "-", "-", t
                )
            }
        }
    }
    for r in rows {
        match &r.outcome {
            Outcome::Diagnosed { note, .. } if !note.is_empty() => {
                println!("\nnote {}: {note}", r.name)
            }
            Outcome::Wrong { top, why, .. } => {
                failed = true;
                println!(
                    "\nFAIL {}: expected {}, the server put {top} first. Leading candidates:\n{why}",
                    r.name, r.expect
                );
            }
            Outcome::Failed(e) => {
                failed = true;
                println!("\nFAIL {}: the reproduction did not run: {e}", r.name);
            }
            Outcome::Skipped(why) => println!("\nSKIP {}: {why}", r.name),
            _ => {}
        }
    }
    failed
}
