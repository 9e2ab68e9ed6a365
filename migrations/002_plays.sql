-- Plays and their effects. Every row is keyed by something derived from the play's workflow
-- id and step, so a retried or replayed activity never creates a second task or message.

CREATE TABLE plays (
    play_id      text        NOT NULL,             -- the Playbook workflow id
    run_id       text        NOT NULL,             -- a play id runs again for a later cause
    account_id   text        NOT NULL,
    play         text        NOT NULL,
    cause        text        NOT NULL,
    title        text        NOT NULL,
    why          text        NOT NULL,             -- one line a CSM understands
    why_record   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status       text        NOT NULL DEFAULT 'running',   -- running | completed | exited | timed_out
    outcome      text,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    PRIMARY KEY (play_id, run_id)
);
CREATE INDEX plays_account ON plays (account_id, started_at);

CREATE TABLE tasks (
    id               bigserial   PRIMARY KEY,
    idempotency_key  text        NOT NULL UNIQUE,
    play_id          text        NOT NULL,
    account_id       text        NOT NULL,
    step             text        NOT NULL,
    title            text        NOT NULL,
    assignee_role    text        NOT NULL,
    csm              text        NOT NULL,
    due_at           timestamptz NOT NULL,       -- journey time
    due_real_at      timestamptz NOT NULL,       -- real time, for `tasks --overdue`
    status           text        NOT NULL DEFAULT 'open',  -- open | done | resolved_by_exit
    escalation_of    bigint      REFERENCES tasks (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    closed_by        text
);
CREATE INDEX tasks_open ON tasks (status, csm, due_real_at);
CREATE INDEX tasks_play ON tasks (play_id);

CREATE TABLE outbox (
    id               bigserial   PRIMARY KEY,
    idempotency_key  text        NOT NULL UNIQUE,
    play_id          text        NOT NULL,
    account_id       text        NOT NULL,
    recipient        text        NOT NULL,       -- a role or persona; resolved at delivery
    subject          text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending', -- pending | sent | failed
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX outbox_pending ON outbox (status, id) WHERE status = 'pending';
