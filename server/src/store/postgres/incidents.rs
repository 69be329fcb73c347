//! Incident queries for the postgres backend. Deliveries of one alert group
//! take a transaction-scoped advisory lock on the group key, so two firing
//! alerts racing to open an incident serialise and the second attaches.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgConnection;

use super::*;
use crate::store::incidents::{
    AlertStep, alert_status_change, alert_step, cool_down_cutoff, decode_body, decode_kind,
    decode_status, delivery_status, reopen_conflict, reopens_group, status_body,
};
use crate::store::reports::{clamp_limit, decode_labels, encode_labels};
use crate::store::{
    AlertDelivery, AlertOutcome, AlertRoute, EVENTS_CHANNEL, EventKind, EventNotice, Incident,
    IncidentEvent, IncidentFilter, IncidentStatus, IncidentStore, NewIncident, Tick, now_micros,
};

type Time = DateTime<Utc>;
type IncidentRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Time,
    String,
    Option<Time>,
    Option<String>,
);
type EventRow = (i64, i64, Time, String, String, String);

/// `SELECT <every incident column> FROM incidents <rest>`.
macro_rules! select_incidents {
    ($rest:literal) => {
        concat!(
            "SELECT id, title, status, severity, labels, playbook, opened_at, opened_by, \
             resolved_at, group_key FROM incidents ",
            $rest
        )
    };
}

fn to_incident(row: IncidentRow) -> StoreResult<Incident> {
    let (id, title, status, severity, labels, playbook, opened_at, opened_by, resolved_at, key) =
        row;
    Ok(Incident {
        id,
        title,
        status: decode_status(&status)?,
        severity,
        labels: decode_labels(&labels)?,
        playbook,
        opened_at,
        opened_by,
        resolved_at,
        group_key: key,
    })
}

fn to_event(row: EventRow) -> StoreResult<IncidentEvent> {
    let (id, incident_id, at, who, kind, body) = row;
    Ok(IncidentEvent {
        id,
        incident_id,
        at,
        who,
        kind: decode_kind(&kind)?,
        body: decode_body(&body)?,
    })
}

pub(super) async fn fetch_incident(
    conn: &mut PgConnection,
    id: i64,
) -> StoreResult<Option<Incident>> {
    let row: Option<IncidentRow> = sqlx::query_as(select_incidents!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(classify)?;
    row.map(to_incident).transpose()
}

pub(super) async fn insert_event(
    conn: &mut PgConnection,
    incident_id: i64,
    who: &str,
    kind: EventKind,
    body: &Value,
) -> StoreResult<IncidentEvent> {
    let at = now_micros();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incident_events (incident_id, at, who, kind, body) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(incident_id)
    .bind(at)
    .bind(who)
    .bind(kind.as_str())
    .bind(body.to_string())
    .fetch_one(&mut *conn)
    .await
    .map_err(classify)?;
    // Inside the caller's transaction: the other replicas hear of it only
    // if it commits.
    let notice = EventNotice::local(incident_id, id);
    notify_in(&mut *conn, EVENTS_CHANNEL, &notice.encode()).await?;
    Ok(IncidentEvent {
        id,
        incident_id,
        at,
        who: who.to_owned(),
        kind,
        body: body.clone(),
    })
}

async fn insert_incident(conn: &mut PgConnection, new: &NewIncident<'_>) -> StoreResult<Incident> {
    let opened_at = now_micros();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (title, status, severity, labels, opened_at, opened_by, group_key) \
         VALUES ($1, 'open', $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.title)
    .bind(new.severity)
    .bind(encode_labels(new.labels))
    .bind(opened_at)
    .bind(new.opened_by)
    .bind(new.group_key)
    .fetch_one(&mut *conn)
    .await
    .map_err(classify)?;
    Ok(Incident {
        id,
        title: new.title.to_owned(),
        status: IncidentStatus::Open,
        severity: new.severity.to_owned(),
        labels: new.labels.clone(),
        playbook: None,
        opened_at,
        opened_by: new.opened_by.to_owned(),
        resolved_at: None,
        group_key: new.group_key.map(str::to_owned),
    })
}

/// Moves the status and appends the event; `None` when unchanged.
async fn change_status(
    conn: &mut PgConnection,
    incident: &Incident,
    status: IncidentStatus,
    who: &str,
) -> StoreResult<Option<IncidentEvent>> {
    if incident.status == status {
        return Ok(None);
    }
    if let Some(key) = reopens_group(incident, status)
        && let Some(open) = open_for_group(conn, key).await?
    {
        return Err(reopen_conflict(incident.id, Some(open.id)));
    }
    let resolved_at = (status == IncidentStatus::Resolved).then(now_micros);
    sqlx::query("UPDATE incidents SET status = $1, resolved_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(resolved_at)
        .bind(incident.id)
        .execute(&mut *conn)
        .await
        .map_err(|e| match &e {
            // Another of the group became unresolved since the check
            // above (a race the unique index still catches).
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                reopen_conflict(incident.id, None)
            }
            _ => classify(e),
        })?;
    let body = status_body(incident.status, status);
    Ok(Some(
        insert_event(conn, incident.id, who, EventKind::Status, &body).await?,
    ))
}

async fn open_for_group(conn: &mut PgConnection, group_key: &str) -> StoreResult<Option<Incident>> {
    let row: Option<IncidentRow> = sqlx::query_as(select_incidents!(
        "WHERE group_key = $1 AND resolved_at IS NULL"
    ))
    .bind(group_key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(classify)?;
    row.map(to_incident).transpose()
}

/// Where a firing delivery goes (see [`AlertStep::Fire`]); a reopened
/// incident is reopened by the caller, after the alert is on its timeline.
async fn fire(
    conn: &mut PgConnection,
    alert: &AlertDelivery<'_>,
    previous: Option<i64>,
) -> StoreResult<(AlertOutcome, Incident)> {
    let previous = match previous {
        Some(id) => fetch_incident(conn, id).await?,
        None => None,
    };
    match previous {
        Some(i) if i.resolved_at.is_none() => return Ok((AlertOutcome::Attached(i.id), i)),
        _ => {}
    }
    if let Some(i) = open_for_group(conn, alert.group_key).await? {
        return Ok((AlertOutcome::Attached(i.id), i));
    }
    if let Some(i) = previous {
        return Ok((AlertOutcome::Reopened(i.id), i));
    }
    let new = NewIncident {
        title: alert.title,
        severity: alert.severity,
        labels: alert.labels,
        opened_by: alert.who,
        group_key: Some(alert.group_key),
    };
    let i = insert_incident(conn, &new).await?;
    Ok((AlertOutcome::Opened(i.id), i))
}

/// The incident a resolved delivery resolves: the one its alert went to,
/// else the open one of its group.
async fn resolving(
    conn: &mut PgConnection,
    alert: &AlertDelivery<'_>,
    previous: Option<i64>,
) -> StoreResult<Option<Incident>> {
    if let Some(id) = previous
        && let Some(i) = fetch_incident(conn, id).await?
    {
        return Ok(Some(i));
    }
    open_for_group(conn, alert.group_key).await
}

/// Records the state this delivery left its alert in.
async fn record_state(
    conn: &mut PgConnection,
    alert: &AlertDelivery<'_>,
    starts_at: Time,
    incident: Option<i64>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO alert_states (fingerprint, starts_at, status, incident_id, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fingerprint, starts_at) DO UPDATE \
         SET status = excluded.status, received_at = excluded.received_at, \
         incident_id = coalesce(excluded.incident_id, alert_states.incident_id)",
    )
    .bind(alert.fingerprint)
    .bind(starts_at)
    .bind(delivery_status(alert.resolved))
    .bind(incident)
    .bind(now_micros())
    .execute(&mut *conn)
    .await
    .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl IncidentStore for PgStore {
    #[tracing::instrument(skip_all)]
    async fn open_incident(
        &self,
        new: NewIncident<'_>,
        first: (EventKind, &Value),
    ) -> StoreResult<(Incident, IncidentEvent)> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let incident = insert_incident(&mut tx, &new).await?;
        let event = insert_event(&mut tx, incident.id, new.opened_by, first.0, first.1).await?;
        tx.commit().await.map_err(classify)?;
        Ok((incident, event))
    }

    #[tracing::instrument(skip_all, fields(collector))]
    async fn open_incident_cooled(
        &self,
        new: NewIncident<'_>,
        first: (EventKind, &Value),
        collector: &str,
        cool_down: std::time::Duration,
    ) -> StoreResult<Option<(Incident, IncidentEvent)>> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = now_micros();
        // The collector's row: inserted, or updated when its last incident
        // is older than the cool-down; a concurrent opener waits on the row
        // lock and then sees the fresh time (no row returned).
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO collector_cool_downs (collector, opened_at) VALUES ($1, $2) \
             ON CONFLICT (collector) DO UPDATE SET opened_at = excluded.opened_at \
             WHERE collector_cool_downs.opened_at <= $3 RETURNING collector",
        )
        .bind(collector)
        .bind(now)
        .bind(cool_down_cutoff(now, cool_down))
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        if taken.is_none() {
            tx.rollback().await.map_err(classify)?;
            return Ok(None);
        }
        let incident = insert_incident(&mut tx, &new).await?;
        let event = insert_event(&mut tx, incident.id, new.opened_by, first.0, first.1).await?;
        tx.commit().await.map_err(classify)?;
        Ok(Some((incident, event)))
    }

    #[tracing::instrument(skip_all, fields(id))]
    async fn incident(&self, id: i64) -> StoreResult<Option<Incident>> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        fetch_incident(&mut conn, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
        let (key, value) = filter
            .label
            .as_ref()
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .unwrap_or((None, None));
        let rows: Vec<IncidentRow> = sqlx::query_as(select_incidents!(
            "WHERE ($1::text IS NULL OR status = $1) \
               AND ($2::timestamptz IS NULL OR opened_at >= $2) \
               AND ($3::text IS NULL OR labels::jsonb ->> $3 = $4::text) \
             ORDER BY opened_at DESC, id DESC LIMIT $5"
        ))
        .bind(filter.status.map(IncidentStatus::as_str))
        .bind(filter.since)
        .bind(key)
        .bind(value)
        .bind(clamp_limit(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_incident).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn open_incident_for_group(&self, group_key: &str) -> StoreResult<Option<Incident>> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        open_for_group(&mut conn, group_key).await
    }

    #[tracing::instrument(skip_all, fields(incident_id, kind = kind.as_str()))]
    async fn append_event(
        &self,
        incident_id: i64,
        who: &str,
        kind: EventKind,
        body: &Value,
    ) -> StoreResult<IncidentEvent> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        if fetch_incident(&mut tx, incident_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let event = insert_event(&mut tx, incident_id, who, kind, body).await?;
        // synchronous=FULL: on disk when the commit returns.
        tx.commit().await.map_err(classify)?;
        Ok(event)
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn events(&self, incident_id: i64) -> StoreResult<Vec<IncidentEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, incident_id, at, who, kind, body FROM incident_events \
             WHERE incident_id = $1 ORDER BY id",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_event).collect()
    }

    #[tracing::instrument(skip_all, fields(id))]
    async fn incident_event(&self, id: i64) -> StoreResult<Option<IncidentEvent>> {
        let row: Option<EventRow> = sqlx::query_as(
            "SELECT id, incident_id, at, who, kind, body FROM incident_events WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(to_event).transpose()
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn set_status(
        &self,
        incident_id: i64,
        status: IncidentStatus,
        who: &str,
    ) -> StoreResult<Option<IncidentEvent>> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let incident = fetch_incident(&mut tx, incident_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event = change_status(&mut tx, &incident, status, who).await?;
        tx.commit().await.map_err(classify)?;
        Ok(event)
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn set_playbook(
        &self,
        incident_id: i64,
        playbook: Option<&str>,
        who: &str,
        route: Option<&str>,
    ) -> StoreResult<IncidentEvent> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let updated = sqlx::query("UPDATE incidents SET playbook = $1 WHERE id = $2")
            .bind(playbook)
            .bind(incident_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let body = crate::store::incidents::choice_body(playbook, route);
        let event = insert_event(&mut tx, incident_id, who, EventKind::Step, &body).await?;
        tx.commit().await.map_err(classify)?;
        Ok(event)
    }

    #[tracing::instrument(skip_all, fields(incident_id, playbook, step))]
    async fn set_tick(
        &self,
        incident_id: i64,
        playbook: &str,
        step: i64,
        ticked: bool,
        who: &str,
    ) -> StoreResult<Option<IncidentEvent>> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        if fetch_incident(&mut tx, incident_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let changed = if ticked {
            sqlx::query(
                "INSERT INTO incident_ticks (incident_id, playbook, step, ticked_by, ticked_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(incident_id)
            .bind(playbook)
            .bind(step)
            .bind(who)
            .bind(now_micros())
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "DELETE FROM incident_ticks WHERE incident_id = $1 AND playbook = $2 AND step = $3",
            )
            .bind(incident_id)
            .bind(playbook)
            .bind(step)
            .execute(&mut *tx)
            .await
        }
        .map_err(classify)?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        let body = serde_json::json!({"playbook": playbook, "step": step, "ticked": ticked});
        let event = insert_event(&mut tx, incident_id, who, EventKind::Step, &body).await?;
        tx.commit().await.map_err(classify)?;
        Ok(Some(event))
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn ticks(&self, incident_id: i64) -> StoreResult<Vec<Tick>> {
        let rows: Vec<(String, i64, String, Time)> = sqlx::query_as(
            "SELECT playbook, step, ticked_by, ticked_at FROM incident_ticks \
             WHERE incident_id = $1 ORDER BY playbook, step",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(|(playbook, step, ticked_by, ticked_at)| {
                Ok(Tick {
                    playbook,
                    step,
                    ticked_by,
                    ticked_at,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(fingerprint = alert.fingerprint))]
    async fn deliver_alert(
        &self,
        alert: AlertDelivery<'_>,
    ) -> StoreResult<(AlertOutcome, Vec<IncidentEvent>)> {
        let starts_at = crate::store::reports::micros(alert.starts_at);
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // Deliveries of one group (so of one alert: the fingerprint hashes
        // the labels) run one at a time, on every replica: nothing changes
        // the alert's row between this read and the write below.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(alert.group_key)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let last: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT status, incident_id FROM alert_states \
             WHERE fingerprint = $1 AND starts_at = $2",
        )
        .bind(alert.fingerprint)
        .bind(starts_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let step = alert_step(
            last.as_ref().map(|(s, id)| (s.as_str(), *id)),
            alert.resolved,
        );
        let (outcome, incident) = match step {
            AlertStep::Duplicate => {
                tx.rollback().await.map_err(classify)?;
                return Ok((AlertOutcome::Duplicate, Vec::new()));
            }
            AlertStep::Fire { previous } => fire(&mut tx, &alert, previous).await?,
            AlertStep::Resolve { previous } => match resolving(&mut tx, &alert, previous).await? {
                Some(i) => (AlertOutcome::Attached(i.id), i),
                None => {
                    record_state(&mut tx, &alert, starts_at, None).await?;
                    tx.commit().await.map_err(classify)?;
                    return Ok((AlertOutcome::NoIncident, Vec::new()));
                }
            },
        };
        record_state(&mut tx, &alert, starts_at, Some(incident.id)).await?;
        // The alert first, then the status change it caused.
        let mut events = vec![
            insert_event(
                &mut tx,
                incident.id,
                alert.who,
                EventKind::Alert,
                alert.body,
            )
            .await?,
        ];
        if let Some(status) = alert_status_change(&outcome, alert.resolved)
            && let Some(e) = change_status(&mut tx, &incident, status, alert.who).await?
        {
            events.push(e);
        }
        tx.commit().await.map_err(classify)?;
        Ok((outcome, events))
    }

    #[tracing::instrument(skip_all)]
    async fn alert_route(&self, alertname: &str) -> StoreResult<Option<AlertRoute>> {
        let row: Option<RouteRow> = sqlx::query_as(
            "SELECT alertname, playbook, set_by, set_at FROM alert_routes WHERE alertname = $1",
        )
        .bind(alertname)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(to_route).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn alert_routes(&self) -> StoreResult<Vec<AlertRoute>> {
        let rows: Vec<RouteRow> = sqlx::query_as(
            "SELECT alertname, playbook, set_by, set_at FROM alert_routes ORDER BY alertname COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_route).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn set_alert_route(
        &self,
        alertname: &str,
        playbook: Option<&str>,
        who: &str,
    ) -> StoreResult<()> {
        match playbook {
            Some(playbook) => {
                sqlx::query(
                    "INSERT INTO alert_routes (alertname, playbook, set_by, set_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (alertname) DO UPDATE \
                     SET playbook = excluded.playbook, set_by = excluded.set_by, \
                     set_at = excluded.set_at",
                )
                .bind(alertname)
                .bind(playbook)
                .bind(who)
                .bind(now_micros())
                .execute(&self.pool)
                .await
            }
            None => {
                sqlx::query("DELETE FROM alert_routes WHERE alertname = $1")
                    .bind(alertname)
                    .execute(&self.pool)
                    .await
            }
        }
        .map_err(classify)?;
        Ok(())
    }
}

type RouteRow = (String, String, String, Time);

fn to_route(row: RouteRow) -> StoreResult<AlertRoute> {
    let (alertname, playbook, set_by, set_at) = row;
    Ok(AlertRoute {
        alertname,
        playbook,
        set_by,
        set_at,
    })
}
