-- Retention: a report older than `retention_days` is rolled up (its raw
-- observations dropped from `body`, its derived signals kept in `signals`,
-- its answer — the diagnosis summary — kept as is), then deleted after
-- `retention_delete_days`. Both run in small batches (`retention`).
-- Times as in 0001: RFC 3339 UTC text with six fractional digits.

ALTER TABLE reports ADD COLUMN signals TEXT;
ALTER TABLE reports ADD COLUMN rolled_up_at TEXT;

-- The reports still to roll up, oldest first, without walking those done.
CREATE INDEX reports_unrolled ON reports (received_at) WHERE rolled_up_at IS NULL;
