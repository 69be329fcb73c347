//! Incidents, their timelines, checklist ticks, and Alertmanager deliveries.
//!
//! Every change to an incident appends a timeline event in the same
//! transaction, so what a 2xx answered for is on disk together with the
//! change it describes. Each alert, (fingerprint, startsAt), keeps the status
//! its last delivery left it in, so the order of deliveries decides: firing
//! after resolved reopens, resolved after firing resolves, and a delivery in
//! the state already recorded (a replay, the second Alertmanager of an HA
//! pair) changes nothing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{StoreError, StoreResult};

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Mitigated,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 3] = [
        IncidentStatus::Open,
        IncidentStatus::Mitigated,
        IncidentStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a timeline event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Alert,
    Report,
    Note,
    Status,
    Step,
    Paste,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Alert,
        EventKind::Report,
        EventKind::Note,
        EventKind::Status,
        EventKind::Step,
        EventKind::Paste,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Alert => "alert",
            EventKind::Report => "report",
            EventKind::Note => "note",
            EventKind::Status => "status",
            EventKind::Step => "step",
            EventKind::Paste => "paste",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    /// The playbook the engineer chose; `None` means "the top likely one".
    pub playbook: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Alert name and labels of the alerts that attach here (see
    /// [`group_key`]); `None` for incidents opened by hand.
    pub group_key: Option<String>,
}

/// An incident to open.
#[derive(Debug, Clone)]
pub struct NewIncident<'a> {
    pub title: &'a str,
    pub severity: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub opened_by: &'a str,
    pub group_key: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: i64,
    pub at: DateTime<Utc>,
    pub who: String,
    pub kind: EventKind,
    pub body: Value,
}

/// A ticked checklist step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    pub playbook: String,
    pub step: i64,
    pub ticked_by: String,
    pub ticked_at: DateTime<Utc>,
}

/// Which incidents to list. Newest first.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    /// `key`, value: incidents whose labels hold exactly this pair.
    pub label: Option<(String, String)>,
    /// Opened at or after.
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// One alert of a webhook delivery.
#[derive(Debug, Clone)]
pub struct AlertDelivery<'a> {
    pub fingerprint: &'a str,
    pub starts_at: DateTime<Utc>,
    /// `true` for "resolved", `false` for "firing".
    pub resolved: bool,
    /// Where firing alerts attach (see [`group_key`]).
    pub group_key: &'a str,
    /// Title, severity and labels for an incident this alert opens.
    pub title: &'a str,
    pub severity: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// Who delivered it (the token's actor).
    pub who: &'a str,
    /// The timeline event body.
    pub body: &'a Value,
}

/// An alert name mapped to a playbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRoute {
    pub alertname: String,
    pub playbook: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// What [`IncidentStore::deliver_alert`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertOutcome {
    /// The alert's last delivery left it in this state already: nothing
    /// changed.
    Duplicate,
    /// A firing alert opened this incident.
    Opened(i64),
    /// A firing alert after a resolved delivery of the same alert reopened
    /// the incident it had gone to.
    Reopened(i64),
    /// The alert was added to this incident's timeline (a firing alert
    /// attached, or a resolved one resolved it).
    Attached(i64),
    /// A resolved alert matched no incident: recorded, nothing else.
    NoIncident,
}

/// Incidents and their timelines.
#[async_trait]
pub trait IncidentStore {
    /// Opens an incident and appends `first` (kind, body) to its timeline,
    /// in one transaction.
    async fn open_incident(
        &self,
        new: NewIncident<'_>,
        first: (EventKind, &Value),
    ) -> StoreResult<(Incident, IncidentEvent)>;
    /// Opens an incident from `collector`'s report, as [`open_incident`],
    /// unless that collector opened one less than `cool_down` ago (from
    /// any replica sharing the store): `None` then, nothing written. The
    /// cool-down is taken in the same transaction, so reports racing on
    /// several replicas open one incident.
    ///
    /// [`open_incident`]: IncidentStore::open_incident
    async fn open_incident_cooled(
        &self,
        new: NewIncident<'_>,
        first: (EventKind, &Value),
        collector: &str,
        cool_down: std::time::Duration,
    ) -> StoreResult<Option<(Incident, IncidentEvent)>>;
    async fn incident(&self, id: i64) -> StoreResult<Option<Incident>>;
    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>>;
    /// The not-yet-resolved incident alerts with this group key attach to.
    async fn open_incident_for_group(&self, group_key: &str) -> StoreResult<Option<Incident>>;
    /// Appends to the timeline; durable when this returns. `NotFound` when
    /// there is no such incident.
    async fn append_event(
        &self,
        incident_id: i64,
        who: &str,
        kind: EventKind,
        body: &Value,
    ) -> StoreResult<IncidentEvent>;
    /// The timeline, oldest first.
    async fn events(&self, incident_id: i64) -> StoreResult<Vec<IncidentEvent>>;
    /// One timeline event by id (what an [`EventNotice`] names).
    async fn incident_event(&self, id: i64) -> StoreResult<Option<IncidentEvent>>;
    /// Changes the status and appends a `status` event; `None` when the
    /// status was already this one (nothing written). Reopening a resolved
    /// incident while another of its alert group is unresolved is
    /// `AlreadyExists`, naming that incident.
    async fn set_status(
        &self,
        incident_id: i64,
        status: IncidentStatus,
        who: &str,
    ) -> StoreResult<Option<IncidentEvent>>;
    /// Chooses the playbook whose steps are the checklist (`None`: the top
    /// likely candidate) and appends a `step` event (`{"playbook"}`, with
    /// `"route"`: the alert name whose `/alert-routes` mapping chose it).
    async fn set_playbook(
        &self,
        incident_id: i64,
        playbook: Option<&str>,
        who: &str,
        route: Option<&str>,
    ) -> StoreResult<IncidentEvent>;
    /// Ticks or unticks a step and appends a `step` event; `None` when the
    /// step already was in that state.
    async fn set_tick(
        &self,
        incident_id: i64,
        playbook: &str,
        step: i64,
        ticked: bool,
        who: &str,
    ) -> StoreResult<Option<IncidentEvent>>;
    /// Ticked steps of every playbook of the incident.
    async fn ticks(&self, incident_id: i64) -> StoreResult<Vec<Tick>>;
    /// Records one alert of a webhook delivery (see [`AlertOutcome`] and
    /// [`alert_step`]), all in one transaction, with the timeline events it
    /// appended. A resolved alert resolves the incident its firing alert
    /// went to; a firing one after that reopens it.
    async fn deliver_alert(
        &self,
        alert: AlertDelivery<'_>,
    ) -> StoreResult<(AlertOutcome, Vec<IncidentEvent>)>;
    /// The playbook an alert name is mapped to.
    async fn alert_route(&self, alertname: &str) -> StoreResult<Option<AlertRoute>>;
    /// Every mapping, by alert name.
    async fn alert_routes(&self) -> StoreResult<Vec<AlertRoute>>;
    /// Maps an alert name to a playbook, or removes the mapping (`None`).
    async fn set_alert_route(
        &self,
        alertname: &str,
        playbook: Option<&str>,
        who: &str,
    ) -> StoreResult<()>;
}

/// The channel every timeline append is announced on (PostgreSQL
/// `pg_notify`, in the append's transaction), for the other replicas' live
/// streams. The payload is an [`EventNotice`].
pub const EVENTS_CHANNEL: &str = "faultline_events";

/// What a timeline append tells the other replicas: ids only, since a
/// notice holds at most 8000 bytes; the receiver reads the row. `origin`
/// names the process that made the change (see [`replica_origin`]), which
/// has already published it on its own bus and so skips its own notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNotice {
    pub origin: String,
    pub incident_id: i64,
    pub event_id: i64,
}

impl EventNotice {
    /// A notice for an event appended by this process.
    pub fn local(incident_id: i64, event_id: i64) -> EventNotice {
        EventNotice {
            origin: replica_origin().to_owned(),
            incident_id,
            event_id,
        }
    }

    /// `"<origin> <incident id> <event id>"`.
    pub fn encode(&self) -> String {
        format!("{} {} {}", self.origin, self.incident_id, self.event_id)
    }

    /// `None` for anything [`EventNotice::encode`] did not write.
    pub fn decode(payload: &str) -> Option<EventNotice> {
        let mut parts = payload.split(' ');
        let origin = parts.next().filter(|o| !o.is_empty())?.to_owned();
        let incident_id = parts.next()?.parse().ok()?;
        let event_id = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(EventNotice {
            origin,
            incident_id,
            event_id,
        })
    }

    /// Whether this process made the change.
    pub fn is_local(&self) -> bool {
        self.origin == replica_origin()
    }
}

/// A random name for this process, made once: the origin of its notices.
pub fn replica_origin() -> &'static str {
    static ORIGIN: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{:016x}", rand::random::<u64>()));
    &ORIGIN
}

/// The key alerts attach on: the alert name and its labels, sorted.
pub fn group_key(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_default()
}

pub(crate) fn decode_status(s: &str) -> StoreResult<IncidentStatus> {
    IncidentStatus::parse(s).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown incident status {s:?} in the database").into(),
        ))
    })
}

pub(crate) fn decode_kind(s: &str) -> StoreResult<EventKind> {
    EventKind::parse(s).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown timeline event kind {s:?} in the database").into(),
        ))
    })
}

pub(crate) fn decode_body(s: &str) -> StoreResult<Value> {
    serde_json::from_str(s).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("bad timeline event body in the database: {e}").into(),
        ))
    })
}

/// The latest time a collector's previous incident may have been opened
/// for it to open another at `now`.
pub(crate) fn cool_down_cutoff(
    now: DateTime<Utc>,
    cool_down: std::time::Duration,
) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(cool_down)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether moving `incident` to `status` takes it out of resolved, where
/// the one-unresolved-incident-per-alert-group rule applies again.
pub(crate) fn reopens_group(incident: &Incident, status: IncidentStatus) -> Option<&str> {
    let reopens = incident.status == IncidentStatus::Resolved && status != IncidentStatus::Resolved;
    incident.group_key.as_deref().filter(|_| reopens)
}

/// Why an incident cannot be reopened: `open` (when known) is the
/// unresolved incident of the same alert group. Answered as 409.
pub(crate) fn reopen_conflict(incident: i64, open: Option<i64>) -> StoreError {
    let which = match open {
        Some(open) => format!("incident {open} open for the alert group of incident {incident}"),
        None => format!("an unresolved incident for the alert group of incident {incident}"),
    };
    StoreError::AlreadyExists(format!(
        "{which}; only one per alert group may be unresolved: add to that one, or resolve it \
         before reopening this one"
    ))
}

/// What one delivery does to its alert, given the state the alert's last
/// delivery recorded: `(status, incident it went to)`, `None` for a new
/// alert. The backends carry it out in the delivery's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertStep {
    /// Delivered in this state already: change nothing.
    Duplicate,
    /// Firing: join `previous` if it is unresolved, else the open incident
    /// of the group, else reopen `previous`, else open one.
    Fire { previous: Option<i64> },
    /// Resolved: resolve `previous`, else the open incident of the group.
    Resolve { previous: Option<i64> },
}

pub(crate) fn alert_step(last: Option<(&str, Option<i64>)>, resolved: bool) -> AlertStep {
    if last.is_some_and(|(status, _)| status == delivery_status(resolved)) {
        return AlertStep::Duplicate;
    }
    let previous = last.and_then(|(_, incident)| incident);
    if resolved {
        AlertStep::Resolve { previous }
    } else {
        AlertStep::Fire { previous }
    }
}

/// The status a delivery moves its incident to: resolved, or open again
/// when it reopened one.
pub(crate) fn alert_status_change(
    outcome: &AlertOutcome,
    resolved: bool,
) -> Option<IncidentStatus> {
    if resolved {
        Some(IncidentStatus::Resolved)
    } else if matches!(outcome, AlertOutcome::Reopened(_)) {
        Some(IncidentStatus::Open)
    } else {
        None
    }
}

/// How a delivery's status is stored.
pub(crate) fn delivery_status(resolved: bool) -> &'static str {
    if resolved { "resolved" } else { "firing" }
}

/// Body of the `step` event a checklist choice appends.
pub(crate) fn choice_body(playbook: Option<&str>, route: Option<&str>) -> Value {
    match route {
        Some(alertname) => serde_json::json!({"playbook": playbook, "route": alertname}),
        None => serde_json::json!({"playbook": playbook}),
    }
}

/// Body of the `status` event an incident's status change appends.
pub(crate) fn status_body(from: IncidentStatus, to: IncidentStatus) -> Value {
    serde_json::json!({"from": from.as_str(), "to": to.as_str()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_recorded_state_decides_what_a_delivery_does() {
        use AlertStep::*;
        assert_eq!(alert_step(None, false), Fire { previous: None });
        assert_eq!(alert_step(None, true), Resolve { previous: None });
        assert_eq!(alert_step(Some(("firing", Some(3))), false), Duplicate);
        assert_eq!(alert_step(Some(("resolved", Some(3))), true), Duplicate);
        assert_eq!(
            alert_step(Some(("firing", Some(3))), true),
            Resolve { previous: Some(3) }
        );
        assert_eq!(
            alert_step(Some(("resolved", Some(3))), false),
            Fire { previous: Some(3) }
        );
        assert_eq!(
            alert_step(Some(("resolved", None)), false),
            Fire { previous: None }
        );
    }

    #[test]
    fn event_notices_round_trip_and_reject_anything_else() {
        let n = EventNotice::local(12, 345);
        assert!(n.is_local());
        assert_eq!(EventNotice::decode(&n.encode()), Some(n.clone()));
        assert!(n.encode().len() < 64);
        let other = EventNotice::decode("0123abcd 1 2").unwrap();
        assert!(!other.is_local());
        for bad in ["", "incident:42", "a 1", "a 1 x", "a 1 2 3", " 1 2"] {
            assert_eq!(EventNotice::decode(bad), None, "{bad:?}");
        }
    }
}
