//! One error type for the JSON API and one for pages, each mapped to HTTP
//! once. Users get a clear message; logs get the detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::kb::KbError;
use crate::search::SearchError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> ApiError {
        match e {
            SearchError::EmptyQuery | SearchError::QueryTooLong(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_query",
                e.to_string(),
            )
            .with_field("q"),
            SearchError::Index(inner) => {
                tracing::error!(error = %inner, "search failed");
                ApiError::internal()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict { current } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("someone saved a newer version ({current}) first; reload to see it"),
            ),
            StoreError::AlreadyExists(what) => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("there is already {what}"),
            ),
            StoreError::Unavailable(why) => {
                super::metrics::count_store_error();
                tracing::warn!(%why, "store unavailable");
                let message = if why.starts_with(crate::store::DISK_FULL) {
                    "the server's disk is full: nothing was saved; retry once an operator \
                     has freed space"
                } else {
                    "the database is busy or unreachable; retry shortly"
                };
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            other => {
                super::metrics::count_store_error();
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<KbError> for ApiError {
    fn from(e: KbError) -> ApiError {
        match e {
            KbError::Invalid(p) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_playbook",
                p.to_string(),
            )
            .with_field(format!("line {}", p.line)),
            KbError::Store(s) => s.into(),
            KbError::Search(s) => s.into(),
            KbError::Task(t) => {
                tracing::error!(error = %t, "task failed");
                ApiError::internal()
            }
        }
    }
}

/// An error shown as a friendly page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn internal() -> PageError {
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Something went wrong on our side. The server log has the details.".into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError {
            status: e.status,
            message: e.message,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        super::pages::error_page(self.status, &self.message)
    }
}
