-- Analysts' verdicts on stored articles, per topic. Append-only: a new verdict on the same
-- (topic, article) supersedes the earlier one in v_labels, and the earlier one stays here.
-- Rescoring rewrites matches and never touches this table.
CREATE TABLE labels (
    topic            VARCHAR NOT NULL,
    article_key      VARCHAR NOT NULL,             -- articles.key of the labelled article
    label            VARCHAR NOT NULL CHECK (label IN ('relevant', 'not_relevant')),
    note             VARCHAR,
    labelled_by      VARCHAR NOT NULL,
    labelled_at      TIMESTAMPTZ NOT NULL,
    profile_version  VARCHAR NOT NULL,             -- the topic profile in force at the time
    matched_then     BOOLEAN,                      -- the stored verdict then (NULL: not scored)
    PRIMARY KEY (topic, article_key, labelled_at)
);
