//! Who is asking, and may they: sessions, API tokens, roles and CSRF.
//!
//! One middleware, [`authorize`], runs on every routed request. It looks the
//! matched route up in [`super::access::RULES`], finds the caller (a session
//! cookie, or `Authorization: Bearer` on `/api/`), checks CSRF on unsafe
//! methods, checks the role, and hands the caller to the handler as a
//! [`CurrentUser`] (an extractor) and to templates through [`signed_in`] and
//! [`csrf_token`].
//!
//! Sessions live in the store: the cookie holds 32 random bytes, the store
//! their SHA-256. The cookie is `HttpOnly`, `SameSite=Lax`, `Secure` over
//! TLS; a session ends after `session_idle_s` unused or `session_absolute_s`
//! after login, and login always starts a new one (no fixation).
//!
//! CSRF: every unsafe method from a browser must carry the session's token
//! (form field `csrf_token` or header `X-CSRF-Token`), and an `Origin` (or,
//! failing that, `Referer`) naming another site is refused outright. Calls
//! with a bearer token carry no cookie and are exempt.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{
    ConnectInfo, FromRequestParts, MatchedPath, OptionalFromRequestParts, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::access::{self, Access};
use super::{ApiError, AppState, PageError};
use crate::accounts;
use crate::store::Role;

pub const SESSION_COOKIE: &str = "faultline_session";
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sessions are marked used at most this often (one write a minute, not one
/// per request).
const TOUCH_EVERY_S: i64 = 60;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session: the hash of its id and its CSRF token.
    Session { id_hash: String, csrf_token: String },
    /// An API token.
    Token { id: i64 },
    /// Nobody (anonymous read access).
    Anonymous,
}

/// The caller of this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub name: String,
    pub role: Role,
    pub via: Via,
}

impl CurrentUser {
    /// At least `role`.
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }

    pub fn is_anonymous(&self) -> bool {
        self.via == Via::Anonymous
    }

    /// The name to record as the author of a change.
    pub fn actor(&self) -> String {
        match self.via {
            Via::Token { .. } => format!("token:{}", self.name),
            _ => self.name.clone(),
        }
    }
}

tokio::task_local! {
    static CURRENT: Option<CurrentUser>;
}

/// The logged-in caller of the request being handled, for templates
/// (`base.html` shows it). `None` outside a request or when anonymous.
pub fn signed_in() -> Option<CurrentUser> {
    CURRENT
        .try_with(|c| c.clone())
        .ok()
        .flatten()
        .filter(|c| !c.is_anonymous())
}

/// The CSRF token of the current session, for forms:
/// `<input type="hidden" name="csrf_token" value="{{ crate::web::auth::csrf_token() }}">`.
/// Empty without a session.
pub fn csrf_token() -> String {
    match signed_in().map(|c| c.via) {
        Some(Via::Session { csrf_token, .. }) => csrf_token,
        _ => String::new(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| unauthenticated(parts.uri.path(), &parts.method, None))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

/// The client's address, when the server recorded it (see `serve`): as
/// `forwarded::resolve_client` attributed it (behind a trusted proxy, from
/// `X-Forwarded-For`), else the connecting peer.
pub fn client_address(parts_extensions: &axum::http::Extensions) -> String {
    if let Some(client) = parts_extensions.get::<super::forwarded::ClientIp>() {
        return client.0.to_string();
    }
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// The client's IP address as text (`unknown` when the server did not
/// record it, as in `oneshot` tests).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(&parts.extensions)))
    }
}

/// The value of one cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request reached us over TLS (directly or through a proxy
/// that says so), or the config asks for `Secure` cookies anyway.
pub fn wants_secure_cookie(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.security.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(value: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    ))
    .expect("hex cookie value")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("static cookie")
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// No (valid) credentials: pages redirect to the login page for reads,
/// everything else is 401.
fn unauthenticated(path: &str, method: &axum::http::Method, query: Option<&str>) -> Response {
    if is_api(path) {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in or send Authorization: Bearer <API token>",
        )
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    if access::is_safe(method) {
        let mut next = path.to_owned();
        if let Some(q) = query {
            next.push('?');
            next.push_str(q);
        }
        let location = format!("/login?next={}", percent_encode(&next));
        return (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/login")),
            )],
        )
            .into_response();
    }
    PageError {
        status: StatusCode::UNAUTHORIZED,
        message: "Log in first.".into(),
    }
    .into_response()
}

fn forbidden(path: &str, message: &str) -> Response {
    if is_api(path) {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
    } else {
        PageError {
            status: StatusCode::FORBIDDEN,
            message: message.to_owned(),
        }
        .into_response()
    }
}

fn too_large(path: &str, limit: usize) -> Response {
    let message = format!("the request body is larger than {limit} bytes");
    if is_api(path) {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).into_response()
    } else {
        PageError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message,
        }
        .into_response()
    }
}

fn store_failed(path: &str, e: crate::store::StoreError) -> Response {
    let api: ApiError = e.into();
    if is_api(path) {
        api.into_response()
    } else {
        PageError::from(api).into_response()
    }
}

/// Encodes a `next` path for a query string.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The middleware: see the module docs.
pub async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let rule = access::rule_for(&route, &parts.method);
    let access = match rule {
        Some(rule) => rule.access,
        None if access::is_safe(&parts.method) => {
            tracing::warn!(
                route,
                "no access rule for this route: viewer assumed (add it to web/access.rs)"
            );
            Access::Role(Role::Viewer)
        }
        None => {
            tracing::error!(route, method = %parts.method, "no access rule for this route: refused (add it to web/access.rs)");
            return forbidden(&path, "This action is not open to anyone yet.");
        }
    };

    // Per-route body limit: small forms are read whole here.
    let mut body = body;
    let mut form: Option<axum::body::Bytes> = None;
    if let Some(limit) = rule.and_then(|r| r.body_limit) {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return too_large(&path, limit);
        }
        match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => {
                form = Some(bytes.clone());
                body = Body::from(bytes);
            }
            Err(_) => return too_large(&path, limit),
        }
    }

    // The ingest endpoint authenticates collectors itself.
    if access == Access::Collector {
        return next.run(Request::from_parts(parts, body)).await;
    }

    // Cross-site writes are refused whoever the caller is (the login form
    // included); bearer-token calls carry no cookie and are exempt.
    let bearer = bearer_token(&parts.headers).filter(|_| is_api(&path));
    if !access::is_safe(&parts.method) && bearer.is_none() && !same_origin(&parts.headers) {
        return forbidden(
            &path,
            "This request came from another site and was refused (CSRF protection).",
        );
    }

    let caller = match bearer {
        Some(token) => match accounts::find_api_token(state.kb.store(), token).await {
            Ok(Some(t)) => {
                let stale = t
                    .last_used_at
                    .is_none_or(|at| (Utc::now() - at).num_seconds() >= TOUCH_EVERY_S);
                if stale && let Err(e) = state.kb.store().touch_api_token(t.id).await {
                    tracing::warn!(error = %e, "cannot record API token use");
                }
                Some(CurrentUser {
                    name: t.name,
                    role: t.role,
                    via: Via::Token { id: t.id },
                })
            }
            Ok(None) => return unauthenticated(&path, &parts.method, None),
            Err(e) => return store_failed(&path, e),
        },
        None => match session_user(&state, &parts.headers).await {
            Ok(user) => user,
            Err(e) => return store_failed(&path, e),
        },
    };

    // The session's CSRF token on every unsafe method.
    if let Some(CurrentUser {
        via: Via::Session { csrf_token, .. },
        ..
    }) = &caller
        && !access::is_safe(&parts.method)
        && !csrf_matches(&parts.headers, form.as_deref(), csrf_token)
    {
        return forbidden(
            &path,
            "The form was stale or incomplete (missing CSRF token); reload the page and try again.",
        );
    }

    let caller = match access {
        Access::Public => caller,
        Access::Collector => unreachable!("handled above"),
        Access::Role(needed) => match caller {
            Some(c) if c.can(needed) => Some(c),
            Some(_) => {
                return forbidden(
                    &path,
                    &format!("This needs the {needed} role; ask an admin if you need it."),
                );
            }
            None if state.config.security.anonymous_read
                && needed == Role::Viewer
                && (access::is_safe(&parts.method) || rule.is_some_and(|r| r.reads_only)) =>
            {
                Some(CurrentUser {
                    name: "anonymous".into(),
                    role: Role::Viewer,
                    via: Via::Anonymous,
                })
            }
            None => return unauthenticated(&path, &parts.method, parts.uri.query()),
        },
    };

    if let Some(c) = &caller {
        parts.extensions.insert(c.clone());
    }
    CURRENT
        .scope(caller, next.run(Request::from_parts(parts, body)))
        .await
}

/// The user behind the session cookie, if the session is live. Expired
/// sessions are deleted on sight.
async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, crate::store::StoreError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if value.len() != 64 {
        return Ok(None);
    }
    let id_hash = accounts::hash_secret(value);
    let store = state.kb.store();
    let Some(session) = store.session(&id_hash).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let security = &state.config.security;
    let idle = (now - session.last_seen_at).num_seconds();
    let age = (now - session.created_at).num_seconds();
    if session.user.disabled
        || idle > i64::try_from(security.session_idle_s).unwrap_or(i64::MAX)
        || age > i64::try_from(security.session_absolute_s).unwrap_or(i64::MAX)
    {
        store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    if idle >= TOUCH_EVERY_S {
        store.touch_session(&id_hash).await?;
    }
    Ok(Some(CurrentUser {
        name: session.user.name,
        role: session.user.role,
        via: Via::Session {
            id_hash,
            csrf_token: session.csrf_token,
        },
    }))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `Origin` (or `Referer`) names this server, or is absent. `Origin: null`
/// (sandboxed frames, some redirects) is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        // HTTP/1.1 requires Host; without it nothing can be compared.
        return headers.get(header::ORIGIN).is_none() && headers.get(header::REFERER).is_none();
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER));
    let Some(source) = source else {
        return true;
    };
    let Ok(source) = source.to_str() else {
        return false;
    };
    let Some((_, rest)) = source.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.eq_ignore_ascii_case(host)
}

/// The request carries the session's CSRF token, in the header or the form.
fn csrf_matches(headers: &HeaderMap, form: Option<&[u8]>, expected: &str) -> bool {
    if let Some(sent) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return accounts::constant_time_eq(sent, expected);
    }
    let Some(form) = form else {
        return false;
    };
    let Ok(form) = std::str::from_utf8(form) else {
        return false;
    };
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == CSRF_FIELD)
        .is_some_and(|(_, v)| accounts::constant_time_eq(v, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_must_name_this_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8740")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("origin", "http://127.0.0.1:8740")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8740"),
            ("origin", "null")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "faultline.corp"),
            ("referer", "https://faultline.corp/admin?x=1")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "faultline.corp"),
            ("referer", "https://faultline.corp.evil.example/")
        ])));
    }

    #[test]
    fn csrf_token_from_header_or_form() {
        let t = "ab".repeat(32);
        assert!(csrf_matches(&headers(&[(CSRF_HEADER, &t)]), None, &t));
        assert!(!csrf_matches(&headers(&[(CSRF_HEADER, "nope")]), None, &t));
        let form = format!("name=x&csrf_token={t}&role=admin");
        assert!(csrf_matches(&HeaderMap::new(), Some(form.as_bytes()), &t));
        assert!(!csrf_matches(&HeaderMap::new(), Some(b"name=x"), &t));
        assert!(!csrf_matches(&HeaderMap::new(), None, &t));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "theme=dark; faultline_session=abc ; x=y")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "nope"), None);
        let set = session_cookie("abc", 60, true);
        let set = set.to_str().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(percent_encode("/search?q=a b"), "/search%3Fq%3Da%20b");
    }
}
