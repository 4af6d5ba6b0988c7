-- The digest outbox: one row per (topic, period, recipient), written before any email leaves.
-- status: pending -> sending -> sent | failed | unknown. A row still `sending` when the next run
-- starts may have been delivered (the process died between the server's 250 and our commit), so
-- it becomes `unknown` and is never resent without --force.

CREATE TABLE outbox (
    topic        VARCHAR NOT NULL,
    period       VARCHAR NOT NULL,                  -- e.g. 2026-W47
    recipient    VARCHAR NOT NULL,                  -- the address as configured
    status       VARCHAR NOT NULL
                 CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts     INTEGER NOT NULL DEFAULT 0,        -- SMTP transactions begun, across runs
    last_code    INTEGER,                           -- the server's last reply code, if any
    last_error   VARCHAR,                           -- why it is not sent (never a secret)
    message_id   VARCHAR NOT NULL,                  -- deterministic: a resend carries the same one
    subject      VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    sent_at      TIMESTAMPTZ,                       -- when the server accepted it (250)
    PRIMARY KEY (topic, period, recipient)
);
