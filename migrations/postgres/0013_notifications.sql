-- Outbound notification targets added on /admin (those in the config file
-- are not stored here), and secrets the server makes once for itself and
-- every replica shares: the key that signs the Right/Wrong links in
-- messages.

CREATE TABLE notification_targets (
    name         TEXT        PRIMARY KEY,
    kind         TEXT        NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams')),
    url          TEXT        NOT NULL,
    -- JSON object: labels an incident must all carry to be sent here.
    match_labels TEXT        NOT NULL,
    -- JSON array of the events sent: opened, diagnosis, verdict, resolved.
    events       TEXT        NOT NULL,
    fallback     BOOLEAN     NOT NULL,
    created_by   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
