//! `CollectorAuth`: the collector behind `Authorization: Bearer flc_…`.
//!
//! 401 when the header is missing or not a collector token at all (with
//! `WWW-Authenticate: Bearer`); 403 when the token is well formed but
//! unknown or revoked. The probe keeps its spool on both. An authenticated
//! collector is then charged to its rate bucket (`[security]
//! ingest_token_burst`, `ingest_token_per_s`): 429 with `Retry-After` when
//! empty, before its body is read.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ingest::{hash_token, hashes_match, well_formed_token};
use crate::store::CollectorRecord;
use crate::web::{ApiError, AppState};

/// An authenticated, not revoked collector.
#[derive(Debug, Clone)]
pub struct CollectorAuth(pub CollectorRecord);

/// Why a request is not from a collector (or not now).
#[derive(Debug)]
pub enum CollectorAuthRejection {
    Refused(ApiError),
    RateLimited(crate::web::limits::RateLimited),
}

impl IntoResponse for CollectorAuthRejection {
    fn into_response(self) -> Response {
        let error = match self {
            CollectorAuthRejection::Refused(error) => error,
            CollectorAuthRejection::RateLimited(limited) => return limited.into_response(),
        };
        let unauthorized = error.status == StatusCode::UNAUTHORIZED;
        let mut response = error.into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"faultline collectors\""),
            );
        }
        response
    }
}

fn unauthorized(message: &str) -> CollectorAuthRejection {
    CollectorAuthRejection::Refused(
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
            .with_field("Authorization"),
    )
}

fn forbidden(message: &str) -> CollectorAuthRejection {
    CollectorAuthRejection::Refused(
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).with_field("Authorization"),
    )
}

impl FromRequestParts<AppState> for CollectorAuth {
    type Rejection = CollectorAuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "send the collector token as `Authorization: Bearer flc_…` \
                 (create one with `faultline collector add NAME`)",
            ));
        };
        let value = value.to_str().unwrap_or_default().trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => {
                return Err(unauthorized(
                    "the Authorization header must be `Bearer <collector token>`",
                ));
            }
        };
        if !well_formed_token(token) {
            return Err(unauthorized(
                "that is not a collector token (they start with `flc_`)",
            ));
        }
        let presented = hash_token(token);
        let found = state
            .kb
            .store()
            .collector_by_token_hash(&presented)
            .await
            .map_err(|e| CollectorAuthRejection::Refused(e.into()))?;
        match found {
            Some(c) if hashes_match(&presented, &c.token_hash) => {
                if c.collector.revoked_at.is_some() {
                    Err(forbidden(&format!(
                        "the token of collector `{}` was revoked; create a new collector",
                        c.collector.name
                    )))
                } else {
                    state
                        .limits
                        .check_ingest_token(&c.collector.name)
                        .map_err(CollectorAuthRejection::RateLimited)?;
                    Ok(CollectorAuth(c.collector))
                }
            }
            _ => Err(forbidden("unknown collector token")),
        }
    }
}
