//! `/r/{alertname}`: a stable link per alert name, for the `runbook_url` of
//! an alerting rule, that redirects to the playbook the alert maps to; and
//! `/alert-routes`, where editors set alert name → playbook. An alert name
//! without a mapping goes to the top search hit for its words
//! (`KubePodCrashLooping` is searched as "Kube Pod Crash Looping"), else to
//! the search page.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render_with;
use crate::search::SearchRequest;
use crate::store::Role;
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState, PageError};

/// The words of an alert name: CamelCase, snake_case and kebab-case split.
pub fn alert_words(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_alphabetic() && c.is_ascii_digit())
                || (p.is_ascii_digit() && c.is_alphabetic());
            if boundary && !out.ends_with(' ') {
                out.push(' ');
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out.trim().to_owned()
}

/// Where `/r/{alertname}` goes: the mapped playbook, else the top hit.
pub async fn view_alert_redirect_get(
    State(state): State<AppState>,
    Path(alertname): Path<String>,
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
    let top = state
        .kb
        .search(&SearchRequest {
            text: words.clone(),
            tag: None,
            layer: None,
            limit: 10,
        })
        .ok()
        // Postmortems are searched too; an alert link goes to a playbook.
        .and_then(|r| r.hits.into_iter().find(|h| !h.is_postmortem()));
    let to = match top {
        Some(hit) => format!("/playbooks/{}", hit.id),
        None => format!("/search?q={}", urlencode(&words)),
    };
    Ok(Redirect::temporary(&to).into_response())
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
}

async fn page(
    state: &AppState,
    user: Option<CurrentUser>,
    status: StatusCode,
    error: Option<String>,
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
        },
    ))
}

pub async fn view_alert_routes_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    page(&state, user, StatusCode::OK, None).await
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

#[cfg(test)]
mod tests {
    use super::alert_words;

    #[test]
    fn alert_names_split_into_words() {
        assert_eq!(alert_words("KubePodCrashLooping"), "Kube Pod Crash Looping");
        assert_eq!(alert_words("conntrack_table_full"), "conntrack table full");
        assert_eq!(alert_words("HTTP502Errors"), "HTTP 502 Errors");
        assert_eq!(alert_words("high-p99-latency"), "high p 99 latency");
        assert_eq!(alert_words("  "), "");
    }
}
