-- Collectors (the probes allowed to send reports) and the reports they sent.
--
-- Times are TIMESTAMPTZ, written by the server in UTC. Labels, body and
-- answer are TEXT: the body and answer are kept as the exact text received
-- and sent (the answer is replayed byte for byte), and TEXT takes any JSON
-- string JSONB would refuse (`\u0000`).

CREATE TABLE collectors (
    name           TEXT        PRIMARY KEY,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash     BYTEA       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    labels         TEXT        NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL,
    last_report_at TIMESTAMPTZ,
    revoked_at     TIMESTAMPTZ
);

CREATE TABLE reports (
    report_id   UUID        PRIMARY KEY,
    collector   TEXT        NOT NULL REFERENCES collectors (name),
    host        TEXT        NOT NULL,
    labels      TEXT        NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    body        TEXT        NOT NULL,
    answer      TEXT        NOT NULL
);

CREATE INDEX reports_received ON reports (received_at DESC, report_id DESC);
CREATE INDEX reports_collector_received ON reports (collector, received_at DESC);
CREATE INDEX reports_collector_started ON reports (collector, started_at DESC);
