-- Playbooks and their versions. Every edit, import or built-in upgrade adds
-- a row to playbook_versions; playbooks.current_version points at the newest.
--
-- Times are UTC text, RFC 3339 with exactly six fractional digits and a `Z`
-- (2026-11-23T10:00:00.000000Z): fixed width, so they sort as text.
-- STRICT tables make SQLite enforce the column types.

CREATE TABLE playbooks (
    id              TEXT    NOT NULL PRIMARY KEY,
    current_version INTEGER NOT NULL CHECK (current_version >= 1),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE TABLE playbook_versions (
    playbook_id TEXT    NOT NULL REFERENCES playbooks (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    source      TEXT    NOT NULL,
    origin      TEXT    NOT NULL CHECK (origin IN ('builtin', 'import', 'edit')),
    author      TEXT,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (playbook_id, version)
) STRICT;
