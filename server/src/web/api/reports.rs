//! `POST /api/v1/reports` (ingest) and `GET /api/v1/reports[/{id}]`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::collector_auth::CollectorAuth;
use crate::ingest::{self, Accepted, IngestError, ParseError};
use crate::store::{MAX_LIST, ReportSummary, StoreError};
use crate::web::{ApiError, AppState};

/// Reports listed when no `limit` is given.
const DEFAULT_LIST: i64 = 50;
/// How many validation errors one 422 message spells out.
const ERRORS_SHOWN: usize = 5;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "the report is larger than the limit of {limit} bytes \
             (report_body_limit in the server config)"
        ),
    )
}

/// Whether reading the body stopped at a size limit. Under the gzip layer
/// the limit error sits deeper in the chain of body errors than axum looks
/// (it then calls it a 400), so walk the whole chain.
fn hit_length_limit(rejection: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    rejection.status() == StatusCode::PAYLOAD_TOO_LARGE
}

/// 503 with `Retry-After`, which the probe honours.
fn with_retry_after(error: ApiError) -> Response {
    let busy = error.status == StatusCode::SERVICE_UNAVAILABLE;
    let mut response = error.into_response();
    if busy {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Takes one report from a collector; stores it once, durably, then answers.
///
/// 201 with `"stored": true` the first time; 200 with the first answer and
/// `"stored": false` on a resend. 401/403 auth, 415 not JSON, 413 too
/// large, 400 not parseable JSON (line and column), 422 not a valid report
/// (the field's path), 409 a report id another collector used, 503 store
/// busy (with `Retry-After`).
pub async fn post_report(
    State(state): State<AppState>,
    CollectorAuth(collector): CollectorAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&state, &collector, &headers, body).await {
        Ok(Accepted::Stored { answer }) => json_text(StatusCode::CREATED, answer),
        Ok(Accepted::Replayed { answer }) => {
            let mut response = json_text(StatusCode::OK, answer);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        Err(e) => with_retry_after(e),
    }
}

async fn accept(
    state: &AppState,
    collector: &crate::store::CollectorRecord,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the report as `Content-Type: application/json`",
        )
        .with_field("Content-Type"));
    }
    // gzip was inflated on the way in (`web::app`) and its header removed;
    // anything else left here is an encoding we do not read.
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING)
        && encoding != "identity"
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Encoding {:?} is not supported; send the report as is or gzip it",
                encoding.to_str().unwrap_or("(not text)")
            ),
        )
        .with_field("Content-Encoding"));
    }
    let body = body.map_err(|rejection| {
        if hit_length_limit(&rejection) {
            too_large(state.config.report_body_limit)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("could not read the request body: {}", rejection.body_text()),
            )
        }
    })?;
    let mut report = ingest::parse_report(&body).map_err(|e| match e {
        ParseError::Malformed {
            line,
            column,
            message,
        } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {message} at line {line} column {column}"),
        ),
        ParseError::Invalid(errors) => invalid(&errors),
    })?;
    ingest::apply_collector_labels(collector, &mut report);
    // Valid JSON is valid UTF-8.
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not UTF-8",
        )
    })?;
    let (accepted, diagnosis) =
        ingest::ingest(&state.kb, &state.report_writer, collector, &report, text)
            .await
            .map_err(|e| match e {
                IngestError::OtherCollector(id) => ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!(
                        "report_id {id} was already sent by another collector; \
                     every report needs its own id"
                    ),
                )
                .with_field("report_id"),
                IngestError::Store(s) => s.into(),
            })?;
    // A new report with a likely diagnosis opens (or joins) an incident. The
    // report is stored already: a failure here is logged, not answered.
    if let Some(diagnosis) = diagnosis
        && let Err(e) = crate::incidents::report_arrived(
            &state.kb,
            &state.incident_bus,
            &state.report_cool_down,
            &state.report_writer,
            &collector.name,
            &report,
            &diagnosis,
        )
        .await
    {
        tracing::warn!(error = %e, report_id = %report.report_id, "report did not reach an incident");
    }
    Ok(accepted)
}

fn invalid(errors: &[faultline_probe::report::SchemaError]) -> ApiError {
    let mut message = errors
        .iter()
        .take(ERRORS_SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > ERRORS_SHOWN {
        message.push_str(&format!(" (and {} more)", errors.len() - ERRORS_SHOWN));
    }
    let error = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_report",
        format!("not a valid v1 report: {message}"),
    );
    match errors.first().map(|e| e.path.as_str()) {
        Some(path) if !path.is_empty() => error.with_field(path),
        _ => error,
    }
}

fn json_text(status: StatusCode, text: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

/// Turns a bare 413 from the outer body-limit layer into our JSON error, so
/// every API error has the same shape whichever layer refused the request.
pub async fn json_payload_too_large(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if api && response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than the server accepts",
        )
        .into_response();
    }
    response
}

#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    pub collector: Option<String>,
    pub limit: Option<String>,
}

impl ListParams {
    /// The collector filter (empty means none) and the checked limit.
    pub fn parse(&self) -> Result<(Option<&str>, i64), ApiError> {
        let collector = self.collector.as_deref().filter(|c| !c.is_empty());
        let limit = match self.limit.as_deref().filter(|l| !l.is_empty()) {
            None => DEFAULT_LIST,
            Some(l) => match l.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_LIST).contains(&n) => n,
                _ => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_limit",
                        format!("limit must be a whole number from 1 to {MAX_LIST}"),
                    )
                    .with_field("limit"));
                }
            },
        };
        Ok((collector, limit))
    }
}

#[derive(Serialize)]
pub struct ReportList {
    pub reports: Vec<ReportSummary>,
}

/// `GET /api/v1/reports?collector=&limit=`: newest first.
pub async fn list_reports(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<ReportList>, ApiError> {
    let (collector, limit) = params.parse()?;
    let reports = state.kb.store().recent_reports(collector, limit).await?;
    Ok(Json(ReportList { reports }))
}

#[derive(Serialize)]
pub struct ReportDetail {
    #[serde(flatten)]
    pub summary: ReportSummary,
    /// The report as it was sent.
    pub report: Value,
    /// The answer the collector got.
    pub answer: Value,
}

/// `GET /api/v1/reports/{id}`: the report as sent, and the answer it got.
pub async fn get_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ReportDetail>, ApiError> {
    let missing = || ApiError::not_found(format!("no report with id `{id}`")).with_field("id");
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let stored = state.kb.store().report(uuid).await?.ok_or_else(missing)?;
    let parse = |text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| {
            ApiError::from(StoreError::Database(sqlx::Error::Decode(
                format!("stored report {uuid} is not JSON: {e}").into(),
            )))
        })
    };
    Ok(Json(ReportDetail {
        report: parse(&stored.body)?,
        answer: parse(&stored.answer)?,
        summary: stored.summary,
    }))
}
