//! The login and logout pages.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::render_with;
use crate::accounts;
use crate::store::{NewAudit, NewSession};
use crate::web::auth::{self, ClientAddr, CurrentUser, SESSION_COOKIE, Via};
use crate::web::{ApiError, AppState, PageError};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginView {
    title: &'static str,
    query: String,
    next: String,
    name: String,
    error: String,
}

fn login_page(status: StatusCode, next: String, name: String, error: String) -> Response {
    render_with(
        status,
        &LoginView {
            title: "Log in",
            query: String::new(),
            next,
            name,
            error,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only paths on this server: `/x`, never `//host` or `/\host`.
fn local_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if ok { next.to_owned() } else { "/".to_owned() }
}

pub async fn view_login_get(Query(q): Query<NextQuery>) -> Response {
    login_page(
        StatusCode::OK,
        local_next(&q.next),
        String::new(),
        String::new(),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn view_login_post(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_next(&form.next);
    let name = form.name.trim().to_owned();
    if let Err(limited) = state.limits.check_login(&name, &address) {
        let secs = limited.retry_after_secs();
        tracing::warn!(%address, account = %name, "login rate limited");
        let mut response = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            next,
            name,
            format!("Too many login attempts. Wait {secs} s and try again."),
        );
        let (k, v) = limited.retry_after_header();
        response.headers_mut().insert(k, v);
        return response;
    }

    let store = state.kb.store();
    let found = match store.user_by_name(&name).await {
        Ok(found) => found,
        Err(e) => return PageError::from(ApiError::from(e)).into_response(),
    };
    let (user, hash) = match found {
        Some((user, hash)) if !user.disabled => (Some(user), Some(hash)),
        _ => (None, None),
    };
    let ok = accounts::verify_password(form.password, hash).await;
    let Some(user) = user.filter(|_| ok) else {
        let _ = store
            .record_audit(NewAudit {
                actor: "anonymous",
                action: "login.fail",
                target: &name,
                detail: &address,
            })
            .await;
        return login_page(
            StatusCode::UNAUTHORIZED,
            next,
            name,
            "Wrong name or password, or the account is disabled.".into(),
        );
    };

    // A new session id at every login: an id planted before login is useless.
    let old = auth::cookie(&headers, SESSION_COOKIE)
        .filter(|v| v.len() == 64)
        .map(accounts::hash_secret);
    let cookie = match new_session(&state, user.id, old.as_deref(), &headers).await {
        Ok(cookie) => cookie,
        Err(e) => return PageError::from(ApiError::from(e)).into_response(),
    };
    // Housekeeping: logins are rare enough to sweep expired sessions here.
    let security = &state.config.security;
    let now = chrono::Utc::now();
    // At most ten years back, so the subtraction cannot overflow.
    let span = |s: u64| chrono::Duration::seconds(i64::try_from(s.min(315_360_000)).unwrap_or(0));
    let (idle, age) = (
        span(security.session_idle_s),
        span(security.session_absolute_s),
    );
    if let Err(e) = store.delete_expired_sessions(now - idle, now - age).await {
        tracing::warn!(error = %e, "cannot delete expired sessions");
    }
    let _ = store
        .record_audit(NewAudit {
            actor: &user.name,
            action: "login.ok",
            target: &user.name,
            detail: &address,
        })
        .await;
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (
                header::LOCATION,
                HeaderValue::from_str(&next).unwrap_or(HeaderValue::from_static("/")),
            ),
        ],
    )
        .into_response()
}

/// Starts a session for `user_id` (ending `replaces`, the hash of the
/// browser's previous session id): the `Set-Cookie` value that carries it.
pub(crate) async fn new_session(
    state: &AppState,
    user_id: i64,
    replaces: Option<&str>,
    headers: &HeaderMap,
) -> Result<HeaderValue, crate::store::StoreError> {
    let id = accounts::random_secret();
    let csrf = accounts::random_secret();
    state
        .kb
        .store()
        .create_session(NewSession {
            id_hash: &accounts::hash_secret(&id),
            user_id,
            csrf_token: &csrf,
            replaces,
        })
        .await?;
    let secure = auth::wants_secure_cookie(state, headers);
    Ok(auth::session_cookie(
        &id,
        state.config.security.session_absolute_s,
        secure,
    ))
}

pub async fn view_logout_post(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Response {
    if let Via::Session { id_hash, .. } = &user.via {
        let store = state.kb.store();
        if let Err(e) = store.delete_session(id_hash).await {
            return PageError::from(ApiError::from(e)).into_response();
        }
        let _ = store
            .record_audit(NewAudit {
                actor: &user.name,
                action: "logout",
                target: &user.name,
                detail: "",
            })
            .await;
    }
    let secure = auth::wants_secure_cookie(&state, &headers);
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, auth::clear_session_cookie(secure)),
            (header::LOCATION, HeaderValue::from_static("/login")),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::local_next;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(local_next("/playbooks?layer=dns"), "/playbooks?layer=dns");
        assert_eq!(local_next("//evil.example/"), "/");
        assert_eq!(local_next("/\\evil.example"), "/");
        assert_eq!(local_next("https://evil.example"), "/");
        assert_eq!(local_next(""), "/");
    }
}
