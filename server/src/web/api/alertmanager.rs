//! `POST /api/v1/alertmanager`: Alertmanager's webhook (payload version 4)
//! and Grafana's variant. A firing alert opens an incident or attaches to the
//! open incident of its alert name and labels; a resolved alert resolves the
//! incident its firing alert went to, and the same alert firing again after
//! that (same fingerprint and startsAt) reopens it. Each alert keeps the
//! status its last delivery left it in, so a replay and the second
//! Alertmanager of an HA pair change nothing.
//!
//! An incident an alert opens takes the playbook its alert name is mapped to
//! (`/alert-routes`) as its checklist at once, and, with `prometheus_url`
//! set, the evidence Prometheus holds about its host (pulled in the
//! background: `incidents::pull`).
//!
//! Alertmanager retries only on 5xx and drops a notification on any 4xx
//! (429 included): a busy or unreachable store answers 503 with
//! `Retry-After`, never 429; a malformed payload answers 400 naming the field.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::incidents::alertmanager;
use crate::store::{AlertDelivery, AlertOutcome, group_key};
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState};

pub async fn post_alertmanager(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match deliver(&state, &user, body).await {
        Ok(answer) => answer.into_response(),
        Err(error) => {
            let busy = error.status == StatusCode::SERVICE_UNAVAILABLE;
            let mut response = error.into_response();
            if busy {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            response
        }
    }
}

async fn deliver(
    state: &AppState,
    user: &CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("could not read the request body: {}", rejection.body_text()),
        )
    })?;
    let alerts = alertmanager::parse(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            format!("not an Alertmanager webhook payload: {e}"),
        )
        .with_field(e.field)
    })?;
    let who = user.actor();
    let (mut opened, mut reopened, mut attached) = (vec![], vec![], vec![]);
    let (mut duplicates, mut unmatched) = (0, 0);
    for alert in &alerts {
        let labels = &alert.labels;
        let key = group_key(labels);
        let title = alert.title();
        let body = alert.body();
        let (outcome, events) = state
            .kb
            .store()
            .deliver_alert(AlertDelivery {
                fingerprint: &alert.fingerprint,
                starts_at: alert.starts_at,
                resolved: alert.resolved,
                group_key: &key,
                title: &title,
                severity: alert.severity(),
                labels,
                who: &who,
                body: &body,
            })
            .await?;
        for event in &events {
            state.incident_bus.publish(event);
        }
        match outcome {
            AlertOutcome::Opened(id) => {
                route_opened(state, id, alert.alertname(), &who).await;
                // The evidence Prometheus holds, without a click: in the
                // background, so the webhook answers at once.
                if let Some(settings) = &state.prometheus {
                    crate::incidents::pull::spawn(
                        state.kb.clone(),
                        state.incident_bus.clone(),
                        settings.clone(),
                        state.report_cool_down.fold().clone(),
                        id,
                    );
                }
                opened.push(id);
            }
            AlertOutcome::Reopened(id) => reopened.push(id),
            AlertOutcome::Attached(id) => attached.push(id),
            AlertOutcome::Duplicate => duplicates += 1,
            AlertOutcome::NoIncident => unmatched += 1,
        }
    }
    attached.dedup();
    Ok(Json(json!({
        "alerts": alerts.len(),
        "opened": opened,
        "reopened": reopened,
        "attached": attached,
        "duplicates": duplicates,
        "resolved_without_incident": unmatched,
    })))
}

/// A new incident whose alert name is mapped on `/alert-routes` gets that
/// playbook as its checklist at once. The alert is recorded already: a
/// failure here is logged, not answered (a retry would be a duplicate and
/// change nothing).
async fn route_opened(state: &AppState, incident_id: i64, alertname: &str, who: &str) {
    let routed = crate::incidents::apply_alert_route(
        &state.kb,
        &state.incident_bus,
        incident_id,
        alertname,
        who,
    )
    .await;
    if let Err(e) = routed {
        tracing::warn!(error = %e, incident_id, %alertname, "alert route not applied");
    }
}
