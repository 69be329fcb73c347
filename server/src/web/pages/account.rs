//! `/account/password`: a logged-in user changes their own password. The
//! current password is asked for (a session left open on a shared screen
//! must not be enough), attempts count against the login limits, and every
//! other session of theirs ends; this browser gets a new one.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render_with;
use crate::accounts::{self, AccountError};
use crate::store::NewAudit;
use crate::web::auth::{ClientAddr, CurrentUser, Via};
use crate::web::{ApiError, AppState, PageError};

#[derive(Template)]
#[template(path = "account_password.html")]
struct PasswordView {
    title: &'static str,
    query: String,
    done: bool,
    error: String,
}

fn page(status: StatusCode, done: bool, error: String) -> Response {
    render_with(
        status,
        &PasswordView {
            title: "Change password",
            query: String::new(),
            done,
            error,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// Only a person in a browser session has a password to change here: for
/// anyone else, the answer to give instead.
fn not_a_session(user: &CurrentUser) -> Option<Response> {
    match user.via {
        Via::Session { .. } => None,
        Via::Anonymous => Some(Redirect::to("/login?next=%2Faccount%2Fpassword").into_response()),
        Via::Token { .. } => Some(page(
            StatusCode::FORBIDDEN,
            false,
            "An API token has no password to change; log in as a person.".into(),
        )),
    }
}

pub async fn view_password_get(user: CurrentUser, Query(q): Query<DoneQuery>) -> Response {
    if let Some(response) = not_a_session(&user) {
        return response;
    }
    page(StatusCode::OK, q.done.is_some(), String::new())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn view_password_post(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    if let Some(response) = not_a_session(&user) {
        return Ok(response);
    }
    if let Err(limited) = state.limits.check_login(&user.name, &address) {
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            false,
            format!(
                "Too many attempts. Wait {} s and try again.",
                limited.retry_after_secs()
            ),
        );
        let (k, v) = limited.retry_after_header();
        response.headers_mut().insert(k, v);
        return Ok(response);
    }
    let store = state.kb.store();
    let hash = store
        .user_by_name(&user.name)
        .await
        .map_err(ApiError::from)?
        .map(|(_, hash)| hash);
    if !accounts::verify_password(form.current, hash).await {
        let _ = store
            .record_audit(NewAudit {
                actor: &user.name,
                action: "password.change.fail",
                target: &user.name,
                detail: &address,
            })
            .await;
        return Ok(page(
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            "Your current password is not right.".into(),
        ));
    }
    if form.new != form.confirm {
        return Ok(page(
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            "The new password and its confirmation differ.".into(),
        ));
    }
    let changed = accounts::set_password(store, &user.name, &form.new, &user.actor()).await;
    let user_row = match changed {
        Ok(u) => u,
        Err(AccountError::Invalid(m)) => {
            return Ok(page(StatusCode::UNPROCESSABLE_ENTITY, false, m));
        }
        Err(AccountError::Store(e)) => return Err(ApiError::from(e).into()),
        Err(AccountError::Hash(m)) => {
            tracing::error!(error = %m, "password hashing failed");
            return Err(PageError::internal());
        }
    };
    // Every session ended with the change, this one too: start a new one
    // here, so only this browser stays logged in.
    let cookie = super::login::new_session(&state, user_row.id, None, &headers)
        .await
        .map_err(ApiError::from)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (
                header::LOCATION,
                axum::http::HeaderValue::from_static("/account/password?done=1"),
            ),
        ],
    )
        .into_response())
}
