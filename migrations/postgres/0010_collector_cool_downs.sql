-- When each collector last opened an incident from its reports. Opening one
-- takes the collector's row with a conditional upsert in the same
-- transaction (the row is updated only when it is older than the
-- cool-down), so replicas sharing this database together open at most one
-- incident per collector per cool-down.

CREATE TABLE collector_cool_downs (
    collector TEXT        PRIMARY KEY,
    opened_at TIMESTAMPTZ NOT NULL
);
