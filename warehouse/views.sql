-- The documented views (DESIGN.md, "Warehouse views"). Columns may be added, never renamed.

CREATE OR REPLACE VIEW v_articles AS
SELECT a.url, a.title, a.source, a.published_at, a.first_seen_at, a.language, a.extraction,
       a.key, a.site_name, a.author, a.page_status, a.extract_error, a.story_id,
       length(a.text) AS text_chars
FROM articles a;

CREATE OR REPLACE VIEW v_matches AS
SELECT m.topic, a.url, a.title, a.source, a.published_at, m.score, m.entities, a.story_id,
       a.first_seen_at, a.language, m.profile_version, m.evidence, a.key
FROM matches m
JOIN articles a ON a.key = m.article_key
WHERE m.matched;

CREATE OR REPLACE VIEW v_source_health AS
SELECT s.name AS source, s.url, s.last_status, s.last_success_at, s.consecutive_failures,
       s.last_error, s.last_http_status, s.last_attempt_at, s.failing_since, s.next_attempt_at,
       s.last_warning
FROM sources s
WHERE s.active;

CREATE OR REPLACE VIEW v_digests AS
SELECT o.topic, o.period, o.recipient, o.status, o.sent_at, o.message_id,
       o.attempts, o.last_error, o.last_code, o.subject, o.created_at, o.updated_at,
       o.channel
FROM outbox o;

-- The verdict in force per (topic, article): the latest; earlier ones stay in `labels`.
CREATE OR REPLACE VIEW v_labels AS
SELECT l.topic, a.url, l.label, l.note, l.labelled_at, l.labelled_by, l.profile_version,
       l.matched_then, a.title, a.source, a.key
FROM labels l
JOIN articles a ON a.key = l.article_key
QUALIFY row_number() OVER (PARTITION BY l.topic, l.article_key ORDER BY l.labelled_at DESC) = 1;
