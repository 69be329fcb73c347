//! Diagnosis feedback on the incident page: the Right / Wrong buttons on the
//! top candidates, the verdicts given (`POST /incidents/{id}/verdict`), and
//! the counts the playbook page and the library show (see `crate::feedback`
//! for what each count means).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::incidents::Done;
use crate::incidents::candidates::{Ranked, Source};
use crate::kb::KnowledgeBase;
use crate::store::{NewVerdict, PlaybookFeedback, Verdict, VerdictRecord, current_verdicts};
use crate::web::auth::CurrentUser;
use crate::web::{ApiError, AppState};

/// Likely candidates offered for a verdict (every other candidate is).
const TOP: usize = 3;
/// Longest comment taken, in characters.
const COMMENT_LIMIT: usize = 500;

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub struct VerdictRow {
    pub playbook: String,
    pub who: String,
    /// "right" or "wrong": also the CSS modifier.
    pub verdict: &'static str,
    pub comment: String,
    pub at: String,
}

impl VerdictRow {
    fn of(v: &VerdictRecord) -> VerdictRow {
        VerdictRow {
            playbook: v.playbook.clone(),
            who: v.who.clone(),
            verdict: v.verdict.as_str(),
            comment: v.comment.clone().unwrap_or_default(),
            at: when(v.at),
        }
    }
}

/// A playbook the engineer can judge, with the incident's verdict on it.
pub struct Target {
    pub playbook: String,
    pub title: String,
    pub current: Option<VerdictRow>,
}

/// The verdict box of the incident page (`incident_verdict.html`, included
/// by the live part, whose `id` and `can_respond` it uses).
pub struct FeedbackView {
    pub targets: Vec<Target>,
    /// (playbook id, title) of the confirmed diagnosis.
    pub confirmed: Option<(String, String)>,
    /// Every engineer's current verdict, newest first.
    pub verdicts: Vec<VerdictRow>,
}

impl FeedbackView {
    /// The top likely candidates, the checklist choice and the alert text's
    /// suggestions (likely or not: a responder decides), then any other
    /// playbook that already has a verdict here (so a verdict can be changed
    /// after the ranking moved).
    pub fn new(kb: &KnowledgeBase, ranked: &[Ranked], verdicts: &[VerdictRecord]) -> FeedbackView {
        let current = current_verdicts(verdicts);
        let title = |p: &str| {
            kb.get(p)
                .map_or_else(|| p.to_owned(), |c| c.playbook.meta.title.clone())
        };
        let likely = ranked
            .iter()
            .filter(|c| c.source == Source::Evidence)
            .take(TOP);
        let others = ranked.iter().filter(|c| c.source != Source::Evidence);
        let candidates = likely
            .chain(others)
            .map(|c| (c.playbook.clone(), c.title.clone()));
        let judged = current
            .iter()
            .map(|v| (v.playbook.clone(), title(&v.playbook)));
        let mut targets: Vec<Target> = Vec::new();
        for (playbook, title) in candidates.chain(judged) {
            if targets.iter().any(|t| t.playbook == playbook) {
                continue;
            }
            targets.push(Target {
                current: current
                    .iter()
                    .find(|v| v.playbook == playbook)
                    .map(|v| VerdictRow::of(v)),
                playbook,
                title,
            });
        }
        let confirmed = current
            .iter()
            .find(|v| v.verdict == Verdict::Right)
            .map(|v| (v.playbook.clone(), title(&v.playbook)));
        FeedbackView {
            targets,
            confirmed,
            verdicts: verdicts.iter().map(VerdictRow::of).collect(),
        }
    }
}

#[derive(Deserialize)]
pub struct VerdictForm {
    #[serde(default)]
    playbook: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    comment: String,
}

/// `POST /incidents/{id}/verdict`: records the engineer's verdict on one
/// playbook and goes back to the verdict box (or, for the page's script,
/// says what it recorded).
pub async fn view_incident_verdict_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(form): Form<VerdictForm>,
) -> Response {
    let json = super::incidents::wants_json(&headers);
    super::incidents::answer(record(&state, &user, id, form).await, json)
}

async fn record(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: VerdictForm,
) -> Result<Done, ApiError> {
    let invalid = |field: &str, message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    };
    let verdict = Verdict::parse(&form.verdict).ok_or_else(|| {
        invalid(
            "verdict",
            format!("Unknown verdict {:?}; use right or wrong.", form.verdict),
        )
    })?;
    let playbook = form.playbook.trim();
    let Some(current) = state.kb.get(playbook) else {
        return Err(invalid(
            "playbook",
            format!("There is no playbook {playbook:?}."),
        ));
    };
    let comment = form.comment.trim();
    if comment.chars().count() > COMMENT_LIMIT {
        return Err(invalid(
            "comment",
            format!("The comment is longer than {COMMENT_LIMIT} characters."),
        ));
    }
    let who = user.actor();
    crate::feedback::give_verdict(
        &state.kb,
        &state.incident_bus,
        NewVerdict {
            incident_id: id,
            playbook,
            who: &who,
            verdict,
            comment: (!comment.is_empty()).then_some(comment),
        },
    )
    .await
    .map_err(|e| match e {
        crate::store::StoreError::NotFound => {
            ApiError::not_found(format!("There is no incident {id}."))
        }
        e => ApiError::from(e),
    })?;
    Ok(Done {
        to: format!("/incidents/{id}#verdict"),
        kind: "ok",
        message: format!(
            "Marked “{}” {}.",
            current.playbook.meta.title,
            verdict.as_str()
        ),
    })
}

/// "matched N times, confirmed M, marked wrong K" as the playbook page
/// shows it.
pub struct Stats {
    pub matched: i64,
    pub matched_reports: i64,
    pub matched_incidents: i64,
    pub confirmed: i64,
    pub marked_wrong: i64,
    pub last_verdict: Option<String>,
}

impl Stats {
    pub fn of(f: &PlaybookFeedback) -> Stats {
        Stats {
            matched: f.matched(),
            matched_reports: f.matched_reports,
            matched_incidents: f.matched_incidents,
            confirmed: f.confirmed,
            marked_wrong: f.marked_wrong,
            last_verdict: f.last_verdict_at.map(when),
        }
    }
}
