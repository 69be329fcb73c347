-- Playbooks and their versions. Every edit, import or built-in upgrade adds
-- a row to playbook_versions; playbooks.current_version points at the newest.
-- Times are TIMESTAMPTZ, written by the server in UTC.

CREATE TABLE playbooks (
    id              TEXT        PRIMARY KEY,
    current_version BIGINT      NOT NULL CHECK (current_version >= 1),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE playbook_versions (
    playbook_id TEXT        NOT NULL REFERENCES playbooks (id),
    version     BIGINT      NOT NULL CHECK (version >= 1),
    source      TEXT        NOT NULL,
    origin      TEXT        NOT NULL CHECK (origin IN ('builtin', 'import', 'edit')),
    author      TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (playbook_id, version)
);
