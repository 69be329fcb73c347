-- Collectors (the probes allowed to send reports) and the reports they sent.
--
-- Times are UTC text, RFC 3339 with exactly six fractional digits and a `Z`,
-- as in 0001. Labels are a JSON object as text; body and answer are kept as
-- the exact text received and sent (the answer is replayed byte for byte).

CREATE TABLE collectors (
    name           TEXT NOT NULL PRIMARY KEY,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash     BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    labels         TEXT NOT NULL DEFAULT '{}',
    created_at     TEXT NOT NULL,
    last_report_at TEXT,
    revoked_at     TEXT
) STRICT;

CREATE TABLE reports (
    -- The report's own id, lowercase hyphenated: the idempotency key.
    report_id   TEXT NOT NULL PRIMARY KEY,
    collector   TEXT NOT NULL REFERENCES collectors (name),
    host        TEXT NOT NULL,
    labels      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    answer      TEXT NOT NULL
) STRICT;

CREATE INDEX reports_received ON reports (received_at DESC, report_id DESC);
CREATE INDEX reports_collector_received ON reports (collector, received_at DESC);
CREATE INDEX reports_collector_started ON reports (collector, started_at DESC);
