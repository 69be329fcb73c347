-- Alert name -> playbook, for the stable `/r/{alertname}` links teams put
-- in their alerts' `runbook_url`. Alert names without a row go to the top
-- search hit for the name.

CREATE TABLE alert_routes (
    alertname TEXT NOT NULL PRIMARY KEY,
    playbook  TEXT NOT NULL,
    set_by    TEXT NOT NULL,
    set_at    TEXT NOT NULL
) STRICT;
