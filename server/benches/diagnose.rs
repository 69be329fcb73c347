//! Diagnosis time for one report: against the 13 built-in playbooks and
//! against 1,000 generated ones, each as a ratio to a baseline measured in the
//! same run (parsing and validating the report JSON, which every diagnosis
//! pays first). Also the one-off cost of compiling the clauses.
//!
//! Run: `cargo bench -p faultline --bench diagnose`

use std::hint::black_box;
use std::time::{Duration, Instant};

use faultline::builtin;
use faultline::core::matcher::Matcher;
use faultline::core::playbook::Playbook;
use faultline::core::signals;
use faultline_probe::report::Report;

const GENERATED: usize = 1_000;
/// Each measurement runs for about this long.
const BUDGET: Duration = Duration::from_millis(800);

fn builtins() -> Vec<Playbook> {
    builtin::playbooks()
        .iter()
        .map(|(name, text)| Playbook::parse(name, text).expect("built-in parses"))
        .collect()
}

/// Copies of the built-ins under new ids with shifted thresholds, so clause
/// shapes stay realistic while every fingerprint is distinct.
fn generated(n: usize, seeds: &[Playbook]) -> Vec<Playbook> {
    (0..n)
        .map(|i| {
            let seed = &seeds[i % seeds.len()];
            let mut meta = seed.meta.clone();
            meta.id = format!("{}-gen-{i}", seed.id());
            for c in &mut meta.clauses {
                c.when = c.when.replace(" > 0", &format!(" > {}", i % 5));
            }
            let sections: Vec<_> = seed
                .sections
                .iter()
                .map(|s| (s.kind, s.markdown.clone()))
                .collect();
            Playbook::compose(&meta, &sections).expect("generated playbook parses")
        })
        .collect()
}

/// Mean time per call of `f`, run repeatedly for about [`BUDGET`].
fn measure(mut f: impl FnMut()) -> Duration {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < BUDGET {
        f();
        n += 1;
    }
    start.elapsed() / n
}

fn main() {
    let json = builtin::example("examples/keepalive-race-502-1.json").expect("example");
    let seeds = builtins();
    let many = generated(GENERATED, &seeds);
    let (small, _) = Matcher::new(&seeds);
    let (large, rejected) = Matcher::new(&many);
    assert!(rejected.is_empty(), "{rejected:?}");

    let baseline = measure(|| {
        black_box(Report::from_json(black_box(json.as_bytes())).unwrap());
    });
    let report = Report::from_json(json.as_bytes()).unwrap();
    let derive = measure(|| {
        black_box(signals::derive(black_box(&report)));
    });
    let full = |m: &Matcher| {
        let r = Report::from_json(json.as_bytes()).unwrap();
        black_box(m.diagnose(&signals::derive(&r)));
    };
    let d13 = measure(|| full(&small));
    let d1000 = measure(|| full(&large));
    let compile13 = measure(|| {
        black_box(Matcher::new(&seeds));
    });
    let compile1000 = {
        let start = Instant::now();
        black_box(Matcher::new(&many));
        start.elapsed()
    };

    println!(
        "diagnosis of one report ({} observations, {} bytes of JSON)",
        report.observations.len(),
        json.len()
    );
    println!("{:<52} {:>12} {:>10}", "what", "time", "× baseline");
    let row = |what: &str, t: Duration| {
        println!(
            "{what:<52} {:>12} {:>10.1}",
            format!("{:.1} µs", t.as_secs_f64() * 1e6),
            t.as_secs_f64() / baseline.as_secs_f64()
        );
    };
    row("baseline: parse + validate the report JSON", baseline);
    row("derive signals", derive);
    row("parse + derive + diagnose, 13 built-in playbooks", d13);
    row(
        &format!("parse + derive + diagnose, {GENERATED} playbooks"),
        d1000,
    );
    row("compile the 13 built-in fingerprints (once)", compile13);
    row(
        &format!("compile {GENERATED} fingerprints (once)"),
        compile1000,
    );
}
