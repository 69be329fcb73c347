-- Postmortems and their versions. Every save adds a row to
-- postmortem_versions; postmortems.current_version points at the newest.
--
-- A postmortem is drafted from one incident (at most one per incident). The
-- incident is named without a foreign key: an imported postmortem arrives
-- without its incident, and a postmortem outlives the incident's data.
-- Times are TIMESTAMPTZ, written by the server in UTC.

CREATE TABLE postmortems (
    id              BIGSERIAL   PRIMARY KEY,
    incident_id     BIGINT      NOT NULL,
    title           TEXT        NOT NULL,
    current_version BIGINT      NOT NULL CHECK (current_version >= 1),
    created_by      TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX postmortems_incident ON postmortems (incident_id);

CREATE TABLE postmortem_versions (
    postmortem_id BIGINT      NOT NULL REFERENCES postmortems (id) ON DELETE CASCADE,
    version       BIGINT      NOT NULL CHECK (version >= 1),
    -- The whole Markdown text with its front matter, byte for byte.
    source        TEXT        NOT NULL,
    saved_by      TEXT        NOT NULL,
    saved_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (postmortem_id, version)
);
