//! The admin page: users and roles, API tokens, collectors, notification
//! targets, the audit log.
//!
//! Collectors: their tokens come from the ingest side (`ingest::add_collector`,
//! which `faultline collector add` calls too); this page adds them (the
//! token shown once), lists them through `ReportStore::collectors` and
//! revokes them with `revoke_collector`.
//!
//! Notification targets: those of the config file are listed (not
//! editable here); others are added and removed here (`NotificationStore`),
//! and any can be sent a test message. Addresses are shown redacted.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::render_with;
use crate::accounts::{self, AccountError};
use crate::notify::{Kind, Source, Trigger, WebhookUrl};
use crate::store::{AuditEntry, NewAudit, Role, StoreError, User, UserChange};
use crate::web::auth::{self, CurrentUser};
use crate::web::{ApiError, AppState, PageError};

/// Audit lines shown.
const AUDIT_LINES: i64 = 50;

struct TokenLine {
    id: i64,
    name: String,
    role: Role,
    created: String,
    created_by: String,
    last_used: String,
    revoked: String,
}

struct CollectorLine {
    name: String,
    labels: Vec<(String, String)>,
    created: String,
    last_report: String,
    revoked: String,
}

struct TargetLine {
    name: String,
    kind: &'static str,
    url: String,
    labels: String,
    events: String,
    fallback: bool,
    source: String,
    removable: bool,
}

struct AuditLine {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminView {
    title: &'static str,
    query: String,
    csrf: String,
    roles: Vec<&'static str>,
    users: Vec<User>,
    tokens: Vec<TokenLine>,
    collectors: Vec<CollectorLine>,
    targets: Vec<TargetLine>,
    /// (value, label) of each receiver kind.
    kinds: Vec<(&'static str, &'static str)>,
    triggers: Vec<&'static str>,
    /// Where links in messages point.
    base_url: String,
    audit: Vec<AuditLine>,
    /// A token just made, shown once: (what it is for, the token).
    new_token: Option<(String, String)>,
    notice: String,
    error: String,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Renders the page; `status` says how the last action went.
async fn admin_page(
    state: &AppState,
    status: StatusCode,
    new_token: Option<(String, String)>,
    notice: String,
    error: String,
) -> Result<Response, PageError> {
    let store = state.kb.store();
    let users = store.list_users().await.map_err(page_error)?;
    let tokens = store
        .list_api_tokens()
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|t| TokenLine {
            id: t.id,
            name: t.name,
            role: t.role,
            created: when(t.created_at),
            created_by: t.created_by.unwrap_or_default(),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), when),
            revoked: t.revoked_at.map(when).unwrap_or_default(),
        })
        .collect();
    let collectors = store
        .collectors()
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|c| CollectorLine {
            labels: c.labels.into_iter().collect(),
            name: c.name,
            created: when(c.created_at),
            last_report: c.last_report_at.map_or_else(|| "never".to_owned(), when),
            revoked: c.revoked_at.map(when).unwrap_or_default(),
        })
        .collect();
    let targets = crate::notify::targets(&state.kb, &state.config.notifications)
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|t| TargetLine {
            kind: t.kind.label(),
            url: t.url.redacted(),
            labels: match t.labels_text() {
                l if l.is_empty() => "every incident".to_owned(),
                l => l,
            },
            events: t
                .events
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            fallback: t.fallback,
            removable: !matches!(t.source, Source::ConfigFile),
            source: match &t.source {
                Source::ConfigFile => "config file".to_owned(),
                Source::Admin { by, at } => format!("{by}, {}", when(*at)),
            },
            name: t.name,
        })
        .collect();
    let audit = store
        .recent_audit(AUDIT_LINES)
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|a: AuditEntry| AuditLine {
            at: a.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: a.actor,
            action: a.action,
            target: a.target,
            detail: a.detail,
        })
        .collect();
    Ok(render_with(
        status,
        &AdminView {
            title: "Admin",
            query: String::new(),
            csrf: auth::csrf_token(),
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
            users,
            tokens,
            collectors,
            targets,
            kinds: Kind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
            triggers: Trigger::ALL.iter().map(|t| t.as_str()).collect(),
            base_url: state.links.base_url().to_owned(),
            audit,
            new_token,
            notice,
            error,
        },
    ))
}

fn page_error(e: StoreError) -> PageError {
    PageError::from(ApiError::from(e))
}

/// After a change: back to the page (POST, redirect, GET).
fn back_to_admin(anchor: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(&format!("/admin#{anchor}"))
                .unwrap_or(HeaderValue::from_static("/admin")),
        )],
    )
        .into_response()
}

/// An account error shown on the page with the right status.
async fn failed(state: &AppState, e: AccountError) -> Result<Response, PageError> {
    let (status, message) = match e {
        AccountError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        AccountError::Store(StoreError::AlreadyExists(what)) => {
            (StatusCode::CONFLICT, format!("There is already {what}."))
        }
        AccountError::Store(StoreError::NotFound) => {
            (StatusCode::NOT_FOUND, "No such user or token.".to_owned())
        }
        AccountError::Store(other) => return Err(page_error(other)),
        AccountError::Hash(m) => {
            tracing::error!(error = %m, "password hashing failed");
            return Err(PageError::internal());
        }
    };
    admin_page(state, status, None, String::new(), message).await
}

fn parse_role(s: &str) -> Result<Role, AccountError> {
    Role::parse(s).ok_or_else(|| {
        AccountError::Invalid(format!(
            "{s:?} is not a role: use viewer, responder, editor or admin"
        ))
    })
}

pub async fn view_admin_get(State(state): State<AppState>) -> Result<Response, PageError> {
    admin_page(&state, StatusCode::OK, None, String::new(), String::new()).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    password: String,
    role: String,
}

pub async fn view_admin_users_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let result = async {
        let role = parse_role(&form.role)?;
        accounts::add_user(
            state.kb.store(),
            form.name.trim(),
            &form.password,
            role,
            &me.actor(),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(back_to_admin("users")),
        Err(e) => failed(&state, e).await,
    }
}

#[derive(Deserialize)]
pub struct UserChangeForm {
    action: String,
    #[serde(default)]
    role: String,
    /// The new password, for `action=password`.
    #[serde(default)]
    password: String,
}

/// `action=password`: sets a new password for someone who lost theirs;
/// their sessions end. Admins change their own on `/account/password`.
async fn reset_password(
    state: &AppState,
    me: &CurrentUser,
    name: &str,
    password: &str,
) -> Result<Response, PageError> {
    if name == me.name {
        return failed(
            state,
            AccountError::Invalid(
                "Change your own password on the Password page (it asks for the current one)."
                    .into(),
            ),
        )
        .await;
    }
    match accounts::set_password(state.kb.store(), name, password, &me.actor()).await {
        Ok(_) => Ok(back_to_admin("users")),
        Err(e) => failed(state, e).await,
    }
}

pub async fn view_admin_user_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
    Form(form): Form<UserChangeForm>,
) -> Result<Response, PageError> {
    if form.action == "password" {
        return reset_password(&state, &me, &name, &form.password).await;
    }
    let change = match form.action.as_str() {
        "role" => parse_role(&form.role).map(|role| UserChange {
            role: Some(role),
            ..UserChange::default()
        }),
        "disable" => Ok(UserChange {
            disabled: Some(true),
            ..UserChange::default()
        }),
        "enable" => Ok(UserChange {
            disabled: Some(false),
            ..UserChange::default()
        }),
        other => Err(AccountError::Invalid(format!("unknown action {other:?}"))),
    };
    let change = match change {
        Ok(c) => c,
        Err(e) => return failed(&state, e).await,
    };
    // Admins cannot lock themselves out by accident.
    if name == me.name
        && (change.disabled == Some(true) || change.role.is_some_and(|r| r != Role::Admin))
    {
        return failed(
            &state,
            AccountError::Invalid(
                "You cannot disable yourself or drop your own admin role; ask another admin."
                    .into(),
            ),
        )
        .await;
    }
    match state
        .kb
        .store()
        .update_user(&name, change, &me.actor())
        .await
    {
        Ok(_) => Ok(back_to_admin("users")),
        Err(e) => failed(&state, e.into()).await,
    }
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
}

pub async fn view_admin_tokens_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    let result = async {
        let role = parse_role(&form.role)?;
        accounts::add_api_token(state.kb.store(), form.name.trim(), role, &me.actor()).await
    }
    .await;
    match result {
        // Shown once, on this page; never again.
        Ok((token, record)) => {
            admin_page(
                &state,
                StatusCode::OK,
                Some(("New API token".to_owned(), token)),
                format!("Token {} created with role {}.", record.name, record.role),
                String::new(),
            )
            .await
        }
        Err(e) => failed(&state, e).await,
    }
}

pub async fn view_admin_token_revoke_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    match state.kb.store().revoke_api_token(id, &me.actor()).await {
        Ok(_) => Ok(back_to_admin("tokens")),
        Err(e) => failed(&state, e.into()).await,
    }
}

#[derive(Deserialize)]
pub struct NewCollectorForm {
    name: String,
    /// `key=value`, one per line or comma separated.
    #[serde(default)]
    labels: String,
}

/// Adds a collector as `faultline collector add` does; its token is shown
/// once, on this page.
pub async fn view_admin_collectors_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<NewCollectorForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    let checked = crate::ingest::valid_collector_name(name)
        .and_then(|()| crate::core::labels::parse(&form.labels));
    let labels = match checked {
        Ok(labels) => labels,
        Err(message) => return failed(&state, AccountError::Invalid(message)).await,
    };
    let store = state.kb.store();
    match crate::ingest::add_collector(store, name, &labels).await {
        Ok((record, token)) => {
            let detail = labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = store
                .record_audit(NewAudit {
                    actor: &me.actor(),
                    action: "collector.add",
                    target: &record.name,
                    detail: &detail,
                })
                .await;
            admin_page(
                &state,
                StatusCode::OK,
                Some((format!("Token for collector {}", record.name), token)),
                format!(
                    "Collector {} added. Give the token to its probe (`token` in its config, or \
                     --token); it is sent as Authorization: Bearer <token>.",
                    record.name
                ),
                String::new(),
            )
            .await
        }
        Err(StoreError::AlreadyExists(_)) => {
            let what = format!("a collector named {name:?}; pick another name");
            failed(&state, AccountError::Store(StoreError::AlreadyExists(what))).await
        }
        Err(e) => failed(&state, e.into()).await,
    }
}

pub async fn view_admin_collector_revoke_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let store = state.kb.store();
    match store.revoke_collector(&name).await {
        Ok(_) => {
            let _ = store
                .record_audit(NewAudit {
                    actor: &me.actor(),
                    action: "collector.revoke",
                    target: &name,
                    detail: "",
                })
                .await;
            Ok(back_to_admin("collectors"))
        }
        Err(e) => failed(&state, e.into()).await,
    }
}

#[derive(Deserialize)]
pub struct NewTargetForm {
    name: String,
    kind: String,
    url: String,
    /// `key=value`, one per line or comma separated; empty: every incident.
    #[serde(default)]
    labels: String,
    #[serde(default)]
    fallback: Option<String>,
    #[serde(default)]
    ev_opened: Option<String>,
    #[serde(default)]
    ev_diagnosis: Option<String>,
    #[serde(default)]
    ev_verdict: Option<String>,
    #[serde(default)]
    ev_resolved: Option<String>,
}

impl NewTargetForm {
    fn events(&self) -> Vec<String> {
        [
            (&self.ev_opened, Trigger::Opened),
            (&self.ev_diagnosis, Trigger::Diagnosis),
            (&self.ev_verdict, Trigger::Verdict),
            (&self.ev_resolved, Trigger::Resolved),
        ]
        .into_iter()
        .filter(|(on, _)| on.is_some())
        .map(|(_, t)| t.as_str().to_owned())
        .collect()
    }
}

/// Adds a notification target (stored; the config file's stay there).
pub async fn view_admin_notifications_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<NewTargetForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    let checked = (|| {
        crate::notify::target::check_name(name)?;
        let kind = Kind::parse(form.kind.trim()).ok_or_else(|| {
            format!(
                "{:?} is not a kind of target: use webhook, slack or teams",
                form.kind
            )
        })?;
        let url = WebhookUrl::parse(&form.url).map_err(|e| format!("Address: {e}."))?;
        let labels = crate::core::labels::parse(&form.labels)?;
        let events = form.events();
        if events.is_empty() {
            return Err("Pick at least one event to send.".to_owned());
        }
        Ok((kind, url, labels, events))
    })();
    let (kind, url, labels, events) = match checked {
        Ok(c) => c,
        Err(message) => return failed(&state, AccountError::Invalid(message)).await,
    };
    if state
        .config
        .notifications
        .targets
        .iter()
        .any(|t| t.name == name)
    {
        let what = format!("a target named {name:?} in the config file; pick another name");
        return failed(&state, AccountError::Store(StoreError::AlreadyExists(what))).await;
    }
    let store = state.kb.store();
    let added = store
        .add_notification_target(crate::store::NewTarget {
            name,
            kind: kind.as_str(),
            url: url.expose(),
            labels: &labels,
            events: &events,
            fallback: form.fallback.is_some(),
            who: &me.actor(),
        })
        .await;
    match added {
        Ok(_) => {
            let detail = format!(
                "{} {} events={}{}",
                kind.as_str(),
                url.redacted(),
                events.join(","),
                if labels.is_empty() {
                    String::new()
                } else {
                    format!(
                        " match={}",
                        labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                }
            );
            let _ = store
                .record_audit(NewAudit {
                    actor: &me.actor(),
                    action: "notification.add",
                    target: name,
                    detail: &detail,
                })
                .await;
            Ok(back_to_admin("notifications"))
        }
        Err(e) => failed(&state, e.into()).await,
    }
}

/// Removes a stored notification target.
pub async fn view_admin_notification_remove_post(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let store = state.kb.store();
    match store.remove_notification_target(&name).await {
        Ok(()) => {
            let _ = store
                .record_audit(NewAudit {
                    actor: &me.actor(),
                    action: "notification.remove",
                    target: &name,
                    detail: "",
                })
                .await;
            Ok(back_to_admin("notifications"))
        }
        Err(StoreError::NotFound) => {
            let message = if state
                .config
                .notifications
                .targets
                .iter()
                .any(|t| t.name == name)
            {
                format!("Target {name:?} is set in the config file; remove it there.")
            } else {
                format!("There is no notification target {name:?}.")
            };
            admin_page(&state, StatusCode::NOT_FOUND, None, String::new(), message).await
        }
        Err(e) => failed(&state, e.into()).await,
    }
}

/// Sends one test message to a target now (one attempt, with the usual
/// timeout) and says how it went.
pub async fn view_admin_notification_test_post(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let targets = crate::notify::targets(&state.kb, &state.config.notifications)
        .await
        .map_err(page_error)?;
    let Some(target) = targets.into_iter().find(|t| t.name == name) else {
        let message = format!("There is no notification target {name:?}.");
        return admin_page(&state, StatusCode::NOT_FOUND, None, String::new(), message).await;
    };
    let outcome =
        crate::notify::send_test(&state.links, &state.config.notifications, &target).await;
    let text = format!(
        "Test message to {} ({}, {}): {}",
        target.name,
        target.kind.label(),
        target.url.redacted(),
        outcome.describe()
    );
    let (notice, error) = if matches!(outcome, crate::notify::deliver::Outcome::Delivered { .. }) {
        (text, String::new())
    } else {
        (String::new(), text)
    };
    admin_page(&state, StatusCode::OK, None, notice, error).await
}
