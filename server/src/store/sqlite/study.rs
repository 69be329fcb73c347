//! Study queries for the sqlite backend.

use async_trait::async_trait;

use super::*;
use crate::core::study::Schedule;
use crate::store::{NewAttempt, ScheduleEntry, StudyAttempt, StudyStore, StudySummary};

type AttemptRow = (
    i64,
    String,
    String,
    String,
    bool,
    bool,
    bool,
    i64,
    i64,
    i64,
    String,
);

macro_rules! attempt_columns {
    () => {
        "id, user_name, playbook_id, answer, free, correct, self_marked, \
         hints_used, hint_count, points, at"
    };
}

fn to_attempt(row: AttemptRow) -> StoreResult<StudyAttempt> {
    let (
        id,
        user,
        playbook,
        answer,
        free,
        correct,
        self_marked,
        hints_used,
        hint_count,
        points,
        at,
    ) = row;
    Ok(StudyAttempt {
        id,
        user,
        playbook,
        answer,
        free,
        correct,
        self_marked,
        hints_used,
        hint_count,
        points,
        at: parse_time(&at)?,
    })
}

const UPSERT_SCHEDULE: &str = "INSERT INTO study_schedule \
     (user_name, playbook_id, leitner_box, due_at, open_hints) VALUES (?, ?, ?, ?, 0) \
     ON CONFLICT (user_name, playbook_id) DO UPDATE SET \
     leitner_box = excluded.leitner_box, due_at = excluded.due_at, open_hints = 0";

#[async_trait]
impl StudyStore for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn take_hint(&self, user: &str, playbook: &str, max: i64) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO study_schedule (user_name, playbook_id, open_hints) \
             VALUES (?, ?, min(1, ?)) \
             ON CONFLICT (user_name, playbook_id) DO UPDATE SET \
             open_hints = min(study_schedule.open_hints + 1, ?) \
             RETURNING open_hints",
        )
        .bind(user)
        .bind(playbook)
        .bind(max.max(0))
        .bind(max.max(0))
        .fetch_one(&self.writer)
        .await
        .map_err(classify)?;
        Ok(n)
    }

    #[tracing::instrument(skip_all)]
    async fn record_attempt(
        &self,
        new: NewAttempt<'_>,
        schedule: Schedule,
    ) -> StoreResult<StudyAttempt> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let row: AttemptRow = sqlx::query_as(concat!(
            "INSERT INTO study_attempts (user_name, playbook_id, answer, free, correct, \
             hints_used, hint_count, points, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING ",
            attempt_columns!()
        ))
        .bind(new.user)
        .bind(new.playbook)
        .bind(new.answer)
        .bind(new.free)
        .bind(new.correct)
        .bind(new.hints_used)
        .bind(new.hint_count)
        .bind(new.points)
        .bind(format_time(new.at))
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        sqlx::query(UPSERT_SCHEDULE)
            .bind(new.user)
            .bind(new.playbook)
            .bind(i64::from(schedule.leitner_box))
            .bind(format_time(schedule.due_at))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        to_attempt(row)
    }

    #[tracing::instrument(skip_all)]
    async fn mark_attempt(
        &self,
        user: &str,
        id: i64,
        correct: bool,
        points: i64,
        schedule: Schedule,
    ) -> StoreResult<StudyAttempt> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let row: Option<AttemptRow> = sqlx::query_as(concat!(
            "UPDATE study_attempts SET correct = ?, points = ?, self_marked = 1 \
             WHERE id = ? AND user_name = ? RETURNING ",
            attempt_columns!()
        ))
        .bind(correct)
        .bind(points)
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        sqlx::query(
            "UPDATE study_schedule SET leitner_box = ?, due_at = ? \
             WHERE user_name = ? AND playbook_id = ?",
        )
        .bind(i64::from(schedule.leitner_box))
        .bind(format_time(schedule.due_at))
        .bind(user)
        .bind(&row.2)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        to_attempt(row)
    }

    #[tracing::instrument(skip_all)]
    async fn attempt(&self, user: &str, id: i64) -> StoreResult<Option<StudyAttempt>> {
        let row: Option<AttemptRow> = sqlx::query_as(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM study_attempts WHERE id = ? AND user_name = ?"
        ))
        .bind(id)
        .bind(user)
        .fetch_optional(&self.readers)
        .await
        .map_err(classify)?;
        row.map(to_attempt).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn attempts(&self, user: &str) -> StoreResult<Vec<StudyAttempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM study_attempts WHERE user_name = ? ORDER BY at, id"
        ))
        .bind(user)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_attempt).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn schedules(&self, user: &str) -> StoreResult<Vec<ScheduleEntry>> {
        let rows: Vec<(String, i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT playbook_id, leitner_box, due_at, open_hints FROM study_schedule \
             WHERE user_name = ? ORDER BY playbook_id",
        )
        .bind(user)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(|(playbook, leitner_box, due_at, open_hints)| {
                Ok(ScheduleEntry {
                    playbook,
                    leitner_box,
                    due_at: due_at.as_deref().map(parse_time).transpose()?,
                    open_hints,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn study_summaries(&self) -> StoreResult<Vec<StudySummary>> {
        let rows: Vec<(String, String, i64, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT user_name, playbook_id, count(*), sum(correct), sum(hints_used), \
             sum(points), max(at) FROM study_attempts \
             GROUP BY user_name, playbook_id ORDER BY user_name, playbook_id",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(
                |(user, playbook, attempts, correct, hints_used, points, last_at)| {
                    Ok(StudySummary {
                        user,
                        playbook,
                        attempts,
                        correct,
                        hints_used,
                        points,
                        last_at: parse_time(&last_at)?,
                    })
                },
            )
            .collect()
    }
}
