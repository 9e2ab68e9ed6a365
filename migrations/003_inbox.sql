-- The inbox: every webhook event Waypost accepted, written before it is delivered as a signal,
-- so nothing is lost while Temporal is away and a re-sent event is recognised by its key.
--   pending          accepted, not delivered yet (the relay retries with backoff)
--   parked           no journey (or no account link) yet; delivered when the journey starts
--   delivered        signalled to the journey (which itself ignores duplicates by event_id)
--   rejected_closed  the journey had ended; recorded, never retried
--   ignored          a subscription or value the policy does not use; recorded for inspection
--   failed           could not be turned into a signal; recorded with the reason, not retried
CREATE TABLE inbox_events (
    id               bigserial   PRIMARY KEY,
    source           text        NOT NULL,
    event_id         text        NOT NULL,
    account_id       text,
    ref_type         text,
    ref_id           text,
    kind             text,
    payload          jsonb       NOT NULL,
    raw              jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'parked', 'delivered', 'rejected_closed', 'ignored', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (source, event_id),
    CHECK (account_id IS NOT NULL OR ref_id IS NOT NULL OR status IN ('ignored', 'failed'))
);

CREATE INDEX inbox_events_due ON inbox_events (next_attempt_at, occurred_at, id)
    WHERE status IN ('pending', 'parked');
CREATE INDEX inbox_events_account ON inbox_events (account_id, status);

-- Signed requests that could not be read (malformed JSON, schema violations), kept for a human.
CREATE TABLE inbox_rejects (
    id           bigserial   PRIMARY KEY,
    source       text        NOT NULL,
    error        text        NOT NULL,
    detail       text        NOT NULL,
    fields       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    body         bytea       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- What Waypost knows about CRM objects: a company's account; a contact's or ticket's company;
-- a contact's id and persona in the account. Written from contracts and association events.
CREATE TABLE crm_links (
    source       text        NOT NULL,
    object_type  text        NOT NULL,
    object_id    text        NOT NULL,
    account_id   text,
    company_id   text,
    contact_id   text,
    persona      text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, object_type, object_id)
);
