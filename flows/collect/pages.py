"""Collecting: the article pages of a run's new entries, each downloaded, then extracted.

One word per idea, here and in the flows that use this module:

- *collect*: fetch and extract the pages of entries. `collect` does it on this machine; the
  fan-out (flows/fanout.py) does it in `collect-pages` flow runs on Prefect workers.
- a `CollectedPage`: one entry with its page's fetch result (body dropped) and extraction.
- a `Collection`: a run's collected pages made into articles, as they arrive.
- a `Collect`: a way of filling a run's Collection from its new entries (here, or fanned out).

Prefect sees the pages as tasks of a batch (100 pages) each; within a batch, a page goes to
the extraction workers as soon as it arrives, so downloading and extracting overlap throughout.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from flows.collect import stories
from flows.collect.articles import build_article, needs_page_metadata, story_id
from flows.collect.fetch import Fetcher
from flows.collect.workers import ExtractionPool
from flows.config import FetchSettings, Settings
from warehouse.records import Article, Entry, Extracted, FetchResult, Signature

CollectedPage = tuple[Entry, FetchResult | None, Extracted | None]  # the body dropped
IN_FLIGHT_BATCHES = 3  # page batches started at once: the next one's pages queue behind these
DEFERRED = "deferred"  # a page not started: the run's time (or its feed's share) was spent


class Budget:
    """The run's page time: no page starts past the deadline, or once its feed used its share."""

    def __init__(self, seconds: float, feed_share: float, *, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.deadline = clock() + seconds
        self.feed_seconds = seconds * feed_share
        self.spent: dict[str, float] = {}  # by feed: the pages' times added up

    OUT = "the run's time budget (extract.run_budget_seconds) was spent"

    def left(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def refuses(self, entry: Entry) -> str | None:
        """Why this entry's page must wait for the next run, if it must."""
        if self.clock() >= self.deadline:
            return self.OUT
        if self.spent.get(entry.feed_url, 0.0) >= self.feed_seconds:
            return (
                f"{entry.source}'s share of the run's time (extract.feed_share, "
                f"{self.feed_seconds:g} s) was spent"
            )
        return None

    def charge(self, entry: Entry, seconds: float) -> None:
        self.spent[entry.feed_url] = self.spent.get(entry.feed_url, 0.0) + seconds


@task(name="pages", task_run_name="pages {first}–{last}", cache_policy=NO_CACHE)
async def fetch_and_extract(
    fetcher: Fetcher,
    pool: ExtractionPool,
    entries: Sequence[Entry],
    limits: FetchSettings,
    first: int,
    last: int,
    in_flight: asyncio.Semaphore,
    budget: Budget | None = None,
) -> list[CollectedPage]:
    """Download a batch of article pages, each extracted in a worker as soon as it arrives."""

    async def one(entry: Entry) -> CollectedPage:
        if not entry.link:
            return entry, None, None
        async with in_flight:  # bounds the pages held in memory, fetched but not extracted
            if budget is None:
                page = await fetcher.fetch(
                    entry.link,
                    max_bytes=limits.max_page_bytes,
                    accept="text/html, application/xhtml+xml;q=0.9, */*;q=0.5",
                )
            else:
                if (why := budget.refuses(entry)) is not None:
                    return entry, FetchResult(url=entry.link, status=DEFERRED, error=why), None
                started = budget.clock()
                try:  # waiting for a connection counts: the budget bounds the run's wall time
                    page = await asyncio.wait_for(
                        fetcher.fetch(
                            entry.link,
                            max_bytes=limits.max_page_bytes,
                            accept="text/html, application/xhtml+xml;q=0.9, */*;q=0.5",
                        ),
                        timeout=budget.left(),
                    )
                except TimeoutError:
                    page = FetchResult(url=entry.link, status=DEFERRED, error=budget.OUT)
                budget.charge(entry, budget.clock() - started)
                if page.ok and (why := budget.refuses(entry)) is not None:
                    page = FetchResult(url=entry.link, status=DEFERRED, error=why)  # no time
                if page.status == DEFERRED:
                    return entry, page, None
            extracted = (
                await pool.extract(
                    (entry.key, page.body, page.final_url, needs_page_metadata(entry))
                )
                if page.ok
                else None
            )
        return entry, dataclasses.replace(page, body=b""), extracted

    return list(await asyncio.gather(*(one(e) for e in entries)))


async def collect(
    settings: Settings,
    entries: Sequence[Entry],
    on_batch: Callable[[list[CollectedPage]], None],
    budget: Budget | None = None,
) -> None:
    """Fetch and extract every entry's page here; pass each finished batch to `on_batch`."""
    size = settings.extract.batch_size
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    if not batches:
        return
    log = get_run_logger()
    gate = asyncio.Semaphore(IN_FLIGHT_BATCHES)
    done = 0

    async with Fetcher(settings.fetch) as fetcher:
        with ExtractionPool(settings.extract, close_in_background=True) as pool:
            # enough pages in flight to keep every connection and the workers' queue busy
            in_flight = asyncio.Semaphore(settings.fetch.max_connections + 2 * pool.window)

            async def one(i: int, batch: Sequence[Entry]) -> None:
                nonlocal done
                async with gate:
                    got = await fetch_and_extract(
                        fetcher,
                        pool,
                        # quoted: Prefect would otherwise walk the batch's entries three times
                        # looking for futures to wait on (~20 ms of CPU per batch of 100)
                        quote(batch),  # unquoted before the call
                        settings.fetch,
                        i * size + 1,
                        i * size + len(batch),
                        in_flight,
                        budget,
                    )
                on_batch(got)
                done += len(got)
                log.info("pages: %d/%d", done, len(entries))

            await asyncio.gather(*(one(i, b) for i, b in enumerate(batches)))


@dataclasses.dataclass
class Collection:
    """A run's collected pages made into articles, with what its bookkeeping needs of them."""

    now: datetime
    run_id: str
    # each article with the key of the entry it came from
    articles: list[tuple[str, Article]] = dataclasses.field(default_factory=list)
    fetches: list[tuple[Entry, FetchResult]] = dataclasses.field(default_factory=list)  # the log's
    # signed while later batches extract; None: too short to compare
    signatures: dict[str, Signature | None] = dataclasses.field(default_factory=dict)
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # fan-out's collect runs
    deferred: list[Entry] = dataclasses.field(default_factory=list)  # for the next run: not seen
    budget: Budget | None = None  # the run's page time; None: unbounded (fan-out workers)

    def add(self, pages: Sequence[CollectedPage]) -> None:
        """Articles from a batch of collected pages."""
        for entry, page, extracted in pages:
            if page is not None and page.status == DEFERRED:
                self.deferred.append(entry)
                self.fetches.append((entry, page))  # logged, but no article: the key stays new
                continue
            article = build_article(entry, page, extracted, now=self.now)
            self.articles.append((entry.key, article))
            if article.key not in self.signatures:  # the first copy is kept
                self.signatures[article.key] = _signature(article, extracted)
            if page is not None:
                self.fetches.append((entry, page))


def _signature(article: Article, extracted: Extracted | None) -> Signature | None:
    """The article's signature: its worker's MinHash of the extracted text, or signed here."""
    if article.extraction == "trafilatura" and extracted is not None and extracted.signed:
        if extracted.minhash is None:
            return None
        shingles, hashes = extracted.minhash
        return Signature(article.key, story_id(article.key), shingles, hashes)
    return stories.sign(article.key, story_id(article.key), article.text)


# How a run collects the pages of its new entries into its Collection: here, or on workers.
Collect = Callable[[Sequence[Entry], Collection], Awaitable[None]]
