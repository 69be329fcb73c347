-- When each collector last opened an incident from its reports: the
-- per-collector cool-down, kept in the store as on PostgreSQL (where
-- replicas share it). Times are fixed-width RFC 3339 text, as in 0003.

CREATE TABLE collector_cool_downs (
    collector TEXT PRIMARY KEY,
    opened_at TEXT NOT NULL
);
