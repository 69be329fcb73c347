//! `/r/{alertname}`: a stable link per alert name, for the `runbook_url` of
//! an alerting rule, that redirects to the playbook the alert maps to; and
//! `/alert-routes`, where editors set alert name → playbook.
//!
//! An alert name without a mapping never guesses silently: its words
//! (`KubePodCrashLooping` → "Kube Pod Crash Looping") are searched
//! ([`crate::kb::KnowledgeBase::search_alert`]) and the results shown under a
//! notice that no playbook is mapped, with a way to map one. Only a strong,
//! unambiguous first hit ([`crate::search::AlertMatch`]) opens directly, with
//! the same notice on the playbook page.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::search::SearchView;
use super::{render, render_with};
use crate::search::{AlertMatch, SearchError, SearchResults};
use crate::store::Role;
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState, PageError};

/// The words of an alert name, split as a person reads them:
/// `CoreDNSLatencyHigh` → "Core DNS Latency High" (see
/// [`crate::core::words::split_name`]).
pub fn alert_words(name: &str) -> String {
    crate::core::words::split_name(name)
}

/// What `/r/{alertname}` tells the reader when no playbook is mapped to the
/// alert (`alert_notice.html`, on the results or the playbook page).
pub struct AlertNotice {
    pub alertname: String,
    /// The alert name's words, as searched.
    pub words: String,
    /// The strong first hit was opened (else: the results are shown).
    pub opened: bool,
}

#[derive(Deserialize)]
pub struct AlertLinkParams {
    /// `matches`: the results, even when the first hit is strong.
    show: Option<String>,
}

/// Where `/r/{alertname}` goes: the mapped playbook; else the strong first
/// hit for the alert's words, marked as such; else those results.
pub async fn view_alert_redirect_get(
    State(state): State<AppState>,
    Path(alertname): Path<String>,
    Query(params): Query<AlertLinkParams>,
) -> Result<Response, PageError> {
    if let Some(route) = state
        .kb
        .store()
        .alert_route(&alertname)
        .await
        .map_err(ApiError::from)?
        && state.kb.get(&route.playbook).is_some()
    {
        return Ok(Redirect::temporary(&format!("/playbooks/{}", route.playbook)).into_response());
    }
    let words = alert_words(&alertname);
    let kb = state.kb.clone();
    let searched = {
        let words = words.clone();
        tokio::task::spawn_blocking(move || kb.search_alert(&words))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "alert search task failed");
                ApiError::internal()
            })?
    };
    let found = match searched {
        Ok(found) => found,
        // No words to search (`/r/___`): the notice over no results.
        Err(SearchError::EmptyQuery) => AlertMatch {
            results: SearchResults::default(),
            strong: false,
        },
        Err(e) => return Err(ApiError::from(e).into()),
    };
    let want_matches = params.show.as_deref() == Some("matches");
    if let Some(hit) = found.strong_hit().filter(|_| !want_matches) {
        let to = format!("/playbooks/{}?alert={}", hit.id, urlencode(&alertname));
        return Ok(Redirect::temporary(&to).into_response());
    }
    let notice = AlertNotice {
        alertname,
        words: words.clone(),
        opened: false,
    };
    Ok(render(&SearchView::for_alert(words, found.results, notice)))
}

/// The notice for a playbook page `/r/{alertname}` opened: only while the
/// alert is still unmapped, so an old link does not say something false.
pub async fn notice_for_opened(
    state: &AppState,
    alertname: Option<String>,
) -> Result<Option<AlertNotice>, ApiError> {
    let Some(alertname) = alertname.filter(|a| !a.is_empty() && a.len() <= 200) else {
        return Ok(None);
    };
    if state.kb.store().alert_route(&alertname).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(AlertNotice {
        words: alert_words(&alertname),
        alertname,
        opened: true,
    }))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct RouteRow {
    pub alertname: String,
    pub playbook: String,
    pub title: String,
    pub set_by: String,
    pub set_at: String,
}

#[derive(Template)]
#[template(path = "alert_routes.html")]
struct AlertRoutesView {
    title: &'static str,
    query: String,
    can_edit: bool,
    error: Option<String>,
    rows: Vec<RouteRow>,
    playbooks: Vec<(String, String)>,
    /// The alert name the form starts with (`?alertname=`, from a notice).
    alertname: String,
}

async fn page(
    state: &AppState,
    user: Option<CurrentUser>,
    status: StatusCode,
    error: Option<String>,
    alertname: String,
) -> Result<Response, PageError> {
    let routes = state
        .kb
        .store()
        .alert_routes()
        .await
        .map_err(ApiError::from)?;
    let title_of = |id: &str| {
        state.kb.get(id).map_or_else(
            || format!("{id} (no such playbook now)"),
            |c| c.playbook.meta.title.clone(),
        )
    };
    let mut playbooks: Vec<(String, String)> = state
        .kb
        .list()
        .iter()
        .map(|c| (c.playbook.id().to_owned(), c.playbook.meta.title.clone()))
        .collect();
    playbooks.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(render_with(
        status,
        &AlertRoutesView {
            title: "Alert links",
            query: String::new(),
            can_edit: user.is_some_and(|u| u.can(Role::Editor)),
            error,
            rows: routes
                .into_iter()
                .map(|r| RouteRow {
                    title: title_of(&r.playbook),
                    set_at: r.set_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    alertname: r.alertname,
                    playbook: r.playbook,
                    set_by: r.set_by,
                })
                .collect(),
            playbooks,
            alertname,
        },
    ))
}

#[derive(Deserialize)]
pub struct RoutesParams {
    #[serde(default)]
    alertname: String,
}

pub async fn view_alert_routes_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Query(params): Query<RoutesParams>,
) -> Result<Response, PageError> {
    page(&state, user, StatusCode::OK, None, params.alertname).await
}

#[derive(Deserialize)]
pub struct RouteForm {
    alertname: String,
    /// Empty: remove the mapping.
    #[serde(default)]
    playbook: String,
}

pub async fn view_alert_routes_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<RouteForm>,
) -> Result<Response, PageError> {
    let alertname = form.alertname.trim();
    let valid_name = !alertname.is_empty()
        && alertname.len() <= 200
        && !alertname.contains(['/', '?', '#'])
        && !alertname.chars().any(char::is_control);
    if !valid_name {
        let message = "An alert name of 1 to 200 characters, without / ? or #, is needed.";
        return page(
            &state,
            Some(user),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message.into()),
            alertname.to_owned(),
        )
        .await;
    }
    let playbook = match form.playbook.trim() {
        "" => None,
        p if state.kb.get(p).is_some() => Some(p),
        p => {
            let message = format!("There is no playbook {p:?}.");
            return page(
                &state,
                Some(user),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message),
                alertname.to_owned(),
            )
            .await;
        }
    };
    state
        .kb
        .store()
        .set_alert_route(alertname, playbook, &user.actor())
        .await
        .map_err(ApiError::from)?;
    Ok(Redirect::to("/alert-routes").into_response())
}
