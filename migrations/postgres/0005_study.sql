-- Study mode: each try at an exercise, and each learner's schedule per
-- playbook (Leitner box, when it is due, hints taken on the open try).
--
-- Learners are named by user name (unique, never renamed); playbooks by id,
-- without a foreign key so history survives a playbook being removed.

CREATE TABLE study_attempts (
    id          BIGSERIAL   PRIMARY KEY,
    user_name   TEXT        NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    playbook_id TEXT        NOT NULL,
    -- The chosen playbook id, or the free answer as typed.
    answer      TEXT        NOT NULL,
    free        BOOLEAN     NOT NULL,
    correct     BOOLEAN     NOT NULL,
    -- True when the learner marked a free answer themselves after the reveal.
    self_marked BOOLEAN     NOT NULL DEFAULT FALSE,
    hints_used  BIGINT      NOT NULL CHECK (hints_used >= 0),
    hint_count  BIGINT      NOT NULL CHECK (hint_count >= 0),
    points      BIGINT      NOT NULL CHECK (points >= 0),
    at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX study_attempts_user ON study_attempts (user_name, playbook_id, at);

CREATE TABLE study_schedule (
    user_name    TEXT        NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    playbook_id  TEXT        NOT NULL,
    leitner_box  BIGINT      NOT NULL DEFAULT 0 CHECK (leitner_box >= 0),
    -- NULL until the first try: a new exercise is due now.
    due_at       TIMESTAMPTZ,
    -- Hints revealed on the try in progress; back to 0 when it is answered.
    open_hints   BIGINT      NOT NULL DEFAULT 0 CHECK (open_hints >= 0),
    PRIMARY KEY (user_name, playbook_id)
);
