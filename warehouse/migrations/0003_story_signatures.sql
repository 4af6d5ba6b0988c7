-- MinHash signatures of stored articles, so that later copies of a story join its story_id.
-- Only recent signatures are read per run; texts too short to compare have none.
CREATE TABLE article_signatures (
    key        VARCHAR PRIMARY KEY,
    story_id   VARCHAR NOT NULL,
    shingles   INTEGER NOT NULL,
    hashes     UINTEGER[] NOT NULL,
    signed_at  TIMESTAMPTZ NOT NULL
);
