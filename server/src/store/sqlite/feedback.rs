//! Feedback queries for the sqlite backend. Writes run on the writer
//! connection inside `BEGIN IMMEDIATE`.

use async_trait::async_trait;

use super::incidents::{fetch_incident, insert_event};
use super::*;
use crate::store::feedback::{decode_verdict, verdict_body};
use crate::store::{
    EventKind, FeedbackStore, IncidentEvent, MatchSource, NewVerdict, PlaybookFeedback,
    VerdictRecord, now_micros,
};

type VerdictRow = (i64, String, String, String, Option<String>, String);

fn to_verdict(row: VerdictRow) -> StoreResult<VerdictRecord> {
    let (incident_id, playbook, who, verdict, comment, at) = row;
    Ok(VerdictRecord {
        incident_id,
        playbook,
        who,
        verdict: decode_verdict(&verdict)?,
        comment,
        at: parse_time(&at)?,
    })
}

/// Incidents whose newest verdict on the playbook `?1` is `?2`.
const COUNT_CURRENT: &str = "SELECT count(*) FROM diagnosis_verdicts v \
     WHERE v.playbook = ?1 AND v.verdict = ?2 AND NOT EXISTS ( \
       SELECT 1 FROM diagnosis_verdicts w \
       WHERE w.incident_id = v.incident_id AND w.playbook = v.playbook \
         AND (w.at > v.at OR (w.at = v.at AND w.who > v.who)))";

#[async_trait]
impl FeedbackStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(incident_id = new.incident_id))]
    async fn set_verdict(
        &self,
        new: NewVerdict<'_>,
    ) -> StoreResult<(VerdictRecord, IncidentEvent)> {
        let at = now_micros();
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        if fetch_incident(&mut tx, new.incident_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO diagnosis_verdicts (incident_id, playbook, who, verdict, comment, at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id, playbook, who) DO UPDATE \
             SET verdict = excluded.verdict, comment = excluded.comment, at = excluded.at",
        )
        .bind(new.incident_id)
        .bind(new.playbook)
        .bind(new.who)
        .bind(new.verdict.as_str())
        .bind(new.comment)
        .bind(format_time(at))
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let event = insert_event(
            &mut tx,
            new.incident_id,
            new.who,
            EventKind::Note,
            &verdict_body(&new),
        )
        .await?;
        tx.commit().await.map_err(classify)?;
        let record = VerdictRecord {
            incident_id: new.incident_id,
            playbook: new.playbook.to_owned(),
            who: new.who.to_owned(),
            verdict: new.verdict,
            comment: new.comment.map(str::to_owned),
            at,
        };
        Ok((record, event))
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn verdicts(&self, incident_id: i64) -> StoreResult<Vec<VerdictRecord>> {
        let rows: Vec<VerdictRow> = sqlx::query_as(
            "SELECT incident_id, playbook, who, verdict, comment, at FROM diagnosis_verdicts \
             WHERE incident_id = ? ORDER BY at DESC, who DESC",
        )
        .bind(incident_id)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        rows.into_iter().map(to_verdict).collect()
    }

    #[tracing::instrument(skip_all, fields(source = source.as_str(), source_id))]
    async fn record_matches(
        &self,
        source: MatchSource,
        source_id: &str,
        playbooks: &[String],
    ) -> StoreResult<u64> {
        if playbooks.is_empty() {
            return Ok(0);
        }
        let at = format_time(now_micros());
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let mut added = 0;
        for playbook in playbooks {
            added += sqlx::query(
                "INSERT INTO playbook_matches (playbook, source, source_id, at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(playbook)
            .bind(source.as_str())
            .bind(source_id)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected();
        }
        tx.commit().await.map_err(classify)?;
        Ok(added)
    }

    #[tracing::instrument(skip_all, fields(playbook))]
    async fn playbook_feedback(&self, playbook: &str) -> StoreResult<PlaybookFeedback> {
        let mut conn = self.readers.acquire().await.map_err(classify)?;
        let matched = |source: MatchSource| {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM playbook_matches WHERE playbook = ? AND source = ?",
            )
            .bind(playbook)
            .bind(source.as_str())
        };
        let matched_reports = matched(MatchSource::Report)
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        let matched_incidents = matched(MatchSource::Incident)
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        let current = |verdict: &'static str| {
            sqlx::query_scalar::<_, i64>(COUNT_CURRENT)
                .bind(playbook)
                .bind(verdict)
        };
        let confirmed = current("right")
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        let marked_wrong = current("wrong")
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        let last: Option<String> =
            sqlx::query_scalar("SELECT max(at) FROM diagnosis_verdicts WHERE playbook = ?")
                .bind(playbook)
                .fetch_one(&mut *conn)
                .await
                .map_err(classify)?;
        Ok(PlaybookFeedback {
            matched_reports,
            matched_incidents,
            confirmed,
            marked_wrong,
            last_verdict_at: last.as_deref().map(parse_time).transpose()?,
        })
    }
}
