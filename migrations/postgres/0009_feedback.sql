-- Diagnosis feedback.
--
-- diagnosis_verdicts: an engineer's verdict on one playbook of an incident's
-- diagnosis, right or wrong. One row per (incident, playbook, engineer): a
-- changed mind overwrites the row (the timeline keeps every verdict given).
-- Across engineers the newest verdict is the incident's (see `store::feedback`).
--
-- playbook_matches: every time a playbook was a likely match for stored
-- evidence, once per piece of evidence: a report (its diagnosis at ingest)
-- or an incident (its diagnosis from all its evidence). Counting from the
-- stored report answers instead took 1.1-1.4 s per playbook over 200,000
-- reports (SQLite) and loses history when retention deletes reports; this
-- table is counted through its primary key and has no foreign key, so it
-- outlives both reports and incidents.
--
-- Playbooks are named by id without a foreign key, as in 0005, so feedback
-- survives a playbook being removed. Times are TIMESTAMPTZ, written in UTC.

CREATE TABLE diagnosis_verdicts (
    incident_id BIGINT      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    playbook    TEXT        NOT NULL,
    who         TEXT        NOT NULL,
    verdict     TEXT        NOT NULL CHECK (verdict IN ('right', 'wrong')),
    comment     TEXT,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, playbook, who)
);

CREATE INDEX diagnosis_verdicts_playbook ON diagnosis_verdicts (playbook, incident_id);

CREATE TABLE playbook_matches (
    playbook  TEXT        NOT NULL,
    source    TEXT        NOT NULL CHECK (source IN ('report', 'incident')),
    -- The report id (lowercase hyphenated) or the incident id, as text.
    source_id TEXT        NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (playbook, source, source_id)
);
