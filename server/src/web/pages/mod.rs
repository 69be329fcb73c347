//! Server-rendered pages: a view struct per page, a template per view.

pub mod account;
pub mod admin;
pub mod alert_routes;
pub mod assessment;
pub mod collectors;
pub mod diagnosis;
pub mod editor;
pub mod feedback;
pub mod history;
pub mod home;
pub mod incidents;
pub mod lessons;
pub mod library;
pub mod login;
pub mod observation_view;
pub mod observation_window;
pub mod playbook;
pub mod postmortems;
pub mod promote;
pub mod reports;
pub mod search;
pub mod signals;
pub mod study;
pub mod verdict_link;

use askama::Template;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use super::PageError;

/// Renders a template, or a plain 500 page if the template itself fails.
pub fn render(template: &impl Template) -> Response {
    render_with(StatusCode::OK, template)
}

pub fn render_with(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>Internal error</h1>".to_owned()),
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView<'a> {
    title: &'a str,
    status: u16,
    message: &'a str,
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    render_with(
        status,
        &ErrorView {
            title,
            status: status.as_u16(),
            message,
        },
    )
}

/// An address nothing answers: the JSON error shape under `/api/` (scripts
/// read it), the friendly page everywhere else.
pub async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return super::ApiError::not_found(format!(
            "there is no API endpoint at {path}; the endpoints are listed in the README"
        ))
        .into_response();
    }
    PageError::not_found(format!("There is no page at {path}.")).into_response()
}
