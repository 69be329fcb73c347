//! The study tables: every try at an exercise, and each learner's schedule
//! per playbook (see `core::study` for the grading and the Leitner boxes).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::core::study::Schedule;

/// One graded try.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyAttempt {
    pub id: i64,
    pub user: String,
    pub playbook: String,
    /// The chosen playbook id, or the free answer as typed.
    pub answer: String,
    pub free: bool,
    pub correct: bool,
    /// The learner marked this free answer themselves after the reveal.
    pub self_marked: bool,
    pub hints_used: i64,
    pub hint_count: i64,
    pub points: i64,
    pub at: DateTime<Utc>,
}

/// A try to record.
#[derive(Debug, Clone)]
pub struct NewAttempt<'a> {
    pub user: &'a str,
    pub playbook: &'a str,
    pub answer: &'a str,
    pub free: bool,
    pub correct: bool,
    pub hints_used: i64,
    pub hint_count: i64,
    pub points: i64,
    pub at: DateTime<Utc>,
}

/// A learner's schedule for one playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleEntry {
    pub playbook: String,
    pub leitner_box: i64,
    /// `None` before the first try.
    pub due_at: Option<DateTime<Utc>>,
    /// Hints revealed on the try in progress.
    pub open_hints: i64,
}

/// One learner's record on one playbook, for the team page.
#[derive(Debug, Clone, PartialEq)]
pub struct StudySummary {
    pub user: String,
    pub playbook: String,
    pub attempts: i64,
    pub correct: i64,
    pub hints_used: i64,
    pub points: i64,
    pub last_at: DateTime<Utc>,
}

/// Tries, schedules and the hints of the try in progress.
#[async_trait]
pub trait StudyStore {
    /// Reveals one more hint on the open try (at most `max`); returns how
    /// many are revealed now.
    async fn take_hint(&self, user: &str, playbook: &str, max: i64) -> StoreResult<i64>;
    /// Stores a try and the schedule it leads to, and closes the open try
    /// (its hints back to 0), in one transaction.
    async fn record_attempt(
        &self,
        new: NewAttempt<'_>,
        schedule: Schedule,
    ) -> StoreResult<StudyAttempt>;
    /// The learner's own verdict on a try after the reveal, with the
    /// schedule recomputed by the caller. `NotFound` when the try is not
    /// theirs.
    async fn mark_attempt(
        &self,
        user: &str,
        id: i64,
        correct: bool,
        points: i64,
        schedule: Schedule,
    ) -> StoreResult<StudyAttempt>;
    /// One of the learner's tries.
    async fn attempt(&self, user: &str, id: i64) -> StoreResult<Option<StudyAttempt>>;
    /// Every try of a learner, oldest first.
    async fn attempts(&self, user: &str) -> StoreResult<Vec<StudyAttempt>>;
    /// The learner's schedule, by playbook id.
    async fn schedules(&self, user: &str) -> StoreResult<Vec<ScheduleEntry>>;
    /// Per learner and playbook: tries, right answers, hints, points.
    async fn study_summaries(&self) -> StoreResult<Vec<StudySummary>>;
}
