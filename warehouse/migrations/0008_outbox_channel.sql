-- The outbox key gains the channel: one row per (topic, period, channel, recipient). Rows written
-- before channels existed were emails, so they keep working as channel 'email'. DuckDB cannot
-- change a primary key in place, so the table is rebuilt (views are refreshed after migrations).

CREATE TABLE outbox_channels (
    topic        VARCHAR NOT NULL,
    period       VARCHAR NOT NULL,                  -- e.g. 2026-W47, story:<id>, feed-down:…
    channel      VARCHAR NOT NULL DEFAULT 'email',  -- 'email', or a channel's name in sources.yaml
    recipient    VARCHAR NOT NULL,                  -- an address, or a chat URL's scheme and host
    status       VARCHAR NOT NULL
                 CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_code    INTEGER,
    last_error   VARCHAR,
    message_id   VARCHAR NOT NULL,
    subject      VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    sent_at      TIMESTAMPTZ,
    PRIMARY KEY (topic, period, channel, recipient)
);

INSERT INTO outbox_channels (topic, period, channel, recipient, status, attempts, last_code,
                             last_error, message_id, subject, created_at, updated_at, sent_at)
SELECT topic, period, 'email', recipient, status, attempts, last_code, last_error, message_id,
       subject, created_at, updated_at, sent_at
FROM outbox;

DROP VIEW IF EXISTS v_digests;
DROP TABLE outbox;
ALTER TABLE outbox_channels RENAME TO outbox;
