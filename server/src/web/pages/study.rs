//! Study mode: `/study` (what is due, progress), `/study/{id}` (the
//! exercise), its reveal page, `/study/team` and a printable sheet.
//!
//! Everything works with plain form posts: a hint is a POST that the store
//! counts (so the hints used are the server's count, not the page's), an
//! answer is a POST that records the try and redirects to its reveal.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use faultline_probe::report::Report;
use serde::Deserialize;

use super::diagnosis::DiagnosisView;
use super::observation_view::ObservationView;
use super::render;
use crate::core::markdown::to_safe_html;
use crate::core::playbook::{Playbook, SectionKind};
use crate::core::study::{self, Outcome, Schedule};
use crate::kb::KnowledgeBase;
use crate::store::{NewAttempt, Role, StudyAttempt};
use crate::web::auth::{CurrentUser, Via, percent_encode};
use crate::web::{ApiError, AppState, PageError};

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/study")),
        )],
    )
        .into_response()
}

/// Study keeps progress per person: anonymous readers are sent to log in,
/// and API tokens (scripts, not people) are refused.
fn learner(user: Option<CurrentUser>, here: &str) -> Result<CurrentUser, Box<Response>> {
    match user {
        Some(u) if matches!(u.via, Via::Session { .. }) => Ok(u),
        Some(u) if !u.is_anonymous() => Err(Box::new(
            PageError {
                status: StatusCode::FORBIDDEN,
                message: "Study progress is kept per person: log in with a browser session.".into(),
            }
            .into_response(),
        )),
        _ => Err(Box::new(
            (
                StatusCode::FOUND,
                [(
                    header::LOCATION,
                    HeaderValue::from_str(&format!("/login?next={}", percent_encode(here)))
                        .unwrap_or(HeaderValue::from_static("/login")),
                )],
            )
                .into_response(),
        )),
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "due now", "due in 10 min", "due in 5 h", "due in 3 days" (rounded up:
/// an exercise due in 9 min 59 s is "due in 10 min").
fn due_label(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(due) = due else {
        return "new".to_owned();
    };
    let secs = (due - now).num_seconds();
    let up = |unit: i64| (secs + unit - 1) / unit;
    if secs <= 0 {
        "due now".to_owned()
    } else if secs <= 3600 {
        format!("due in {} min", up(60))
    } else if secs <= 86_400 {
        format!("due in {} h", up(3600))
    } else {
        match up(86_400) {
            1 => "due in 1 day".to_owned(),
            n => format!("due in {n} days"),
        }
    }
}

/// The playbooks that can be studied, from the knowledge base (built-in and
/// the team's own), ordered by id.
fn exercises(kb: &KnowledgeBase) -> Vec<std::sync::Arc<crate::kb::Current>> {
    kb.list()
        .into_iter()
        .filter(|c| study::is_exercise(&c.playbook))
        .collect()
}

fn exercise(kb: &KnowledgeBase, id: &str) -> Result<std::sync::Arc<crate::kb::Current>, PageError> {
    kb.get(id)
        .filter(|c| study::is_exercise(&c.playbook))
        .ok_or_else(|| PageError::not_found(format!("There is no exercise called “{id}”.")))
}

/// The playbook's first example report that can be read: a built-in
/// example, or a stored report (the evidence of a team playbook).
async fn example_report(state: &AppState, p: &Playbook) -> Option<Report> {
    for e in &p.meta.examples {
        match crate::authoring::example_text(state.kb.store(), &e.report).await {
            Ok(Some(text)) => match Report::from_json(text.as_bytes()) {
                Ok(r) => return Some(r),
                Err(_) => {
                    tracing::warn!(playbook = %p.id(), report = %e.report, "example report does not read")
                }
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot load an example report"),
        }
    }
    None
}

fn outcome(a: &StudyAttempt) -> Outcome {
    Outcome {
        at: a.at,
        correct: a.correct,
        hints_used: a.hints_used.max(0) as usize,
        hint_count: a.hint_count.max(0) as usize,
        points: a.points.max(0) as u32,
    }
}

// ---- /study ----------------------------------------------------------------

pub struct ExerciseRow {
    pub id: String,
    pub alert: String,
    pub origin: &'static str,
    pub due: String,
    pub due_now: bool,
    pub leitner_box: i64,
    pub tries: usize,
}

#[derive(Template)]
#[template(path = "study.html")]
struct StudyView {
    title: &'static str,
    query: String,
    attempts: usize,
    accuracy: String,
    hints_used: usize,
    points: u32,
    day_streak: usize,
    right_streak: usize,
    due: Vec<ExerciseRow>,
    later: Vec<ExerciseRow>,
    can_see_team: bool,
}

pub async fn view_study_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let user = match learner(user, "/study") {
        Ok(u) => u,
        Err(r) => return Ok(*r),
    };
    let store = state.kb.store();
    let attempts = store.attempts(&user.name).await.map_err(ApiError::from)?;
    let schedules: BTreeMap<String, _> = store
        .schedules(&user.name)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|s| (s.playbook.clone(), s))
        .collect();
    let now = Utc::now();
    let outcomes: Vec<Outcome> = attempts.iter().map(outcome).collect();
    let progress = study::progress(&outcomes, now);
    let mut rows: Vec<(Option<DateTime<Utc>>, ExerciseRow)> = exercises(&state.kb)
        .iter()
        .map(|c| {
            let p = &c.playbook;
            let s = schedules.get(p.id());
            let due_at = s.and_then(|s| s.due_at);
            (
                due_at,
                ExerciseRow {
                    id: p.id().to_owned(),
                    alert: p.meta.alert.clone(),
                    origin: c.version.origin.as_str(),
                    due: due_label(due_at, now),
                    due_now: due_at.is_none_or(|d| d <= now),
                    leitner_box: s.map_or(0, |s| s.leitner_box),
                    tries: attempts.iter().filter(|a| a.playbook == p.id()).count(),
                },
            )
        })
        .collect();
    // Missed and overdue first (oldest due first), then new ones, then the
    // rest by when they come back.
    rows.sort_by_key(|(due, row)| (!row.due_now, due.is_none(), *due));
    let (due, later): (Vec<_>, Vec<_>) = rows.into_iter().map(|(_, r)| r).partition(|r| r.due_now);
    Ok(render(&StudyView {
        title: "Study",
        query: String::new(),
        attempts: progress.attempts,
        accuracy: format!("{:.0}%", progress.accuracy() * 100.0),
        hints_used: progress.hints_used,
        points: progress.points,
        day_streak: progress.day_streak,
        right_streak: progress.right_streak,
        due,
        later,
        can_see_team: user.can(Role::Editor),
    }))
}

// ---- /study/{id} -----------------------------------------------------------

pub struct HintView {
    pub number: usize,
    pub title: String,
    pub commands: Vec<String>,
    pub shows: String,
}

pub struct ChoiceView {
    pub id: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "study_exercise.html")]
struct ExerciseView {
    title: String,
    query: String,
    id: String,
    alert: String,
    symptoms: String,
    observations: Vec<ObservationView>,
    evidence_missing: bool,
    hints: Vec<HintView>,
    hint_count: usize,
    choices: Vec<ChoiceView>,
    error: String,
}

fn hint_views(p: &Playbook, n: usize) -> Vec<HintView> {
    study::hints(p)
        .into_iter()
        .take(n)
        .map(|h| HintView {
            number: h.number,
            title: h.title,
            commands: h.commands,
            shows: h.shows,
        })
        .collect()
}

async fn exercise_page(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    status: StatusCode,
    error: String,
) -> Result<Response, PageError> {
    let c = exercise(&state.kb, id)?;
    let p = &c.playbook;
    let store = state.kb.store();
    let open_hints = store
        .schedules(&user.name)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .find(|s| s.playbook == id)
        .map_or(0, |s| s.open_hints.max(0) as usize);
    let tries = store
        .attempts(&user.name)
        .await
        .map_err(ApiError::from)?
        .iter()
        .filter(|a| a.playbook == id)
        .count();
    let all = state.kb.list();
    let playbooks: Vec<&Playbook> = all.iter().map(|c| &c.playbook).collect();
    let choices = study::candidates(p, &playbooks, &user.name, tries as u64)
        .into_iter()
        .map(|c| ChoiceView {
            id: c.id,
            title: c.title,
        })
        .collect();
    let report = example_report(state, p).await;
    let view = ExerciseView {
        title: format!("Exercise: {}", p.meta.alert),
        query: String::new(),
        id: id.to_owned(),
        alert: p.meta.alert.clone(),
        symptoms: to_safe_html(p.section_markdown(SectionKind::Symptoms)),
        evidence_missing: report.is_none(),
        observations: report
            .iter()
            .flat_map(|r| r.observations.iter().map(ObservationView::of))
            .collect(),
        hints: hint_views(p, open_hints),
        hint_count: study::hints(p).len(),
        choices,
        error,
    };
    Ok(super::render_with(status, &view))
}

pub async fn view_exercise_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let user = match learner(user, &format!("/study/{id}")) {
        Ok(u) => u,
        Err(r) => return Ok(*r),
    };
    exercise_page(&state, &user, &id, StatusCode::OK, String::new()).await
}

/// `POST /study/{id}/hint`: reveal the next investigation step.
pub async fn view_exercise_hint_post(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let user = match learner(user, &format!("/study/{id}")) {
        Ok(u) => u,
        Err(r) => return Ok(*r),
    };
    let c = exercise(&state.kb, &id)?;
    let max = study::hints(&c.playbook).len() as i64;
    let n = state
        .kb
        .store()
        .take_hint(&user.name, &id, max)
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&format!("/study/{id}#hint-{n}")))
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    choice: String,
    #[serde(default)]
    free: String,
}

/// Longest free answer kept.
const MAX_FREE: usize = 2000;

/// `POST /study/{id}`: grade a choice or a free answer, record it, reveal.
pub async fn view_exercise_post(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, PageError> {
    let user = match learner(user, &format!("/study/{id}")) {
        Ok(u) => u,
        Err(r) => return Ok(*r),
    };
    let c = exercise(&state.kb, &id)?;
    let p = &c.playbook;
    let (answer, free, correct) = if !form.choice.trim().is_empty() {
        let choice = form.choice.trim().to_owned();
        let correct = choice == id;
        (choice, false, correct)
    } else if !form.free.trim().is_empty() {
        let text: String = form.free.trim().chars().take(MAX_FREE).collect();
        let correct = study::grade_free(p, &text).correct;
        (text, true, correct)
    } else {
        return exercise_page(
            &state,
            &user,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Pick one of the candidates or write what you think the root cause is.".into(),
        )
        .await;
    };
    let store = state.kb.store();
    let hint_count = study::hints(p).len();
    let hints_used = store
        .schedules(&user.name)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .find(|s| s.playbook == id)
        .map_or(0, |s| s.open_hints.max(0) as usize)
        .min(hint_count);
    let now = crate::store::now_micros();
    let points = study::points(correct, hints_used, hint_count);
    let mut history: Vec<Outcome> = store
        .attempts(&user.name)
        .await
        .map_err(ApiError::from)?
        .iter()
        .filter(|a| a.playbook == id)
        .map(outcome)
        .collect();
    history.push(Outcome {
        at: now,
        correct,
        hints_used,
        hint_count,
        points,
    });
    let schedule = study::schedule(&history).unwrap_or(Schedule {
        leitner_box: 0,
        due_at: now,
    });
    let attempt = store
        .record_attempt(
            NewAttempt {
                user: &user.name,
                playbook: &id,
                answer: &answer,
                free,
                correct,
                hints_used: hints_used as i64,
                hint_count: hint_count as i64,
                points: i64::from(points),
                at: now,
            },
            schedule,
        )
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&format!("/study/{id}/attempts/{}", attempt.id)))
}

// ---- the reveal ------------------------------------------------------------

#[derive(Template)]
#[template(path = "study_reveal.html")]
struct RevealView {
    title: String,
    query: String,
    id: String,
    attempt: i64,
    playbook_title: String,
    alert: String,
    answer: String,
    answer_title: String,
    free: bool,
    correct: bool,
    self_marked: bool,
    matched: String,
    hints_used: i64,
    hint_count: i64,
    points: i64,
    due: String,
    due_at: String,
    leitner_box: i64,
    root_cause: String,
    fix: String,
    hints: Vec<HintView>,
    diagnosis: Option<DiagnosisView>,
}

pub async fn view_reveal_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path((id, attempt)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let user = match learner(user, &format!("/study/{id}/attempts/{attempt}")) {
        Ok(u) => u,
        Err(r) => return Ok(*r),
    };
    let missing = || PageError::not_found(format!("You have no try {attempt} at “{id}”."));
    let store = state.kb.store();
    let a = store
        .attempt(&user.name, attempt)
        .await
        .map_err(ApiError::from)?
        .filter(|a| a.playbook == id)
        .ok_or_else(missing)?;
    let c = exercise(&state.kb, &id)?;
    let p = &c.playbook;
    let schedule = store
        .schedules(&user.name)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .find(|s| s.playbook == id);
    let now = Utc::now();
    let due_at = schedule.as_ref().and_then(|s| s.due_at);
    let report = example_report(&state, p).await;
    let diagnosis = report.map(|r| {
        let matcher = crate::diagnose::matcher_for(&state.kb);
        DiagnosisView::new(&crate::diagnose::diagnose(&matcher, &r))
    });
    let answer_title = if a.free {
        String::new()
    } else {
        state
            .kb
            .get(&a.answer)
            .map_or_else(|| a.answer.clone(), |c| c.playbook.meta.title.clone())
    };
    let matched = if a.free {
        study::grade_free(p, &a.answer).matched.join(", ")
    } else {
        String::new()
    };
    Ok(render(&RevealView {
        title: format!("Answer: {}", p.meta.title),
        query: String::new(),
        id: id.clone(),
        attempt: a.id,
        playbook_title: p.meta.title.clone(),
        alert: p.meta.alert.clone(),
        answer: a.answer.clone(),
        answer_title,
        free: a.free,
        correct: a.correct,
        self_marked: a.self_marked,
        matched,
        hints_used: a.hints_used,
        hint_count: a.hint_count,
        points: a.points,
        due: due_label(due_at, now),
        due_at: due_at.map(when).unwrap_or_default(),
        leitner_box: schedule.map_or(0, |s| s.leitner_box),
        root_cause: to_safe_html(p.section_markdown(SectionKind::RootCause)),
        fix: to_safe_html(p.section_markdown(SectionKind::Fix)),
        hints: hint_views(p, usize::MAX),
        diagnosis,
    }))
}

#[derive(Deserialize)]
pub struct MarkForm {
    verdict: String,
}

/// `POST /study/{id}/attempts/{n}`: the learner's own verdict on a free
/// answer, after reading the root cause.
pub async fn view_reveal_post(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path((id, attempt)): Path<(String, i64)>,
    Form(form): Form<MarkForm>,
) -> Result<Response, PageError> {
    let user = match learner(user, &format!("/study/{id}/attempts/{attempt}")) {
        Ok(u) => u,
        Err(r) => return Ok(*r),
    };
    let correct = match form.verdict.as_str() {
        "right" => true,
        "wrong" => false,
        _ => {
            return Err(PageError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: "Mark the answer as right or wrong.".into(),
            });
        }
    };
    let missing = || PageError::not_found(format!("You have no try {attempt} at “{id}”."));
    let store = state.kb.store();
    let history = store.attempts(&user.name).await.map_err(ApiError::from)?;
    let a = history
        .iter()
        .find(|a| a.id == attempt && a.playbook == id)
        .ok_or_else(missing)?;
    if !a.free {
        return Err(PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "Only free answers are marked by hand; a chosen answer is graded exactly."
                .into(),
        });
    }
    let points = study::points(
        correct,
        a.hints_used.max(0) as usize,
        a.hint_count.max(0) as usize,
    );
    let outcomes: Vec<Outcome> = history
        .iter()
        .filter(|h| h.playbook == id)
        .map(|h| {
            let mut o = outcome(h);
            if h.id == attempt {
                o.correct = correct;
                o.points = points;
            }
            o
        })
        .collect();
    let schedule = study::schedule(&outcomes).unwrap_or(Schedule {
        leitner_box: 0,
        due_at: a.at,
    });
    store
        .mark_attempt(&user.name, attempt, correct, i64::from(points), schedule)
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&format!("/study/{id}/attempts/{attempt}")))
}

// ---- /study/team -----------------------------------------------------------

pub struct TeamRow {
    pub user: String,
    pub playbook: String,
    pub attempts: i64,
    pub correct: i64,
    pub accuracy: String,
    pub hints_used: i64,
    pub points: i64,
    pub last: String,
}

pub struct LearnerRow {
    pub user: String,
    pub exercises: usize,
    pub attempts: i64,
    pub accuracy: String,
    pub hints_used: i64,
    pub points: i64,
}

#[derive(Template)]
#[template(path = "study_team.html")]
struct TeamView {
    title: &'static str,
    query: String,
    exercises: usize,
    learners: Vec<LearnerRow>,
    rows: Vec<TeamRow>,
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

pub async fn view_study_team_get(State(state): State<AppState>) -> Result<Response, PageError> {
    let summaries = state
        .kb
        .store()
        .study_summaries()
        .await
        .map_err(ApiError::from)?;
    let mut learners: BTreeMap<String, LearnerRow> = BTreeMap::new();
    let mut correct: BTreeMap<String, i64> = BTreeMap::new();
    for s in &summaries {
        let l = learners
            .entry(s.user.clone())
            .or_insert_with(|| LearnerRow {
                user: s.user.clone(),
                exercises: 0,
                attempts: 0,
                accuracy: String::new(),
                hints_used: 0,
                points: 0,
            });
        l.exercises += 1;
        l.attempts += s.attempts;
        l.hints_used += s.hints_used;
        l.points += s.points;
        *correct.entry(s.user.clone()).or_default() += s.correct;
    }
    for l in learners.values_mut() {
        l.accuracy = percent(correct.get(&l.user).copied().unwrap_or(0), l.attempts);
    }
    Ok(render(&TeamView {
        title: "Study: team",
        query: String::new(),
        exercises: exercises(&state.kb).len(),
        learners: learners.into_values().collect(),
        rows: summaries
            .into_iter()
            .map(|s| TeamRow {
                accuracy: percent(s.correct, s.attempts),
                last: when(s.last_at),
                user: s.user,
                playbook: s.playbook,
                attempts: s.attempts,
                correct: s.correct,
                hints_used: s.hints_used,
                points: s.points,
            })
            .collect(),
    }))
}

// ---- /study/{id}/sheet -----------------------------------------------------

#[derive(Template)]
#[template(path = "study_sheet.html")]
struct SheetView {
    title: String,
    query: String,
    id: String,
    alert: String,
    layer: &'static str,
    symptoms: String,
    hints: Vec<HintView>,
    root_cause: String,
    fix: String,
    prevention: String,
}

pub async fn view_sheet_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let c = exercise(&state.kb, &id)?;
    let p = &c.playbook;
    Ok(render(&SheetView {
        title: p.meta.title.clone(),
        query: String::new(),
        id: id.clone(),
        alert: p.meta.alert.clone(),
        layer: p.meta.layer.as_str(),
        symptoms: to_safe_html(p.section_markdown(SectionKind::Symptoms)),
        hints: hint_views(p, usize::MAX),
        root_cause: to_safe_html(p.section_markdown(SectionKind::RootCause)),
        fix: to_safe_html(p.section_markdown(SectionKind::Fix)),
        prevention: to_safe_html(p.section_markdown(SectionKind::Prevention)),
    }))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn due_labels_round_up() {
        let now = Utc::now();
        let at = |s: i64| Some(now + Duration::seconds(s));
        assert_eq!(due_label(None, now), "new");
        assert_eq!(due_label(at(0), now), "due now");
        assert_eq!(due_label(at(-5), now), "due now");
        assert_eq!(due_label(at(599), now), "due in 10 min");
        assert_eq!(due_label(at(600), now), "due in 10 min");
        assert_eq!(due_label(at(86_399), now), "due in 24 h");
        assert_eq!(due_label(at(86_400), now), "due in 24 h");
        assert_eq!(due_label(at(86_401), now), "due in 2 days");
        assert_eq!(due_label(at(3 * 86_400), now), "due in 3 days");
    }
}
