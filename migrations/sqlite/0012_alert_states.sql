-- Alertmanager deliveries keyed on the alert, (fingerprint, startsAt), with
-- the status the last delivery left it in, instead of one row per
-- (fingerprint, startsAt, status). The order of deliveries decides: a firing
-- delivery after a resolved one of the same alert reopens its incident (as
-- Alertmanager sends when an alert expired and then fires again with the
-- same startsAt), a resolved one after firing resolves it, and a delivery
-- in the state already recorded (a replay, or the second Alertmanager of an
-- HA pair) changes nothing.
--
-- Times as in 0004.

CREATE TABLE alert_states (
    fingerprint TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    -- The incident the last delivery went to (firing or resolved).
    incident_id INTEGER REFERENCES incidents (id) ON DELETE SET NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (fingerprint, starts_at)
) STRICT;

-- Each alert's newest delivery (resolved when both came at once), with the
-- incident of either row when the newest names none.
INSERT INTO alert_states (fingerprint, starts_at, status, incident_id, received_at)
SELECT fingerprint, starts_at, status,
       coalesce(incident_id, (SELECT max(o.incident_id) FROM alert_deliveries o
                              WHERE o.fingerprint = newest.fingerprint
                                AND o.starts_at = newest.starts_at)),
       received_at
FROM (SELECT fingerprint, starts_at, status, incident_id, received_at,
             row_number() OVER (PARTITION BY fingerprint, starts_at
                                ORDER BY received_at DESC, status DESC) AS n
      FROM alert_deliveries) AS newest
WHERE n = 1;

DROP TABLE alert_deliveries;
