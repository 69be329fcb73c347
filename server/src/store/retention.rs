//! Retention queries: old reports rolled up (raw observations dropped,
//! derived signals kept), then deleted, a small batch per transaction so
//! ingest never waits long behind them. The policy lives in `crate::retention`.
//! Pinned reports (cited by a playbook or a postmortem) are left whole.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;

/// A report due to be rolled up, with the body as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Unrolled {
    pub report_id: Uuid,
    pub body: String,
}

/// The compact form of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledUp {
    pub report_id: Uuid,
    /// The report without its observations (still a valid v1 report).
    pub body: String,
    /// The signals derived from the observations, as JSON.
    pub signals: String,
}

/// Rolling up and deleting old reports.
#[async_trait]
pub trait RetentionStore {
    /// Up to `limit` reports received before `before`, not rolled up yet and
    /// not pinned, oldest first.
    async fn reports_to_roll_up(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Unrolled>>;
    /// Stores the compact forms in one short transaction; a report rolled up
    /// meanwhile (another replica) is left alone. Returns how many changed.
    async fn roll_up_reports(&self, rolled: &[RolledUp], at: DateTime<Utc>) -> StoreResult<u64>;
    /// Deletes up to `limit` unpinned reports received before `before`,
    /// oldest first, in one short transaction. Returns how many went.
    async fn delete_reports_before(&self, before: DateTime<Utc>, limit: i64) -> StoreResult<u64>;
    /// The kept signals of a rolled-up report (`None`: not rolled up, or no
    /// such report).
    async fn report_signals(&self, report_id: Uuid) -> StoreResult<Option<String>>;
    /// Replaces the reports `holder` (`playbook:<id>`, `postmortem:<id>`)
    /// pins with `reports`, in one transaction; none unpins them all.
    async fn set_report_pins(&self, holder: &str, reports: &[Uuid]) -> StoreResult<()>;
    /// Adds pins for `holder`, keeping those it has: what the check at start
    /// uses, so it cannot take away a pin another replica's save just wrote.
    async fn add_report_pins(&self, holder: &str, reports: &[Uuid]) -> StoreResult<()>;
    /// The reports `holder` pins, ordered.
    async fn report_pins(&self, holder: &str) -> StoreResult<Vec<Uuid>>;
    /// Every holder's pins, each list ordered: one query for the check at
    /// start.
    async fn all_report_pins(&self) -> StoreResult<BTreeMap<String, Vec<Uuid>>>;
}

/// (holder, report id) rows, ordered, grouped by holder.
pub(crate) fn group_pins(rows: Vec<(String, String)>) -> StoreResult<BTreeMap<String, Vec<Uuid>>> {
    let mut pins: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for (holder, id) in rows {
        pins.entry(holder)
            .or_default()
            .push(super::reports::decode_uuid(&id)?);
    }
    Ok(pins)
}
