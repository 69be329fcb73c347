-- Reports that something cites and retention must leave whole: a team
-- playbook's `[[example]] report = "<id>"` (holder `playbook:<id>`) or a
-- postmortem's `reports = [...]` (holder `postmortem:<id>`). Derived from
-- those texts on every save and again at start. No foreign key: a text may
-- cite a report this store has not received (yet).

CREATE TABLE report_pins (
    report_id UUID NOT NULL,
    holder    TEXT NOT NULL,
    PRIMARY KEY (report_id, holder)
);

-- Replacing one holder's pins on save.
CREATE INDEX report_pins_holder ON report_pins (holder);
