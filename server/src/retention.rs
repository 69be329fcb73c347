//! Retention: old reports are rolled up, then deleted.
//!
//! A report received more than `retention_days` ago is rolled up: its raw
//! observations (samples, socket lists, log lines) leave the body, the
//! signals derived from them are kept beside it, and the answer — the
//! diagnosis summary — stays as it was. The compact body is still a valid v1
//! report (with no observations), so the pages and the API keep working.
//! After `retention_delete_days` the row is deleted.
//!
//! Both run in batches of [`Policy::batch`] rows, one short transaction
//! each, with a pause between batches, so ingest (the single SQLite writer
//! in particular) never waits long behind retention. The signals are derived
//! outside the transaction. Several replicas may run it at once: a row
//! already rolled up is left alone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use faultline_probe::report::Report;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::store::{DynStore, RolledUp, StoreResult};

/// Marks a rolled-up body (unknown top-level fields are ignored by readers).
pub const ROLLED_UP_FIELD: &str = "rolled_up";

/// How old reports are handled.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Roll up reports older than this; `None`: never.
    pub roll_up_after: Option<chrono::Duration>,
    /// Delete reports older than this; `None`: never.
    pub delete_after: Option<chrono::Duration>,
    /// Rows per transaction.
    pub batch: i64,
    /// Pause between batches.
    pub pause: Duration,
}

impl Policy {
    /// From `retention_days` and `retention_delete_days` (0 turns a step off).
    pub fn from_config(config: &Config) -> Policy {
        let days = |d: u64| (d > 0).then(|| chrono::Duration::days(d.min(36_500) as i64));
        Policy {
            roll_up_after: days(config.retention_days),
            delete_after: days(config.retention_delete_days),
            batch: 500,
            pause: Duration::from_millis(50),
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub rolled_up: u64,
    pub deleted: u64,
    pub batches: u64,
}

/// The compact form of a report body: the same report without its
/// observations, marked rolled up, and the signals derived from them.
pub fn roll_up(body: &str) -> (String, String) {
    let signals = Report::from_json(body.as_bytes())
        .map(|report| crate::core::signals::derive(&report))
        .ok()
        .and_then(|s| serde_json::to_string(&s).ok())
        .unwrap_or_else(|| "{}".to_owned());
    let compact = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut report)) => {
            report.insert("observations".into(), Value::Array(Vec::new()));
            report.insert(ROLLED_UP_FIELD.into(), Value::Bool(true));
            Value::Object(report).to_string()
        }
        _ => serde_json::json!({ ROLLED_UP_FIELD: true }).to_string(),
    };
    (compact, signals)
}

/// Runs retention once to completion: deletes what is past the second age,
/// then rolls up what is past the first.
pub async fn run_once(
    store: &DynStore,
    policy: &Policy,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let mut outcome = Outcome::default();
    if let Some(age) = policy.delete_after {
        let before = now - age;
        loop {
            let n = store.delete_reports_before(before, policy.batch).await?;
            outcome.deleted += n;
            outcome.batches += 1;
            if n < policy.batch as u64 {
                break;
            }
            tokio::time::sleep(policy.pause).await;
        }
    }
    if let Some(age) = policy.roll_up_after {
        let before = now - age;
        loop {
            let due = store.reports_to_roll_up(before, policy.batch).await?;
            if due.is_empty() {
                break;
            }
            let full = due.len() as i64 >= policy.batch;
            let rolled: Vec<RolledUp> = due
                .into_iter()
                .map(|u| {
                    let (body, signals) = roll_up(&u.body);
                    RolledUp {
                        report_id: u.report_id,
                        body,
                        signals,
                    }
                })
                .collect();
            outcome.rolled_up += store
                .roll_up_reports(&rolled, crate::store::now_micros())
                .await?;
            outcome.batches += 1;
            if !full {
                break;
            }
            tokio::time::sleep(policy.pause).await;
        }
    }
    Ok(outcome)
}

/// The periodic task; [`Retention::stop`] ends it.
pub struct Retention {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Runs retention now and then every `every`, until stopped.
pub fn spawn(store: DynStore, policy: Policy, every: Duration) -> Retention {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                r = run_once(&store, &policy, Utc::now()) => match r {
                    Ok(o) if o.rolled_up + o.deleted > 0 => {
                        info!(rolled_up = o.rolled_up, deleted = o.deleted, "retention")
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "retention failed; retrying later"),
                },
                _ = stopped.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    });
    Retention { stop, task }
}

impl Retention {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_up_keeps_a_valid_report_and_its_signals() {
        let body = include_str!("../tests/fixtures/reports/node-5.json");
        let (compact, signals) = roll_up(body);
        assert!(compact.len() < body.len() / 2, "{compact}");
        let report = Report::from_json(compact.as_bytes()).expect("still a v1 report");
        assert!(report.observations.is_empty());
        let v: Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(v[ROLLED_UP_FIELD], true);
        let signals: Value = serde_json::from_str(&signals).unwrap();
        assert!(
            signals.as_object().is_some_and(|s| !s.is_empty()),
            "{signals}"
        );
        // Not JSON at all still rolls up (to a marker), with no signals.
        assert_eq!(roll_up("nope").1, "{}");
    }
}
