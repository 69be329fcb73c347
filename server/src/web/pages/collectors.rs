//! `/collectors`: every registered collector, its labels, its last report
//! and whether it is fresh, stale, silent since registration, or revoked.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::render;
use crate::ingest::{self, CollectorStatus};
use crate::web::{ApiError, AppState, PageError};

/// Reports per collector used to tell its interval.
const CADENCE_REPORTS: i64 = 8;

pub struct CollectorRow {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub last_report: String,
    pub last_report_iso: String,
    pub interval: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "collectors.html")]
struct CollectorsView {
    title: &'static str,
    query: String,
    rows: Vec<CollectorRow>,
}

/// "3 min ago", "2 h ago", "just now".
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds();
    match s {
        s if s < 0 => "in the future (clock skew)".into(),
        0..=9 => "just now".into(),
        10..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

pub async fn view_collectors_get(State(state): State<AppState>) -> Result<Response, PageError> {
    let store = state.kb.store();
    let collectors = store.collectors().await.map_err(ApiError::from)?;
    let mut starts: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for (name, at) in store
        .recent_start_times(CADENCE_REPORTS)
        .await
        .map_err(ApiError::from)?
    {
        starts.entry(name).or_default().push(at);
    }
    let now = Utc::now();
    let rows = collectors
        .into_iter()
        .map(|c| {
            let interval = starts
                .get(&c.name)
                .and_then(|s| ingest::expected_interval(s));
            let status: CollectorStatus = ingest::collector_status(&c, interval, now);
            CollectorRow {
                labels: c.labels.clone().into_iter().collect(),
                last_report: c
                    .last_report_at
                    .map_or_else(|| "never".to_owned(), |t| ago(t, now)),
                last_report_iso: c
                    .last_report_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
                interval: interval.map_or_else(
                    || "—".to_owned(),
                    |i| format!("every {}", humantime(i.as_secs())),
                ),
                status: status.as_str(),
                name: c.name,
            }
        })
        .collect();
    Ok(render(&CollectorsView {
        title: "Collectors",
        query: String::new(),
        rows,
    }))
}

fn humantime(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn ago_reads_naturally() {
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - Duration::seconds(45), now), "45 s ago");
        assert_eq!(ago(now - Duration::minutes(5), now), "5 min ago");
        assert_eq!(ago(now - Duration::hours(3), now), "3 h ago");
        assert_eq!(ago(now - Duration::days(3), now), "3 days ago");
        assert!(ago(now + Duration::minutes(1), now).contains("future"));
    }
}
