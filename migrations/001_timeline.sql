-- The journey's timeline: every milestone, trigger and play step a CSM may want to see.
-- idempotency_key is derived from workflow data (journey run chain, kind, subject), so an
-- activity retried or replayed after a crash writes its row once.
CREATE TABLE timeline_events (
    id               bigserial PRIMARY KEY,
    idempotency_key  text        NOT NULL UNIQUE,
    account_id       text        NOT NULL,
    workflow_id      text        NOT NULL,
    kind             text        NOT NULL,
    subject          text,
    summary          text        NOT NULL,
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX timeline_events_account_time ON timeline_events (account_id, occurred_at, id);
