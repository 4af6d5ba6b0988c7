"""The ingest flow: feeds → entries → pages → articles → matches → warehouse."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger

from flows import fanout
from flows.collect import feed_health, pages, stories
from flows.collect.articles import story_id
from flows.collect.feed_fetch import FeedFetch, TransientFeedError, fetch_feed
from flows.collect.fetch import Fetcher
from flows.collect.lifeline import follow_serve
from flows.collect.pages import Budget, Collect, Collection
from flows.config import FeedSettings, Settings, settings_for
from flows.matching.match import compile_topic
from flows.matching.mutes import match_article
from flows.run_summary import RunReport
from flows.runtime.plain_flow import flow
from flows.runtime.runlock import single_run
from warehouse import batches
from warehouse.records import Article, Entry, Signature
from warehouse.rows import ArticleRow, MatchRow, SignatureRow

# Worth a second try within the run; a timeout is not (it already cost the whole deadline).
GROUPING_WINDOW = timedelta(days=14)  # copies of a story appear within days, not months
_NO_DATE = datetime.min.replace(tzinfo=UTC)  # undated entries sort as the oldest


@flow(name="ingest")
async def ingest(
    sources: str | None = None,
    db: str | None = None,
    topics: str | None = None,
    fan_out: int = 0,
    handoff: str | None = None,
    retry_failed: bool = False,
    reports: str | None = None,
) -> dict[str, Any]:
    """One ingest run; returns its report as plain data, and rewrites reports/<topic>/matches.atom.

    fan_out > 0: the pages go to that many `collect-pages` flow runs on Prefect workers
    (flows/fanout.py), through files in `handoff` (default: beside the warehouse).
    retry_failed: feeds backing off after failures are fetched now.
    """
    follow_serve()
    settings = settings_for(sources=sources, db=db, topics=topics, reports=reports)
    if fan_out > 0:
        directory = Path(handoff) if handoff else settings.paths.data_dir / "handoff"
        collect = fanout.collect_on_workers(settings, fan_out, directory)
        return await _run(settings, collect, retry_failed=retry_failed)
    return await _run(settings, _collect_here(settings), retry_failed=retry_failed)


def _collect_here(settings: Settings) -> Collect:
    async def collect(entries: Sequence[Entry], collection: Collection) -> None:
        await pages.collect(settings, entries, collection.add, collection.budget)

    return collect


# Long by design: the flow's table of contents, one line or call per step in run order.
async def _run(
    settings: Settings, collect: Collect, *, retry_failed: bool = False
) -> dict[str, Any]:
    log = get_run_logger()
    paths = settings.paths
    with single_run(paths.data_dir / "ingest.lock"):
        budget = Budget(
            settings.extract.run_budget_seconds, settings.extract.feed_share, clock=time.monotonic
        )
        now = datetime.now(UTC)
        report = RunReport(run_id=uuid.uuid4().hex[:12], started_at=now)
        known = batches.open_warehouse(paths)
        report.quarantined.extend(known.quarantined)

        due = [
            f
            for f in settings.feeds
            if feed_health.is_due(
                known.source_states.get(f.url),
                now,
                config=f.fingerprint(settings.fetch),
                retry_failed=retry_failed,
            )
        ]
        report.skipped = [f for f in settings.feeds if f not in due]
        report.waiting = [known.source_states[f.url] for f in report.skipped]
        log.info("fetching %d feeds (%d backing off)", len(due), len(report.skipped))
        fetched = await _fetch_feeds(settings, due, known, now)
        entries, fetched = _new_entries(settings, fetched, known)
        report.add_feeds(f.outcome for f in fetched)
        log.info("feeds: %s", report.feed_line())
        log.info("%d new entries; fetching and extracting their pages", len(entries))
        collection = Collection(now=now, run_id=report.run_id, budget=budget)
        await collect(entries, collection)
        articles = _fresh_articles(settings, collection, known)
        stored, signed = _group(settings, articles, collection.signatures, known, report, now)
        matches = _score(settings, articles, now)

        batch = report.batch(
            settings,
            known,
            now,
            pages=collection.fetches,
            seen=collection.articles,
            articles=stored,
            matches=matches,
            signatures=signed,
        )
        saved = batches.save(paths, report.batch_name(), batch)
        batches.save_deferred(paths, collection.deferred)  # after the save: none is lost
        report.finish(saved, batch)
        log.info(report.summary_line())
        feeds = _match_feeds(settings, now)
        story_ids = {row.key: row.story_id for row in stored}
        announced = await _announce(settings, articles, story_ids, matches, fetched, now)
        return (
            report.as_dict()
            | {"match_feeds": feeds}
            | ({"fan_out": collection.runs} if collection.runs else {})
            | ({"channels": announced} if announced else {})
        )


def _match_feeds(settings: Settings, now: datetime) -> list[str] | str:
    """The Atom feeds of matches, rewritten from the warehouse; the run stands if they cannot be."""
    from flows.delivery.match_feed import write_match_feeds
    from warehouse.db import WarehouseError

    try:
        written = write_match_feeds(settings, now)
    except (WarehouseError, OSError) as exc:  # a feed reader waits for the next run
        get_run_logger().warning("matches.atom not written: %s", exc)
        return f"not written: {exc}"
    get_run_logger().info("matches feed: %s", ", ".join(written))
    return written


async def _announce(
    settings: Settings,
    articles: Sequence[Article],
    story_ids: dict[str, str],
    matches: Sequence[MatchRow],
    fetched: Sequence[FeedFetch],
    now: datetime,
) -> list[str]:
    """Same-day alerts and health alarms, once the batch is saved; one line per channel trouble."""
    if not settings.channels:
        return []
    from flows.delivery.notices import after_ingest

    lines = await asyncio.to_thread(
        after_ingest,
        settings,
        articles=articles,
        story_ids=story_ids,
        matches=matches,
        feeds=[f.outcome for f in fetched],
        not_failures=feed_health.NOT_FAILURES,
        now=now,
    )
    for line in lines:
        get_run_logger().warning(line)
    return lines


async def _fetch_feeds(
    settings: Settings,
    due: Sequence[FeedSettings],
    known: batches.WarehouseAtStart,
    now: datetime,
) -> list[FeedFetch]:
    # A request's deadline runs while it holds a connection slot, and so does the time the event
    # loop spends starting other feeds' task runs: started all at once, a few hundred feeds kept
    # the first requests from being sent until their deadline had passed. Feeds wait here,
    # before their task run exists, for as many slots as there are connections.
    gate = asyncio.Semaphore(settings.fetch.max_connections)

    async def one(fetcher: Fetcher, feed: FeedSettings) -> FeedFetch:
        async with gate:
            try:
                return await fetch_feed(
                    fetcher,
                    feed,
                    feed_health.validators(known.source_states.get(feed.url), now),
                    settings.fetch,
                    now,
                )
            except TransientFeedError as exc:  # the retry failed too: record it, go on
                return exc.fetch

    async with Fetcher(settings.fetch) as fetcher:
        return list(await asyncio.gather(*(one(fetcher, f) for f in due)))


def _new_entries(
    settings: Settings, fetched: Sequence[FeedFetch], known: batches.WarehouseAtStart
) -> tuple[list[Entry], list[FeedFetch]]:
    """Entries not stored yet, each once (the same story in several feeds: first feed wins),
    with those an earlier run had no time for; and the feeds, a feed over its cap of new
    entries warned."""
    first: dict[str, Entry] = {}
    for feed in fetched:
        for entry in feed.entries:
            first.setdefault(entry.key, entry)
    for entry in batches.load_deferred(settings.paths):
        first.setdefault(entry.key, entry)
    fresh = batches.unseen(settings.paths, first, known, wait_seconds=batches.LOCK_WAIT_SECONDS)
    cap = settings.fetch.max_new_entries_per_feed
    checked = []
    for feed in fetched:
        mine = [e for e in feed.entries if e.key in fresh and first[e.key] is e]
        state = known.source_states.get(feed.outcome.url)
        if len(mine) <= cap or state is None or state.last_success_at is None:
            checked.append(feed)  # a feed read for the first time brings its whole backlog
            continue
        newest = sorted(mine, key=lambda e: e.published_at or _NO_DATE, reverse=True)
        fresh.difference_update(e.key for e in newest[cap:])  # still new: a later run may take
        warning = (
            f"{len(mine)} new entries in one run, more than fetch.max_new_entries_per_feed "
            f"({cap}); took the newest {cap} (does the feed give its items new GUIDs or links "
            "on every request?)"
        )
        outcome = feed.outcome
        joined = "; ".join(w for w in (outcome.warning, warning) if w)
        problems = "; ".join(w for w in (outcome.error, warning) if w)
        # no validators kept: the next run reads the feed in full (no 304) and takes the rest
        outcome = dataclasses.replace(
            outcome, warning=joined, error=problems, etag=None, last_modified=None
        )
        checked.append(dataclasses.replace(feed, outcome=outcome))
    return [e for k, e in first.items() if k in fresh], checked


def _fresh_articles(
    settings: Settings, collection: Collection, known: batches.WarehouseAtStart
) -> list[Article]:
    """Drop articles whose key (a page's rel=canonical may change it) is stored or repeated."""
    fresh = batches.unseen(
        settings.paths,
        {a.key for _, a in collection.articles},
        known,
        wait_seconds=batches.LOCK_WAIT_SECONDS,
    )
    kept: dict[str, Article] = {}
    for _, article in collection.articles:
        if article.key in fresh:
            kept.setdefault(article.key, article)
    return list(kept.values())


def _group(
    settings: Settings,
    articles: Sequence[Article],
    signatures: dict[str, Signature | None],
    known: batches.WarehouseAtStart,
    report: RunReport,
    now: datetime,
) -> tuple[list[ArticleRow], list[SignatureRow]]:
    """The articles' rows, each with its story (copies of a recent story join it), and the
    signatures of those long enough to compare."""
    signed = [s for a in articles if (s := signatures[a.key]) is not None]
    # nothing signed, nothing to group: a run with nothing new reads no signatures (nor
    # loads numpy, which reading them takes)
    recent = (
        batches.recent_signatures(settings.paths, known, now - GROUPING_WINDOW) if signed else []
    )
    ids = stories.group(signed, recent)
    return [
        ArticleRow.of(a, story_id=ids.get(a.key, story_id(a.key)), run_id=report.run_id)
        for a in articles
    ], [SignatureRow.of(s, story_id=ids[s.key], signed_at=now) for s in signed]


def _score(settings: Settings, articles: Sequence[Article], now: datetime) -> list[MatchRow]:
    rows: list[MatchRow] = []
    if not articles:  # compiling a profile costs ~30 ms: not in a run with nothing new
        return rows
    for topic in settings.topics:
        compiled = compile_topic(topic)
        for a in articles:
            m = match_article(
                compiled,
                title=a.title,
                text=a.text,
                language=a.language,
                url=a.url or a.key,
                source=a.source,
            )
            rows.append(MatchRow.of(a.key, m, now))
    return rows
