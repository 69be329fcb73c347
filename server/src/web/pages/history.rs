//! `/playbooks/{id}/history`: every version with its time, author and
//! origin, a line diff between any two, and revert (an older version's text
//! saved as a new version).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::editor::can_edit;
use super::render;
use crate::core::diff::{LineDiff, line_diff};
use crate::kb::KbError;
use crate::store::{Origin, StoreError};
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState, PageError};

pub struct VersionRow {
    pub version: i64,
    pub when: String,
    pub when_iso: String,
    pub author: String,
    pub origin: &'static str,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryView {
    title: String,
    query: String,
    id: String,
    current: i64,
    rows: Vec<VersionRow>,
    /// The two versions compared (older, newer); 0 when there is one version.
    a: i64,
    b: i64,
    diff: Option<LineDiff>,
    editor: bool,
}

/// `?a=&b=`: the two versions to compare.
#[derive(Deserialize)]
pub struct Compare {
    a: Option<i64>,
    b: Option<i64>,
}

impl Compare {
    /// The versions to compare (by default what `current` changed) and
    /// their diff when there are two or more. `source_of` gives a version's
    /// text, or the 404 that names it.
    pub fn pick<'a>(
        &self,
        current: i64,
        versions: usize,
        source_of: impl Fn(i64) -> Result<&'a str, PageError>,
    ) -> Result<(i64, i64, Option<LineDiff>), PageError> {
        let b = self.b.unwrap_or(current);
        let a = self.a.unwrap_or(if b > 1 { b - 1 } else { b });
        let diff = if versions > 1 {
            Some(line_diff(source_of(a)?, source_of(b)?))
        } else {
            None
        };
        Ok((a, b, diff))
    }
}

pub async fn view_history_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Compare>,
) -> Result<Response, PageError> {
    let versions = state
        .kb
        .store()
        .playbook_history(&id)
        .await
        .map_err(ApiError::from)?;
    let Some(newest) = versions.first() else {
        return Err(PageError::not_found(format!(
            "There is no playbook called “{id}”."
        )));
    };
    let current = newest.version;
    let (a, b, diff) = q.pick(current, versions.len(), |v| {
        versions
            .iter()
            .find(|x| x.version == v)
            .map(|x| x.source.as_str())
            .ok_or_else(|| PageError::not_found(format!("“{id}” has no version {v}.")))
    })?;
    let rows = versions
        .iter()
        .map(|v| VersionRow {
            version: v.version,
            when: v.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            when_iso: v.created_at.to_rfc3339(),
            author: v.author.clone().unwrap_or_else(|| "—".into()),
            origin: v.origin.as_str(),
        })
        .collect();
    Ok(render(&HistoryView {
        title: format!("History of {id}"),
        query: String::new(),
        id,
        current,
        rows,
        a,
        b,
        diff,
        editor: can_edit(),
    }))
}

#[derive(Deserialize)]
pub struct RevertForm {
    version: i64,
    base_version: i64,
}

pub async fn view_revert_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    user: CurrentUser,
    Form(form): Form<RevertForm>,
) -> Result<Response, PageError> {
    let old = state
        .kb
        .store()
        .playbook_version(&id, form.version)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| PageError::not_found(format!("“{id}” has no version {}.", form.version)))?;
    let saved = state
        .kb
        .save(
            &format!("{id}.md"),
            &old.source,
            Origin::Edit,
            Some(&user.actor()),
            Some(form.base_version),
        )
        .await;
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/playbooks/{id}/history")).into_response()),
        Err(KbError::Store(StoreError::Conflict { current })) => Err(PageError {
            status: StatusCode::CONFLICT,
            message: format!(
                "Someone saved version {current} of “{id}” after you opened the history; \
                 nothing was reverted. Reload the history to see their change, then revert again."
            ),
        }),
        Err(KbError::Invalid(e)) => Err(PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!(
                "Version {} no longer passes today's checks ({e}); open it in the editor to fix it.",
                form.version
            ),
        }),
        Err(e) => Err(ApiError::from(e).into()),
    }
}
