-- Postmortems and their versions. Every save adds a row to
-- postmortem_versions; postmortems.current_version points at the newest.
--
-- A postmortem is drafted from one incident (at most one per incident). The
-- incident is named without a foreign key: an imported postmortem arrives
-- without its incident, and a postmortem outlives the incident's data.
-- Times are UTC text, RFC 3339 with exactly six fractional digits and a `Z`,
-- as in 0001.

CREATE TABLE postmortems (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL,
    title           TEXT    NOT NULL,
    current_version INTEGER NOT NULL CHECK (current_version >= 1),
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX postmortems_incident ON postmortems (incident_id);

CREATE TABLE postmortem_versions (
    postmortem_id INTEGER NOT NULL REFERENCES postmortems (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL CHECK (version >= 1),
    -- The whole Markdown text with its front matter, byte for byte.
    source        TEXT    NOT NULL,
    saved_by      TEXT    NOT NULL,
    saved_at      TEXT    NOT NULL,
    PRIMARY KEY (postmortem_id, version)
) STRICT;
