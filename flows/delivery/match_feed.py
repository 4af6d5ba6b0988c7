"""After each ingest: reports/<topic>/matches.atom, the recent matched stories for feed readers."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flows.config import Settings
from flows.delivery import ranking
from flows.topic import Topic
from reports.atom import render_atom
from warehouse import db as wdb
from warehouse import store

FEED_DAYS = 30
FEED_MAX = 100  # stories; a reader polling hourly needs the new ones, not the archive
# Feeds date some items a little ahead (time zones given wrongly); they belong in the feed.
_AHEAD = timedelta(days=1)


def feed_file(settings: Settings, topic: Topic) -> Path:
    return settings.paths.reports / topic.id / "matches.atom"


def write_match_feeds(
    settings: Settings, now: datetime, *, wait_seconds: float = 10.0
) -> list[str]:
    """Each topic's feed from what the warehouse holds; WarehouseError if it cannot be read."""
    start, end = now - timedelta(days=FEED_DAYS), now + _AHEAD
    with wdb.read_connection(settings.paths.db, wait_seconds=wait_seconds) as con:
        found = {t.id: store.period_matches(con, t.id, start, end) for t in settings.topics}
    written = []
    for topic in settings.topics:
        stories = ranking.stories(found[topic.id], start=start, end=end, require=topic.rule.require)
        stories.sort(key=lambda s: s.published_at, reverse=True)
        base = settings.digest.report_base_url
        body = render_atom(
            topic_id=topic.id,
            topic_name=topic.name,
            stories=stories[:FEED_MAX],
            generated_at=now,
            window=f"the last {FEED_DAYS} days, at most {FEED_MAX} stories",
            self_url=f"{base}/{topic.id}/matches.atom" if base else None,
        )
        path = feed_file(settings, topic)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".atom.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)  # a reader polling mid-write sees the old feed or the new, never half
        written.append(str(path))
    return written
