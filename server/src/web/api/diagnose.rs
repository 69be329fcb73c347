//! `POST /api/v1/diagnose`: a v1 report in, the ranked explanation out.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use faultline_probe::report::Report;

use crate::diagnose::{diagnose as run, matcher_for};
use crate::web::{ApiError, AppState};

pub async fn diagnose(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let report = parse(&body)?;
    let matcher = matcher_for(&state.kb);
    let diagnosis = run(&matcher, &report);
    serde_json::to_value(diagnosis.summary())
        .map(Json)
        .map_err(|e| {
            tracing::error!(error = %e, "diagnosis did not serialize");
            ApiError::internal()
        })
}

/// 400 when the body is not JSON at all; 422 naming the first bad field when
/// it is JSON but not a valid v1 report.
fn parse(body: &[u8]) -> Result<Report, ApiError> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        ));
    }
    Report::from_json(body).map_err(|errors| {
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let field = errors.first().map(|e| e.path.clone()).unwrap_or_default();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            format!("not a valid v1 report: {message}"),
        )
        .with_field(field)
    })
}
