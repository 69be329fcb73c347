-- Incidents, their timelines, checklist ticks, and the Alertmanager alerts
-- delivered to them.
--
-- Times are TIMESTAMPTZ, written by the server in UTC. Labels and event
-- bodies are JSON as TEXT, as in 0003.

CREATE TABLE incidents (
    id          BIGSERIAL   PRIMARY KEY,
    title       TEXT        NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('open', 'mitigated', 'resolved')),
    severity    TEXT        NOT NULL,
    labels      TEXT        NOT NULL DEFAULT '{}',
    -- The chosen playbook; NULL means the top likely candidate.
    playbook    TEXT,
    opened_at   TIMESTAMPTZ NOT NULL,
    opened_by   TEXT        NOT NULL,
    resolved_at TIMESTAMPTZ,
    -- Alert name and labels that firing alerts attach on; NULL when opened
    -- by hand.
    group_key   TEXT
);

CREATE INDEX incidents_opened ON incidents (opened_at DESC, id DESC);
CREATE INDEX incidents_status_opened ON incidents (status, opened_at DESC);
-- At most one unresolved incident per alert group.
CREATE UNIQUE INDEX incidents_open_group ON incidents (group_key)
    WHERE group_key IS NOT NULL AND resolved_at IS NULL;

CREATE TABLE incident_events (
    id          BIGSERIAL   PRIMARY KEY,
    incident_id BIGINT      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    who         TEXT        NOT NULL,
    kind        TEXT        NOT NULL
                CHECK (kind IN ('alert', 'report', 'note', 'status', 'step', 'paste')),
    body        TEXT        NOT NULL
);

CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE incident_ticks (
    incident_id BIGINT      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    playbook    TEXT        NOT NULL,
    step        BIGINT      NOT NULL,
    ticked_by   TEXT        NOT NULL,
    ticked_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, playbook, step)
);

-- One row per alert delivered: a replay or an HA pair's second delivery hits
-- the primary key and changes nothing.
CREATE TABLE alert_deliveries (
    fingerprint TEXT        NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('firing', 'resolved')),
    incident_id BIGINT      REFERENCES incidents (id) ON DELETE SET NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (fingerprint, starts_at, status)
);
