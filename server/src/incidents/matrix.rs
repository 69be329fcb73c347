//! Many hosts, one symptom: when an incident holds evidence from more than
//! one host, the host × signal matrix says which hosts show the incident's
//! playbook, on which of its clauses, and since when — one node, one zone,
//! one upstream, or everywhere.

use chrono::{DateTime, Utc};
use faultline_probe::report::{Collector, Report};
use serde::Serialize;

use super::{Evidence, LinkedReport};
use crate::core::clause::Truth;
use crate::core::matcher::Matcher;

/// One clause of the playbook: a column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub when: String,
    pub says: String,
    pub weight: f64,
}

/// One clause on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub state: Truth,
    /// The signals it read there, `name=value`.
    pub observed: String,
}

/// One host: a row.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub host: String,
    /// Whether this host's own evidence makes the playbook likely.
    pub likely: bool,
    pub score: f64,
    pub confidence: f64,
    /// Its first report in which the playbook was likely (else its first).
    pub since: DateTime<Utc>,
    pub reports: usize,
    /// Where its evidence came from (collector names, `prometheus`).
    pub sources: Vec<String>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostMatrix {
    pub playbook: String,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<HostRow>,
}

/// The matrix for `playbook` over the incident's linked reports, one row
/// per host (the report's host), oldest first; `None` with fewer than two
/// hosts or no such playbook.
pub fn host_matrix(matcher: &Matcher, evidence: &Evidence, playbook: &str) -> Option<HostMatrix> {
    let mut hosts: Vec<(String, Vec<&LinkedReport>)> = Vec::new();
    for r in &evidence.reports {
        let host = r.summary.host.trim();
        if host.is_empty() {
            continue;
        }
        match hosts.iter_mut().find(|(h, _)| h == host) {
            Some((_, list)) => list.push(r),
            None => hosts.push((host.to_owned(), vec![r])),
        }
    }
    if hosts.len() < 2 {
        return None;
    }
    let mut columns = None;
    let mut title = String::new();
    let mut rows = Vec::new();
    for (host, reports) in hosts {
        let merged = merge(&host, &reports);
        let diagnosis = crate::diagnose::diagnose(matcher, &merged);
        let c = diagnosis
            .candidates
            .iter()
            .find(|c| c.playbook == playbook)?;
        title.clone_from(&c.title);
        columns.get_or_insert_with(|| {
            c.clauses
                .iter()
                .map(|cl| Column {
                    when: cl.when.clone(),
                    says: cl.says.clone(),
                    weight: cl.weight,
                })
                .collect::<Vec<_>>()
        });
        let since = reports
            .iter()
            .find(|r| {
                crate::diagnose::diagnose(matcher, &r.report)
                    .likely()
                    .any(|l| l.playbook == playbook)
            })
            .or(reports.first())
            .map(|r| r.summary.received_at)?;
        let mut sources: Vec<String> = reports
            .iter()
            .map(|r| {
                r.report
                    .source
                    .clone()
                    .unwrap_or_else(|| r.summary.collector.clone())
            })
            .collect();
        sources.dedup();
        rows.push(HostRow {
            host,
            likely: c.likely,
            score: c.score,
            confidence: c.confidence,
            since,
            reports: reports.len(),
            sources,
            cells: c
                .clauses
                .iter()
                .map(|cl| Cell {
                    state: cl.state,
                    observed: cl
                        .observed
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
        });
    }
    Some(HostMatrix {
        playbook: playbook.to_owned(),
        title,
        columns: columns.unwrap_or_default(),
        rows,
    })
}

/// One host's reports as one, newer observations of a kind after older.
fn merge(host: &str, reports: &[&LinkedReport]) -> Report {
    let mut sorted: Vec<&&LinkedReport> = reports.iter().collect();
    sorted.sort_by_key(|r| r.summary.received_at);
    let mut report = Report::new(Collector {
        name: host.to_owned(),
        host: host.to_owned(),
        labels: Default::default(),
    });
    report.observations = sorted
        .iter()
        .flat_map(|r| r.report.observations.iter().cloned())
        .collect();
    report
}
