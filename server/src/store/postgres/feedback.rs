//! Feedback queries for the postgres backend.

use async_trait::async_trait;

use super::incidents::insert_event;
use super::*;
use crate::store::feedback::{decode_verdict, verdict_body};
use crate::store::{
    EventKind, FeedbackStore, IncidentEvent, MatchSource, NewVerdict, PlaybookFeedback,
    VerdictRecord, now_micros,
};

type VerdictRow = (i64, String, String, String, Option<String>, DateTime<Utc>);

fn to_verdict(row: VerdictRow) -> StoreResult<VerdictRecord> {
    let (incident_id, playbook, who, verdict, comment, at) = row;
    Ok(VerdictRecord {
        incident_id,
        playbook,
        who,
        verdict: decode_verdict(&verdict)?,
        comment,
        at,
    })
}

/// The counts of playbook `$1`: matches by source, then incidents by their
/// newest verdict (ties by name, as SQLite), then the newest verdict's time.
const COUNTS: &str = "WITH current AS ( \
       SELECT DISTINCT ON (incident_id) verdict FROM diagnosis_verdicts \
       WHERE playbook = $1 ORDER BY incident_id, at DESC, who DESC) \
     SELECT \
       (SELECT count(*) FROM playbook_matches WHERE playbook = $1 AND source = 'report'), \
       (SELECT count(*) FROM playbook_matches WHERE playbook = $1 AND source = 'incident'), \
       (SELECT count(*) FROM current WHERE verdict = 'right'), \
       (SELECT count(*) FROM current WHERE verdict = 'wrong'), \
       (SELECT max(at) FROM diagnosis_verdicts WHERE playbook = $1)";

#[async_trait]
impl FeedbackStore for PgStore {
    #[tracing::instrument(skip_all, fields(incident_id = new.incident_id))]
    async fn set_verdict(
        &self,
        new: NewVerdict<'_>,
    ) -> StoreResult<(VerdictRecord, IncidentEvent)> {
        let at = now_micros();
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // The incident row's lock orders this verdict against other changes.
        let locked: Option<i64> =
            sqlx::query_scalar("SELECT id FROM incidents WHERE id = $1 FOR UPDATE")
                .bind(new.incident_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
        if locked.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO diagnosis_verdicts (incident_id, playbook, who, verdict, comment, at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident_id, playbook, who) DO UPDATE \
             SET verdict = excluded.verdict, comment = excluded.comment, at = excluded.at",
        )
        .bind(new.incident_id)
        .bind(new.playbook)
        .bind(new.who)
        .bind(new.verdict.as_str())
        .bind(new.comment)
        .bind(at)
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
             WHERE incident_id = $1 ORDER BY at DESC, who DESC",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
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
        let added = sqlx::query(
            "INSERT INTO playbook_matches (playbook, source, source_id, at) \
             SELECT p, $2, $3, $4 FROM unnest($1::text[]) AS p ON CONFLICT DO NOTHING",
        )
        .bind(playbooks)
        .bind(source.as_str())
        .bind(source_id)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .map_err(classify)?
        .rows_affected();
        Ok(added)
    }

    #[tracing::instrument(skip_all, fields(playbook))]
    async fn playbook_feedback(&self, playbook: &str) -> StoreResult<PlaybookFeedback> {
        let (matched_reports, matched_incidents, confirmed, marked_wrong, last_verdict_at): (
            i64,
            i64,
            i64,
            i64,
            Option<DateTime<Utc>>,
        ) = sqlx::query_as(COUNTS)
            .bind(playbook)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(PlaybookFeedback {
            matched_reports,
            matched_incidents,
            confirmed,
            marked_wrong,
            last_verdict_at,
        })
    }
}
