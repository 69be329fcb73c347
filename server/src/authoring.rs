//! Writing playbooks in the browser: the starting text of a new playbook,
//! and the fingerprint test bench that runs an unsaved playbook's clauses
//! against its examples and against stored reports.

use faultline_probe::report::Report;
use uuid::Uuid;

use crate::builtin;
use crate::core::matcher::{Candidate, Matcher};
use crate::core::playbook::Playbook;
use crate::diagnose::diagnose;
use crate::store::{DynStore, StoreError};

/// The text a blank new playbook starts from: valid as it stands, with every
/// section and one clause to show the shape.
pub const BLANK: &str = r#"+++
id = "new-playbook"
title = "What the engineer sees, in a few words"
alert = "the alert or page text this arrives as"
tags = []
layer = "application"

[[clause]]
when = "tcp.close_wait_share > 0.5"
weight = 2
says = "why this signal points here, in one line"
+++
## Symptoms

What the on-call engineer notices first.

## Investigation

1. **Look at the sockets.** `ss -tan state close-wait | wc -l`

## Root cause

## Fix

## Prevention
"#;

/// The text of a copy of `source` under a new id: the `id` line of the
/// front matter is rewritten and the title marked as a copy.
pub fn duplicate(source: &str, new_id: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let (mut fences, mut id_done, mut title_done) = (0, false, false);
    for line in source.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "+++" {
            fences += 1;
        }
        let key = bare.split('=').next().unwrap_or_default().trim();
        if fences == 1 && !id_done && key == "id" && bare.contains('=') {
            id_done = true;
            out.push_str(&format!("id = \"{new_id}\"\n"));
            continue;
        }
        if fences == 1
            && !title_done
            && key == "title"
            && let Some((k, v)) = line.split_once('"')
        {
            title_done = true;
            out.push_str(&format!("{k}\"Copy of {v}"));
            continue;
        }
        out.push_str(line);
    }
    out
}

/// One evidence report the bench ran the clauses against.
#[derive(Debug, Clone)]
pub struct BenchRun {
    /// Where the report came from: "example", or "stored report".
    pub kind: &'static str,
    /// The example path or the report's id and collector.
    pub label: String,
    /// Examples must match; a stored report is whatever it is.
    pub must_match: bool,
    /// The playbook scored on this report; `None` with `problem` set when
    /// the report could not be read or the playbook has no clauses.
    pub candidate: Option<Candidate>,
    pub problem: Option<String>,
}

impl BenchRun {
    /// An example that should match but does not.
    pub fn fails(&self) -> bool {
        self.must_match && !self.candidate.as_ref().is_some_and(|c| c.likely)
    }
}

/// The JSON text of an `[[example]]` report: a stored report's id (the
/// evidence of a team playbook) or a built-in example path.
pub async fn example_text(store: &DynStore, report: &str) -> Result<Option<String>, StoreError> {
    match Uuid::parse_str(report) {
        Ok(id) => Ok(store.report(id).await?.map(|r| r.body)),
        Err(_) => Ok(builtin::example(report)),
    }
}

/// Runs the playbook's clauses against each of its `[[example]]` reports
/// (built-in example paths, or a stored report's id) and then against the
/// stored reports picked by id.
pub async fn test_bench(
    store: &DynStore,
    playbook: &Playbook,
    picked: &[Uuid],
) -> Result<Vec<BenchRun>, StoreError> {
    let (matcher, _) = Matcher::new([playbook]);
    let mut runs = Vec::new();
    for e in &playbook.meta.examples {
        let text = example_text(store, &e.report).await?;
        runs.push(run(&matcher, "example", e.report.clone(), true, text));
    }
    for id in picked {
        let stored = store.report(*id).await?;
        let label = stored.as_ref().map_or_else(
            || id.to_string(),
            |r| format!("{} · {}", r.summary.collector, id),
        );
        runs.push(run(
            &matcher,
            "stored report",
            label,
            false,
            stored.map(|r| r.body),
        ));
    }
    Ok(runs)
}

fn run(
    matcher: &Matcher,
    kind: &'static str,
    label: String,
    must_match: bool,
    text: Option<String>,
) -> BenchRun {
    let mut out = BenchRun {
        kind,
        label,
        must_match,
        candidate: None,
        problem: None,
    };
    let Some(text) = text else {
        out.problem = Some("no such report".into());
        return out;
    };
    match Report::from_json(text.as_bytes()) {
        Err(errors) => {
            out.problem = Some(format!(
                "the report does not read as a v1 report ({} problems)",
                errors.len()
            ));
        }
        Ok(report) => {
            out.candidate = diagnose(matcher, &report).candidates.into_iter().next();
            if out.candidate.is_none() {
                out.problem = Some("the playbook has no clauses to run".into());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blank_template_is_a_valid_playbook() {
        let p = Playbook::parse("new.md", BLANK).unwrap();
        assert_eq!(p.missing_sections(), vec![]);
        assert_eq!(p.meta.clauses.len(), 1);
    }

    #[test]
    fn a_duplicate_has_the_new_id_and_is_marked_as_a_copy() {
        let (_, text) = builtin::playbooks()
            .into_iter()
            .find(|(n, _)| n.starts_with("close-wait-leak"))
            .unwrap();
        let copy = duplicate(&text, "close-wait-leak-copy");
        let p = Playbook::parse("copy.md", &copy).unwrap();
        assert_eq!(p.id(), "close-wait-leak-copy");
        assert!(p.meta.title.starts_with("Copy of "), "{}", p.meta.title);
        let original = Playbook::parse("o.md", &text).unwrap();
        assert_eq!(p.meta.clauses, original.meta.clauses);
        assert_eq!(p.sections, original.sections);
    }
}
