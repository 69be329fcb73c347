//! Liveness, readiness and metrics.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use crate::store::{DISK_FULL, StoreError};

/// Alive: the process answers. Never touches the database, so a slow
/// database does not get a healthy process restarted.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: the database answers and we are not draining.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned());
    }
    match tokio::time::timeout(Duration::from_secs(2), state.kb.store().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        // A full disk is for the operator to fix: say so.
        Ok(Err(StoreError::Unavailable(why))) if why.starts_with(DISK_FULL) => {
            tracing::warn!(%why, "readiness: disk full");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable\n".into(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database timed out\n".into(),
        ),
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let playbooks = state.kb.list().len();
    let draining = u8::from(state.draining.load(Ordering::SeqCst));
    let body = format!(
        "# HELP faultline_playbooks Playbooks in the knowledge base.\n\
         # TYPE faultline_playbooks gauge\n\
         faultline_playbooks {playbooks}\n\
         # HELP faultline_draining 1 while the server drains after SIGTERM.\n\
         # TYPE faultline_draining gauge\n\
         faultline_draining {draining}\n{}",
        state.metrics.render()
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
