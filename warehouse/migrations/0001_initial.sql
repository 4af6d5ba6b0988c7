-- Sources, the fetch log, runs, articles (with every identity they were seen under) and matches.
-- Timestamps are UTC (TIMESTAMPTZ). Long text is zstd-compressed: files 35-50 % smaller.

CREATE TABLE sources (
    url                    VARCHAR PRIMARY KEY,     -- the feed address in sources.yaml
    name                   VARCHAR NOT NULL,
    active                 BOOLEAN NOT NULL,        -- still listed in sources.yaml
    etag                   VARCHAR,
    last_modified          VARCHAR,
    last_status            VARCHAR,                 -- ok, not_modified, ill_formed, or a failure class
    last_http_status       INTEGER,
    last_error             VARCHAR,
    last_attempt_at        TIMESTAMPTZ,
    last_success_at        TIMESTAMPTZ,
    last_unconditional_at  TIMESTAMPTZ,             -- last fetch made without validators
    consecutive_failures   INTEGER NOT NULL,
    failing_since          TIMESTAMPTZ,
    next_attempt_at        TIMESTAMPTZ              -- backoff after failures or a long Retry-After
);

CREATE TABLE runs (
    run_id          VARCHAR PRIMARY KEY,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL,
    status          VARCHAR NOT NULL,               -- ok, degraded (every feed failed on the network)
    feeds_total     INTEGER NOT NULL,
    feeds_ok        INTEGER NOT NULL,
    feeds_failed    INTEGER NOT NULL,
    feeds_skipped   INTEGER NOT NULL,               -- backing off
    entries_new     INTEGER NOT NULL,
    pages_fetched   INTEGER NOT NULL
);

CREATE TABLE fetch_log (
    run_id       VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,                  -- feed or page
    url          VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL,
    status       VARCHAR NOT NULL,
    http_status  INTEGER,
    error        VARCHAR,
    bytes        BIGINT,
    elapsed_ms   INTEGER,
    PRIMARY KEY (run_id, kind, url)
);

CREATE TABLE articles (
    key            VARCHAR PRIMARY KEY,             -- canonical URL, else guid:…, else sha256:…
    url            VARCHAR,                         -- canonical URL (NULL when the item had no link)
    source         VARCHAR NOT NULL,
    feed_url       VARCHAR NOT NULL,
    guid           VARCHAR,
    title          VARCHAR NOT NULL,
    author         VARCHAR,
    published_at   TIMESTAMPTZ,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    language       VARCHAR,
    site_name      VARCHAR,
    summary        VARCHAR USING COMPRESSION zstd,
    text           VARCHAR USING COMPRESSION zstd,
    extraction     VARCHAR NOT NULL,                -- trafilatura, summary or title
    page_status    VARCHAR NOT NULL,
    extract_error  VARCHAR,
    content_hash   VARCHAR NOT NULL,
    story_id       VARCHAR NOT NULL,
    run_id         VARCHAR NOT NULL
);

-- Every identity an article was seen under (feed link, rel=canonical): dedup is a key lookup.
CREATE TABLE article_keys (
    key          VARCHAR PRIMARY KEY,
    article_key  VARCHAR NOT NULL
);

CREATE TABLE matches (
    topic            VARCHAR NOT NULL,
    article_key      VARCHAR NOT NULL,
    score            DOUBLE NOT NULL,
    matched          BOOLEAN NOT NULL,
    entities         VARCHAR[] NOT NULL,
    evidence         JSON NOT NULL,
    profile_version  VARCHAR NOT NULL,
    scored_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, article_key)
);
