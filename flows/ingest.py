"""The ingest flow: feeds → entries → pages → articles → matches → warehouse."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from flows import fanout
from flows.collect import feed_health, pages, stories
from flows.collect.articles import story_id
from flows.collect.feeds import NotAFeed, parse_response
from flows.collect.fetch import Fetcher
from flows.collect.pages import Collected, Collector
from flows.config import FeedSettings, FetchSettings, Settings, settings_for
from flows.matching.match import compile_topic, match_text
from flows.run_summary import RunReport
from flows.runtime.runlock import single_run
from warehouse import batches
from warehouse.errors import NewswatchError
from warehouse.records import SIGNATURE_SCHEME, Article, Entry, FeedOutcome, Signature

# Worth a second try within the run; a timeout is not (it already cost the whole deadline).
TRANSIENT = frozenset({"connect_error", "read_error", "http_502", "http_503", "http_504"})
GROUPING_WINDOW = timedelta(days=14)  # copies of a story appear within days, not months


@dataclasses.dataclass(frozen=True)
class FeedFetch:
    """One feed's outcome and the entries it gave."""

    outcome: FeedOutcome
    entries: tuple[Entry, ...] = ()


class TransientFeedError(NewswatchError):
    """A failure worth one retry; carries the outcome to record if the retry fails too."""

    def __init__(self, fetch: FeedFetch) -> None:
        super().__init__(f"{fetch.outcome.status}: {fetch.outcome.error}")
        self.fetch = fetch


def _retry_transient(_task: Any, _run: TaskRun, state: State[Any]) -> bool:
    return isinstance(state.data, TransientFeedError)


# Tasks take the fetch limits, never the whole Settings: Prefect walks every parameter of every
# task call, and the topics' alias lists made that ~100 ms per feed (30 s for 300 feeds).
@task(
    name="fetch-feed",
    task_run_name="feed {feed.name}",
    retries=1,
    retry_delay_seconds=3,
    retry_condition_fn=_retry_transient,
    cache_policy=NO_CACHE,
)
async def fetch_feed(
    fetcher: Fetcher,
    feed: FeedSettings,
    validators: tuple[str | None, str | None],
    limits: FetchSettings,
    now: datetime,
) -> FeedFetch:
    """Download one feed (conditionally) and parse its entries."""
    etag, last_modified = validators
    got = await fetcher.fetch(
        feed.url,
        max_bytes=limits.max_feed_bytes,
        etag=etag,
        last_modified=last_modified,
        accept="application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    )
    outcome = FeedOutcome(
        source=feed.name,
        url=feed.url,
        status=got.status,
        http_status=got.http_status,
        error=got.error,
        etag=got.etag,
        last_modified=got.last_modified,
        elapsed_ms=got.elapsed_ms,
        retry_after=got.retry_after,
    )
    if got.status in TRANSIENT:
        raise TransientFeedError(FeedFetch(outcome))
    if not got.ok:
        return FeedFetch(outcome)
    try:
        parsed = parse_response(
            got,
            source=feed.name,
            feed_url=feed.url,
            now=now,
            max_entries=limits.max_entries_per_feed,
        )
    except NotAFeed as exc:
        return FeedFetch(dataclasses.replace(outcome, status="not_a_feed", error=str(exc)))
    problems = [parsed.problem] if parsed.problem else []
    if parsed.dropped:
        problems.append(
            f"{parsed.dropped} entries beyond the cap of "
            f"{limits.max_entries_per_feed} per run were not taken"
        )
    return FeedFetch(
        dataclasses.replace(
            outcome,
            status="ill_formed" if parsed.ill_formed else got.status,
            error="; ".join(problems) or None,
            entries=len(parsed.entries),
        ),
        parsed.entries,
    )


@flow(name="ingest")
async def ingest(
    sources: str | None = None,
    db: str | None = None,
    topics: str | None = None,
    fan_out: int = 0,
    handoff: str | None = None,
) -> dict[str, Any]:
    """One ingest run; returns its report as plain data.

    fan_out > 0: the pages go to that many `collect-pages` flow runs on Prefect workers
    (flows/fanout.py), through files in `handoff` (default: beside the warehouse).
    """
    settings = settings_for(sources=sources, db=db, topics=topics)
    if fan_out > 0:
        directory = Path(handoff) if handoff else settings.paths.data_dir / "handoff"
        return await _run(settings, fanout.collector(settings, fan_out, directory))
    return await _run(settings, _collect_here(settings))


def _collect_here(settings: Settings) -> Collector:
    async def collect(entries: Sequence[Entry], collected: Collected) -> None:
        await pages.fetch_pages(settings, entries, collected.add)

    return collect


async def _run(settings: Settings, collect: Collector) -> dict[str, Any]:
    log = get_run_logger()
    paths = settings.paths
    with single_run(paths.data_dir / "ingest.lock"):
        now = datetime.now(UTC)
        report = RunReport(run_id=uuid.uuid4().hex[:12], started_at=now)
        known = batches.open_warehouse(paths)
        report.quarantined.extend(known.quarantined)

        due = [f for f in settings.feeds if feed_health.is_due(known.states.get(f.url), now)]
        report.skipped = [f for f in settings.feeds if f not in due]
        log.info("fetching %d feeds (%d backing off)", len(due), len(report.skipped))
        fetched = await _fetch_feeds(settings, due, known, now)
        report.add_feeds(f.outcome for f in fetched)
        log.info("feeds: %s", report.feed_line())

        entries = _new_entries(settings, fetched, known)
        log.info("%d new entries; fetching and extracting their pages", len(entries))
        collected = Collected(now=now, run_id=report.run_id)
        await collect(entries, collected)
        articles = _fresh_articles(settings, collected, known)
        story_ids, signatures = _group(settings, articles, collected.signatures, known, now)
        matches = _score(settings, articles, now)

        rows = report.rows(
            settings, known, collected.pairs, collected.pages, articles, matches, now
        )
        rows["articles"] = [{**r, "story_id": story_ids[r["key"]]} for r in rows["articles"]]
        rows["article_signatures"] = signatures
        saved = batches.save(paths, report.batch_name(), rows)
        report.finish(saved, articles, matches)
        log.info(report.summary_line())
        return report.as_dict() | ({"fan_out": collected.handed} if collected.handed else {})


async def _fetch_feeds(
    settings: Settings,
    due: Sequence[FeedSettings],
    known: batches.Known,
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
                    feed_health.validators(known.states.get(feed.url), now),
                    settings.fetch,
                    now,
                )
            except TransientFeedError as exc:  # the retry failed too: record it, go on
                return exc.fetch

    async with Fetcher(settings.fetch) as fetcher:
        return list(await asyncio.gather(*(one(fetcher, f) for f in due)))


def _new_entries(
    settings: Settings, fetched: Sequence[FeedFetch], known: batches.Known
) -> list[Entry]:
    """Entries not stored yet, each once (the same story in several feeds: first feed wins)."""
    first: dict[str, Entry] = {}
    for feed in fetched:
        for entry in feed.entries:
            first.setdefault(entry.key, entry)
    fresh = batches.unseen(settings.paths, first, known, wait_seconds=batches.LOCK_WAIT_SECONDS)
    return [e for k, e in first.items() if k in fresh]


def _fresh_articles(
    settings: Settings, collected: Collected, known: batches.Known
) -> list[Article]:
    """Drop articles whose key (a page's rel=canonical may change it) is stored or repeated."""
    fresh = batches.unseen(
        settings.paths,
        {a.key for _, a in collected.pairs},
        known,
        wait_seconds=batches.LOCK_WAIT_SECONDS,
    )
    kept: dict[str, Article] = {}
    for _, article in collected.pairs:
        if article.key in fresh:
            kept.setdefault(article.key, article)
    return list(kept.values())


def _group(
    settings: Settings,
    articles: Sequence[Article],
    signatures: dict[str, Signature | None],
    known: batches.Known,
    now: datetime,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Story ids (copies of a recent story join it) and the new articles' signatures."""
    recent = batches.recent_signatures(settings.paths, known, now - GROUPING_WINDOW)
    signed = [s for a in articles if (s := signatures[a.key]) is not None]
    ids = stories.group(signed, recent)
    rows = [
        {
            "key": s.key,
            "story_id": ids[s.key],
            "shingles": s.shingles,
            "hashes": list(s.hashes),
            "scheme": SIGNATURE_SCHEME,
            "signed_at": now,
        }
        for s in signed
    ]
    return {a.key: ids.get(a.key, story_id(a.key)) for a in articles}, rows


def _score(settings: Settings, articles: Sequence[Article], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for topic in settings.topics:
        compiled = compile_topic(topic)
        for a in articles:
            m = match_text(compiled, title=a.title, text=a.text, language=a.language)
            rows.append(
                {
                    "topic": m.topic,
                    "article_key": a.key,
                    "score": m.score,
                    "matched": m.matched,
                    "entities": list(m.entities),
                    "evidence": m.evidence,
                    "profile_version": m.profile_version,
                    "scored_at": now,
                }
            )
    return rows
