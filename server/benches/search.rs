//! Search latency: the full Faultline query (field boosts, phrases, facets,
//! snippets) against a raw single-term tantivy query on the same index, on
//! the built-in playbooks and on 10,000 generated ones.
//!
//! Run: `cargo bench -p faultline --bench search`

use std::time::{Duration, Instant};

use faultline::builtin;
use faultline::core::playbook::{FrontMatter, Playbook, SectionKind};
use faultline::search::{SearchIndex, SearchRequest};

const QUERIES: [&str; 10] = [
    "upstream prematurely closed connection",
    "ndots",
    "exactly 60 seconds",
    "CLOSE_WAIT",
    "table full",
    "x509: certificate signed by unknown authority",
    "SYN flood",
    "fragmentation needed",
    "p99 latency spike",
    "preStop",
];
const ROUNDS: usize = 30;

fn builtins() -> Vec<Playbook> {
    builtin::playbooks()
        .iter()
        .map(|(name, text)| Playbook::parse(name, text).expect("built-in parses"))
        .collect()
}

/// Playbooks that look like real ones: sections of the built-ins remixed,
/// so term statistics stay realistic as the corpus grows.
fn generated(n: usize, seeds: &[Playbook]) -> Vec<Playbook> {
    (0..n)
        .map(|i| {
            let a = &seeds[i % seeds.len()];
            let b = &seeds[(i * 7 + 3) % seeds.len()];
            let meta = FrontMatter {
                id: format!("generated-{i:05}"),
                title: format!("{} (variant {i})", a.meta.title),
                alert: b.meta.alert.clone(),
                tags: a.meta.tags.clone(),
                layer: b.meta.layer,
                clauses: Vec::new(),
                examples: Vec::new(),
            };
            let sections: Vec<(SectionKind, String)> = SectionKind::ALL
                .into_iter()
                .enumerate()
                .map(|(k, kind)| {
                    let from = if k % 2 == 0 { a } else { b };
                    (kind, from.section_markdown(kind).to_owned())
                })
                .collect();
            Playbook::compose(&meta, &sections).expect("generated playbook parses")
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn time_each(mut f: impl FnMut(&str)) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(QUERIES.len() * ROUNDS);
    for _ in 0..ROUNDS {
        for q in QUERIES {
            let start = Instant::now();
            f(q);
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let seeds = builtins();
    println!(
        "{:<22} {:>9} {:>11} {:>11} {:>11} {:>11} {:>9} {:>9}",
        "corpus", "docs", "full p50", "full p99", "raw p50", "raw p99", "p50 x", "p99 x"
    );
    for (name, corpus) in [
        ("built-ins", seeds.clone()),
        ("10,000 generated", generated(10_000, &seeds)),
    ] {
        let index = SearchIndex::new().expect("index");
        let build = Instant::now();
        index.rebuild(corpus.iter()).expect("rebuild");
        let build = build.elapsed();
        let full = time_each(|q| {
            let r = index
                .search(&SearchRequest {
                    text: q.into(),
                    limit: 10,
                    ..Default::default()
                })
                .expect("search");
            assert!(!r.hits.is_empty(), "{q}");
        });
        let raw = time_each(|q| {
            index
                .baseline_term_query(q.split_whitespace().next().unwrap_or(q))
                .expect("raw query");
        });
        println!(
            "{:<22} {:>9} {:>9.0}µs {:>9.0}µs {:>9.0}µs {:>9.0}µs {:>8.1}x {:>8.1}x   (index built in {:.2}s)",
            name,
            corpus.len(),
            us(full.0),
            us(full.1),
            us(raw.0),
            us(raw.1),
            us(full.0) / us(raw.0),
            us(full.1) / us(raw.1),
            build.as_secs_f64()
        );
    }
}
