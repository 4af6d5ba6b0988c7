"""`newswatch sources --check`: each configured feed fetched once, live, and summarised."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from flows.collect.feeds import NotAFeed, parse_response
from flows.collect.fetch import Fetcher
from flows.config import FeedSettings, Settings


async def check_feeds(settings: Settings) -> list[tuple[str, str, int, str, str]]:
    """(name, status, entries, age of the newest item, detail) for every enabled feed."""
    now = datetime.now(UTC)

    async def one(fetcher: Fetcher, feed: FeedSettings) -> tuple[str, str, int, str, str]:
        got = await fetcher.fetch(feed.url, max_bytes=settings.fetch.max_feed_bytes)
        if not got.ok:
            return feed.name, got.status, 0, "", got.error or ""
        try:
            parsed = parse_response(
                got,
                source=feed.name,
                feed_url=feed.url,
                now=now,
                max_entries=settings.fetch.max_entries_per_feed,
            )
        except NotAFeed as exc:
            return feed.name, "not_a_feed", 0, "", str(exc)
        dates = [e.published_at for e in parsed.entries if e.published_at]
        newest = f"{(now - max(dates)).total_seconds() / 3600:.1f} h ago" if dates else "undated"
        status = "ill_formed" if parsed.ill_formed else "ok"
        return feed.name, status, len(parsed.entries), newest, parsed.problem or ""

    async with Fetcher(settings.fetch) as fetcher:
        return list(await asyncio.gather(*(one(fetcher, f) for f in settings.feeds)))
